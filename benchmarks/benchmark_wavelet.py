"""Time one-level 2D Haar DWT + inverse: this repo's Haar (depthwise conv), a view/einsum Haar and ptwt.

Usage: python -m benchmarks.benchmark_wavelet [--shape 5 64 128 128] [--runs 20] [--device cpu]
"""
import argparse
import statistics
import time

import ptwt
import torch

from seeclear_arch.archs.wavelet import haar_dwt, haar_idwt


def einsum_pair(x: torch.Tensor) -> torch.Tensor:
    """View/permute the 2x2 blocks onto a band axis and mix them with the 4x4 orthonormal Haar matrix."""
    b, c, h, w = x.shape
    m = torch.tensor([[1, 1, 1, 1], [1, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]], dtype=x.dtype) / 2
    blocks = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, c, 4, h // 2, w // 2)
    bands = torch.einsum('ij,bcjhw->bcihw', m, blocks)
    blocks = torch.einsum('ij,bcihw->bcjhw', m, bands)  # m is symmetric and orthonormal
    return blocks.reshape(b, c, 2, 2, h // 2, w // 2).permute(0, 1, 4, 2, 5, 3).reshape(b, c, h, w)


def repo_pair(x: torch.Tensor) -> torch.Tensor:
    return haar_idwt(*haar_dwt(x))


def ptwt_pair(x: torch.Tensor) -> torch.Tensor:
    return ptwt.waverec2(ptwt.wavedec2(x, 'haar', mode='zero', level=1), 'haar')


def timeit(fn, x: torch.Tensor, runs: int) -> float:
    fn(x)
    times = []
    for _ in range(runs):
        if x.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(x)
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--shape', type=int, nargs=4, default=[5, 64, 128, 128])
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    torch.set_num_threads(2)
    x = torch.randn(*args.shape, device=args.device)
    for name, fn in [("repo", repo_pair), ('einsum', einsum_pair), ('ptwt', ptwt_pair)]:
        err = (fn(x) - x).abs().max().item()
        print(f'{name:8s} {timeit(fn, x, args.runs):8.2f} ms  reconstruction err {err:.2e}')


if __name__ == '__main__':
    main()
