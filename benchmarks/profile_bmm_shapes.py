"""Which batched matmuls cost the most in one sampled clip, by input shape (docs/performance.md, "where bf16 time
goes"): torch.profiler's ``aten::bmm`` events of one clip grouped by their input shapes, after one warm-up clip.

    OMP_NUM_THREADS=1 python -m benchmarks.profile_bmm_shapes -opt options/train_seeclear_reds.yml --lr-size 32x32 \
        --clip 3 --steps 1 --dtype bfloat16
"""
import collections

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.benchmark_sampling import benchmark_options, clip_parser, parse_size
from seeclear_arch.inference.video import build_inference_model
from seeclear_arch.sampling.engine import DTYPES, sample_clip


def main() -> None:
    parser = clip_parser(__doc__.split('\n\n')[0], lr_size='32x32', clip=3, steps=1)
    parser.add_argument('--dtype', choices=tuple(DTYPES), default='bfloat16')
    parser.add_argument('--top', type=int, default=12)
    args = parser.parse_args()
    args.random_distiller, args.device, args.compile, args.no_keep_freed_memory = True, 'cpu', False, False
    model = build_inference_model(benchmark_options(args))
    net = model.inference_net()
    h, w = parse_size(args.lr_size)
    lq = torch.rand(1, args.clip, 3, h, w, generator=torch.Generator().manual_seed(0))
    y = model.condition(lq)
    with torch.no_grad():
        sample_clip(net, model.diffusion, lq, y, torch.Generator().manual_seed(0), args.steps, dtype=args.dtype)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            sample_clip(net, model.diffusion, lq, y, torch.Generator().manual_seed(0), args.steps, dtype=args.dtype)
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=args.top))
    shapes = collections.defaultdict(lambda: [0, 0.0])
    for event in prof.events():
        if event.name == 'aten::bmm':
            shapes[str(event.input_shapes)][0] += 1
            shapes[str(event.input_shapes)][1] += event.cpu_time_total / 1e3
    print('aten::bmm by input shapes (total ms, calls, shapes):')
    for shape, (calls, ms) in sorted(shapes.items(), key=lambda kv: -kv[1][1])[:args.top]:
        print(f'{ms:9.0f} ms {calls:5d}  {shape}')


if __name__ == '__main__':
    main()
