#!/usr/bin/env bash
# GPU numbers of the paper configuration (options/train_seeclear_reds.yml, 240M parameters with a Mask2Former Swin-T
# distiller built with random weights, so nothing is downloaded):
#   1. training it/s and peak memory (torch.cuda.max_memory_allocated) at 2 items x 2 clips = 4 clips x 5 frames x
#      256^2 GT per GPU, for fp32, bf16, and bf16 with activation checkpointing;
#   2. sampling time per 512^2 frame from 128^2 LR at 15 steps (paper Table 5: 1.142 s), fp32 and bf16, eager and
#      compiled (--compile, val.compile);
#   3. peak memory of sampling a 1080p output (LR 270x480), bf16 and fp32.
# Usage: bash benchmarks/benchmark_gpu.sh [OUT_DIR]   (default results/benchmark_gpu; one log per run, then a summary)
# Each run is a separate process, so each peak is its own. A run that fails (e.g. out of memory) is reported as
# FAILED in the summary and the next one still runs.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${1:-results/benchmark_gpu}
OPT=options/train_seeclear_reds.yml
mkdir -p "$OUT"

run() {  # run NAME COMMAND...: log to $OUT/NAME.log
  local name=$1; shift
  echo "== $name: $*"
  if "$@" > "$OUT/$name.log" 2>&1; then echo "   ok"; else echo "   FAILED (exit $?), see $OUT/$name.log"; fi
}

TRAIN=(-m benchmarks.benchmark_training -opt "$OPT" --device cuda --random-distiller --iters 10 --warmup 3)
run train_fp32 "$PY" "${TRAIN[@]}" --precision fp32 --json "$OUT/train_fp32.json"
run train_bf16 "$PY" "${TRAIN[@]}" --precision bf16 --json "$OUT/train_bf16.json"
run train_bf16_ckpt "$PY" "${TRAIN[@]}" --precision bf16 --grad-checkpoint --json "$OUT/train_bf16_ckpt.json"

SAMPLE=(-m benchmarks.benchmark_sampling -opt "$OPT" --device cuda --random-distiller --clip 5 --steps 15 --repeats 3)
run sample512_fp32 "$PY" "${SAMPLE[@]}" --lr-size 128x128 --dtype float32
run sample512_bf16 "$PY" "${SAMPLE[@]}" --lr-size 128x128 --dtype bfloat16
run sample512_bf16_compiled "$PY" "${SAMPLE[@]}" --lr-size 128x128 --dtype bfloat16 --compile
run sample512_fp32_compiled "$PY" "${SAMPLE[@]}" --lr-size 128x128 --dtype float32 --compile
run sample1080p_bf16 "$PY" "${SAMPLE[@]}" --lr-size 270x480 --dtype bfloat16 --repeats 1
run sample1080p_fp32 "$PY" "${SAMPLE[@]}" --lr-size 270x480 --dtype float32 --repeats 1

echo "== summary ($OUT)"
for log in "$OUT"/*.log; do
  echo "-- $(basename "$log" .log)"
  grep -E '^(precision|grad_checkpoint|batch|it/s|s/it median|peak MiB|dtype|compile|lr |hr |s/clip|s/frame|s/step|GFLOP/s|of matmul) ' "$log" \
    || tail -n 3 "$log"
done
