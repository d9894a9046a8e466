#!/usr/bin/env bash
# From nothing to a metrics table on CPU: set up .venv, prepare the offline demo data, test the untrained
# model (step 0), train the demo SeeClearNet, test it, and compare with bicubic upsampling.
# Extra arguments go to the training command (e.g. --force_yml train:total_iter=200).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
[ -f datasets/demo/manifest.json ] || $PY scripts/prepare_demo_data.py
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

echo "== step 0: the untrained demo model =="
$PY -m seeclear_arch.test -opt options/test_seeclear_demo.yml \
    --force_yml name=SeeClear_demo_step0 path:pretrain_network_g=~
echo "== training (options/train_seeclear_demo.yml) =="
$PY -m seeclear_arch.train -opt options/train_seeclear_demo.yml "$@"
echo "== testing the trained model (options/test_seeclear_demo.yml) =="
$PY -m seeclear_arch.test -opt options/test_seeclear_demo.yml

echo "== held-out demo sequences, RGB PSNR (dB) / SSIM =="
$PY scripts/compare_results.py --gt datasets/demo/test/GT --lq datasets/demo/test/BIx4 \
    --run step0=results/SeeClear_demo_step0/visualization/demo_test \
    --run trained=results/SeeClear_demo_test/visualization/demo_test
