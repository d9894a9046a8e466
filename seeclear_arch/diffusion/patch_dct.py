"""Orthonormal patch DCT and per-frequency filtering (``V^T`` of Eq. 2, ``D_t`` of Eq. 1; docs/formulation.md D3).

A frame is cut into non-overlapping ``p x p`` patches; each patch goes through the orthonormal 2D DCT-II
``X = M_p x M_p^T``. Frequency ``(i, j)`` of a ``ph x pw`` patch is an eigenfunction of the Neumann Laplacian
on that patch with eigenvalue ``lam_ij = -pi^2 (i^2 / ph^2 + j^2 / pw^2)`` (App. A, Eq. 21-22; the paper's
``p x p`` case is ``ph = pw = p``).

Frames whose height or width is not a multiple of ``p``: the last patch row / column is shorter
(``r = H mod p``) and uses its own orthonormal DCT of size ``r`` and its own eigenvalues, i.e. the same heat
equation on a smaller patch. Unlike padding-and-cropping, this keeps every operator an exact orthonormal
per-frequency diagonal, so blurring stays invertible and the posterior stays exact for any frame size.
"""
import math
from functools import lru_cache
from typing import Callable, List, Tuple

import torch

GainFn = Callable[[torch.Tensor], torch.Tensor]


@lru_cache(maxsize=64)
def _dct_matrix_cpu(n: int) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    m = torch.arange(n, dtype=torch.float64)[None, :]
    mat = torch.cos(math.pi * (2 * m + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    mat[0] /= math.sqrt(2.0)  # the DC row gets sqrt(1/n) so that rows are orthonormal
    return mat


def dct_matrix(n: int, dtype: torch.dtype = torch.float64, device: torch.device = None) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``M`` (``n x n``): ``X = M x``, ``x = M^T X``."""
    return _dct_matrix_cpu(n).to(device=device, dtype=dtype)


def patch_eigenvalues(ph: int,
                      pw: int,
                      dtype: torch.dtype = torch.float64,
                      device: torch.device = None) -> torch.Tensor:
    """Laplacian eigenvalues ``lam_ij = -pi^2 (i^2/ph^2 + j^2/pw^2)`` of a ``ph x pw`` patch, shape ``(ph, pw)``."""
    i = torch.arange(ph, dtype=dtype, device=device)[:, None] / ph
    j = torch.arange(pw, dtype=dtype, device=device)[None, :] / pw
    return -math.pi**2 * (i**2 + j**2)


def patch_dct(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(..., H, W) -> (..., H/p, W/p, p, p)`` patch DCT coefficients; H and W must be multiples of ``p``."""
    *lead, h, w = x.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f'patch_dct needs H, W multiples of {p}, got {h}x{w}; use patch_filter for other sizes')
    mat = dct_matrix(p, x.dtype, x.device)
    patches = x.reshape(*lead, h // p, p, w // p, p).transpose(-3, -2)  # (..., nh, nw, p, p)
    return mat @ patches @ mat.T


def patch_idct(coef: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`patch_dct`: ``(..., nh, nw, p, p) -> (..., nh * p, nw * p)``."""
    *lead, nh, nw, p, _ = coef.shape
    mat = dct_matrix(p, coef.dtype, coef.device)
    patches = mat.T @ coef @ mat
    return patches.transpose(-3, -2).reshape(*lead, nh * p, nw * p)


def _spans(n: int, p: int) -> List[Tuple[int, int, int]]:
    """Split ``[0, n)`` into (start, stop, patch length): full patches, then a shorter tail patch if any."""
    full = n // p * p
    spans = [(0, full, p)] if full else []
    return spans + ([(full, n, n - full)] if n > full else [])


def _filter_region(x: torch.Tensor, gain_fn: GainFn, ph: int, pw: int) -> torch.Tensor:
    *lead, h, w = x.shape
    # one GEMM with the 2D DCT kron(M_h, M_w) beats batches of tiny p x p matmuls on CPU and GPU alike
    kron = torch.kron(dct_matrix(ph, x.dtype, x.device), dct_matrix(pw, x.dtype, x.device))
    patches = x.reshape(*lead, h // ph, ph, w // pw, pw).transpose(-3, -2)  # (B, ..., nh, nw, ph, pw)
    coef = patches.reshape(*patches.shape[:-2], ph * pw) @ kron.T  # row-major vec(M_h P M_w^T)
    gain = gain_fn(patch_eigenvalues(ph, pw, device=x.device)).to(x.dtype)  # (G, ph, pw), G in {1, B}
    coef = coef * gain.reshape(gain.shape[0], *([1] * (x.dim() - 1)), ph * pw)
    patches = (coef @ kron).reshape(patches.shape)
    return patches.transpose(-3, -2).reshape(x.shape)


def patch_filter(x: torch.Tensor, gain_fn: GainFn, patch_size: int) -> torch.Tensor:
    """Multiply every patch-DCT frequency of ``x`` by a gain and transform back to pixels.

    Args:
        x: ``(B, ..., H, W)``; any H, W (a shorter tail patch covers the remainder, see module docstring).
        gain_fn: maps the eigenvalue grid ``lam`` (``(ph, pw)``, float64) to gains of shape ``(B, ph, pw)``
            or ``(1, ph, pw)``; called once per distinct patch shape.
        patch_size: ``p``.
    """
    rows, cols = _spans(x.shape[-2], patch_size), _spans(x.shape[-1], patch_size)
    if len(rows) == 1 and len(cols) == 1:  # fast path: H, W multiples of p (or smaller than p)
        return _filter_region(x, gain_fn, rows[0][2], cols[0][2])
    out_rows = []
    for h0, h1, ph in rows:
        parts = [_filter_region(x[..., h0:h1, w0:w1], gain_fn, ph, pw) for w0, w1, pw in cols]
        out_rows.append(torch.cat(parts, dim=-1))
    return torch.cat(out_rows, dim=-2)
