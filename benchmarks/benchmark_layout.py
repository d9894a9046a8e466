"""Time the U-Net's per-layer operations on NCHW against channels-last features, on this machine.

Usage:
    python -m benchmarks.benchmark_layout [--shape 5x112x128x128] [--repeats 7] [--threads 2]

For one (N, C, H, W) feature shape, prints the median milliseconds of: a 3x3 convolution C -> C, a 1x1 convolution
C -> 2C, a depthwise 3x3 convolution, GroupNorm, the permute-and-copy LayerNorm2d needs on NCHW features (free on
channels-last ones) and a residual add, each on contiguous NCHW and on channels-last input (``SeeClearNet``'s
``channels_last`` option). float32, random data, no gradients. docs/performance.md, "Sampling speed", quotes it.
"""
import argparse
import statistics
import time
from typing import Callable, List

import torch
from torch import nn


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: oneDNN builds its kernel for the shape
    times: List[float] = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shape', default='5x112x128x128', help='N x C x H x W of the features')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    args = parser.parse_args()
    try:
        n, c, h, w = (int(v) for v in args.shape.lower().split('x'))
    except ValueError:
        raise SystemExit(f'error: --shape must look like 5x112x128x128, got {args.shape!r}') from None
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nchw = torch.randn(n, c, h, w)
    layouts = {'NCHW': nchw, 'channels-last': nchw.contiguous(memory_format=torch.channels_last)}
    ops = {
        'conv 3x3': nn.Conv2d(c, c, 3, 1, 1),
        'conv 1x1 to 2C': nn.Conv2d(c, 2 * c, 1),
        'depthwise 3x3': nn.Conv2d(c, c, 3, 1, 1, groups=c),
        'GroupNorm': nn.GroupNorm(max(g for g in range(1, 33) if c % g == 0), c),
        'LayerNorm2d permute copy': lambda x: x.permute(0, 2, 3, 1).contiguous(),
        'residual add': lambda x: x + x,
    }
    print(f'shape {n}x{c}x{h}x{w}, float32, {torch.get_num_threads()} threads, median of {args.repeats} (ms)')
    print(f'{"operation":<26} {"NCHW":>10} {"channels-last":>14}')
    with torch.no_grad():
        for name, op in ops.items():
            times = [median_ms(lambda x=x, op=op: op(x), args.repeats) for x in layouts.values()]
            print(f'{name:<26} {times[0]:>10.1f} {times[1]:>14.1f}')


if __name__ == '__main__':
    main()
