"""Which operators bf16 speeds up, and which bound it (docs/performance.md, "where bf16 time goes").

    OMP_NUM_THREADS=1 python -m benchmarks.profile_dtypes -opt options/train_seeclear_reds.yml --lr-size 64x64 \
        --clip 5 --part step   # or --part distiller

Builds the model as ``benchmark_sampling`` does (random weights, random-weight distiller) and runs one part of a clip
in float32 and in bf16 autocast in the same process: ``step`` (one network call at ``t = T``) or ``distiller`` (the
Semantic Distiller on the clip's frames; ``benchmark_sampling.part_runners``). For each, after ``--warmup`` runs,
torch.profiler records one more run; the table lists every operator above ``--min-ms`` of bf16 self CPU time with
its float32 time, the speed-up and its share of the bf16 run. The matrix operators also get their GFLOP/s
(``FlopCounterMode``'s count of that kind over the self time of its kernels) and that rate as a fraction of a
same-run 2048² matmul in the same dtype.
"""
import collections
from typing import Callable, Dict, Tuple

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.benchmark_sampling import (
    benchmark_options,
    clip_parser,
    flop_counter,
    matmul_gflops,
    parse_size,
    part_runners,
)
from seeclear_arch.inference.video import build_inference_model
from seeclear_arch.sampling.engine import DTYPES, clip_cast_scope, network_autocast

# each kind of matrix work: the profiler's kernels that do it (self time) and FlopCounterMode's ops that count it
MATRIX_KINDS = {
    'convolution': (('aten::mkldnn_convolution', 'aten::_convolution', 'aten::slow_conv'), ('convolution', )),
    'linear (addmm, mm)': (('aten::addmm', 'aten::mm'), ('addmm', 'mm')),
    'batched matmul (bmm, baddbmm)': (('aten::bmm', 'aten::baddbmm'), ('bmm', 'baddbmm')),
    'attention (SDPA)': (('aten::_scaled_dot_product_flash_attention_for_cpu', ),
                         ('_scaled_dot_product_flash_attention_for_cpu', )),
}
ALL_MATRIX = tuple(k for kernels, _ in MATRIX_KINDS.values() for k in kernels)


def profile_part(net: torch.nn.Module, run: Callable[[], object], warmup: int) -> Tuple[Dict[str, float],
                                                                                     Dict[str, int]]:
    """Self CPU ms per operator of one run, and FlopCounterMode's FLOPs per op name."""
    for _ in range(warmup):
        run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    self_ms = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
    counter = flop_counter(net, run)
    flops = collections.Counter()
    for op, count in counter.get_flop_counts().get('Global', {}).items():
        flops[str(op).split('.')[-1]] += count
    return self_ms, flops


def main() -> None:
    parser = clip_parser(__doc__.split('\n\n')[0], lr_size='64x64', clip=5)
    parser.add_argument('--part', choices=('step', 'distiller'), default='step')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--min-ms', type=float, default=5.0, help='list operators above this bf16 self time')
    args = parser.parse_args()
    args.random_distiller, args.device, args.compile, args.no_keep_freed_memory = True, 'cpu', False, False
    model = build_inference_model(benchmark_options(args))
    h, w = parse_size(args.lr_size)
    lq = torch.rand(1, args.clip, 3, h, w, generator=torch.Generator().manual_seed(0))
    results = {}
    with torch.no_grad():
        parts = part_runners(model, lq)
        if args.part not in parts:
            raise SystemExit(f'error: --part {args.part}, but {type(model.inference_net()).__name__} has no distiller')
        run = parts[args.part]
        for dtype in ('float32', 'bfloat16'):
            with clip_cast_scope(lq.device, dtype), network_autocast(lq.device, dtype):
                results[dtype] = profile_part(model.inference_net(), run, args.warmup)
            results[dtype] += (matmul_gflops(2048, DTYPES[dtype], lq.device), )
    (ms32, _, mm32), (ms16, flops, mm16) = results['float32'], results['bfloat16']
    total32, total16 = sum(ms32.values()), sum(ms16.values())
    print(f'{args.part}: float32 {total32:.0f} ms, bfloat16 {total16:.0f} ms of self CPU time '
          f'({total32 / total16:.2f}x); 2048² matmul {mm32:.0f} / {mm16:.0f} GFLOP/s')
    print(f'{"operator":<52} {"fp32 ms":>9} {"bf16 ms":>9} {"speed-up":>8} {"of bf16":>8}')
    for key in sorted(ms16, key=lambda k: -ms16[k]):
        if ms16[key] >= args.min_ms:
            print(f'{key:<52} {ms32.get(key, 0.0):9.1f} {ms16[key]:9.1f} {ms32.get(key, 0.0) / ms16[key]:7.2f}x '
                  f'{ms16[key] / total16:8.1%}')
    print(f'\n{"matrix work (bf16)":<32} {"GFLOP":>8} {"ms":>8} {"GFLOP/s":>8} {"of matmul":>9} {"fp32 ms":>8}')
    matrix_gflop = matrix_ms = 0.0
    for kind, (kernels, flop_ops) in MATRIX_KINDS.items():
        gflop = sum(flops[op] for op in flop_ops) / 1e9
        t16 = sum(v for k, v in ms16.items() if k.startswith(kernels))
        t32 = sum(v for k, v in ms32.items() if k.startswith(kernels))
        matrix_gflop, matrix_ms = matrix_gflop + gflop, matrix_ms + t16
        if gflop and t16:
            print(f'{kind:<32} {gflop:8.1f} {t16:8.1f} {gflop / t16 * 1e3:8.1f} {gflop / t16 * 1e3 / mm16:9.3g} '
                  f'{t32:8.1f}')
    # what the other kernels allow: the matrix work at the full same-run matmul rate, everything else as measured
    other16 = total16 - matrix_ms
    other32 = total32 - sum(v for k, v in ms32.items() if k.startswith(ALL_MATRIX))
    bound = other16 + matrix_gflop / mm16 * 1e3
    print(f'\nbound: the matrix work above at {mm16:.0f} GFLOP/s and every other kernel as measured: {bound:.0f} ms, '
          f'{total32 / bound:.2f}x float32, {matrix_gflop / bound * 1e3 / mm16:.3f} of matmul (other kernels '
          f'{other16:.0f} ms in bf16, {other32:.0f} ms in float32)')


if __name__ == '__main__':
    main()
