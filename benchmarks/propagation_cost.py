"""Seconds per frame of the flow-guided propagation (``val.propagation``) at a few output sizes.

Usage:
    python -m benchmarks.propagation_cost [--sizes 128x256,720x1280,1080x1920] [--repeats 3] [--flow farneback]

Each size fuses a pair of smooth random frames ``repeats`` times (two flows, the checks and the blend) and prints
the median; the sampler's own time per frame is in docs/performance.md.
"""
import argparse
import statistics
import time
from typing import List, Tuple

import torch
import torch.nn.functional as F

from seeclear_arch.sampling.propagation import FlowPropagation


def sizes(text: str) -> List[Tuple[int, int]]:
    return [tuple(int(v) for v in s.split('x')) for s in text.split(',')]


def frames(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode='bicubic').clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=sizes, default=sizes('128x256,720x1280,1080x1920'))
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--flow', default='farneback')
    args = parser.parse_args()
    print(f'threads: {torch.get_num_threads()}')
    for h, w in args.sizes:
        prop = FlowPropagation(0.3, flow=args.flow)
        first, second = frames(h, w, 0), frames(h, w, 1)
        _, state = prop.fuse(first, first, None)
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            prop.fuse(second, second, state)
            times.append(time.perf_counter() - began)
        print(f'{h}x{w}: {statistics.median(times):.3f} s/frame (median of {args.repeats})')


if __name__ == '__main__':
    main()
