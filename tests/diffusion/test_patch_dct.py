"""Patch DCT and the blur operator D_t built on it."""
import math

import pytest
import torch

from seeclear_arch.diffusion import BlurringResShift, dct_matrix, patch_dct, patch_eigenvalues, patch_filter, patch_idct


@pytest.mark.parametrize('n', [1, 2, 3, 5, 8, 16])
def test_dct_matrix_orthonormal_and_dct2(n):
    mat = dct_matrix(n)
    eye = torch.eye(n, dtype=torch.float64)
    torch.testing.assert_close(mat @ mat.T, eye, atol=1e-13, rtol=0)
    torch.testing.assert_close(mat.T @ mat, eye, atol=1e-13, rtol=0)
    # textbook orthonormal DCT-II of a random vector, written out as a sum
    x = torch.randn(n, dtype=torch.float64)
    k = torch.arange(n, dtype=torch.float64)
    ref = torch.stack([(x * torch.cos(math.pi * (2 * k + 1) * f / (2 * n))).sum() for f in range(n)])
    ref = ref * math.sqrt(2 / n)
    ref[0] /= math.sqrt(2)
    torch.testing.assert_close(mat @ x, ref)


def test_patch_dct_round_trip_and_parseval():
    x = torch.randn(2, 3, 1, 16, 24, dtype=torch.float64)
    coef = patch_dct(x, 8)
    assert coef.shape == (2, 3, 1, 2, 3, 8, 8)
    torch.testing.assert_close(patch_idct(coef), x)
    torch.testing.assert_close((coef**2).sum(), (x**2).sum())
    # DC coefficient = p * patch mean
    torch.testing.assert_close(coef[..., 0, 1, 0, 0], 8 * x[..., :8, 8:16].mean(dim=(-1, -2)))
    with pytest.raises(ValueError):
        patch_dct(torch.zeros(1, 13, 16), 8)


def test_cosine_mode_is_eigenfunction_of_blur():
    """A single DCT mode (i, j) is scaled by exp(lam_ij tau): the Neumann heat equation on a patch."""
    proc = BlurringResShift(num_timesteps=15, patch_size=4)
    coef = torch.zeros(1, 1, 2, 2, 4, 4, dtype=torch.float64)
    coef[..., 1, 2] = 1.0
    x = patch_idct(coef)  # (1, 1, 8, 8)
    t = 7
    lam = -math.pi**2 * (1 + 4) / 16
    torch.testing.assert_close(proc.blur(x, t), x * math.exp(lam * proc.taus[t].item()))
    torch.testing.assert_close(patch_eigenvalues(4, 4)[1, 2], torch.tensor(lam, dtype=torch.float64))


@pytest.mark.parametrize('shape', [(2, 3, 1, 16, 16), (1, 2, 3, 13, 19), (2, 1, 5, 3)])
def test_blur_unblur_round_trip_and_patch_means(shape):
    proc = BlurringResShift(patch_size=8)
    x = torch.randn(*shape, dtype=torch.float64)
    t = torch.tensor([6] * shape[0])  # tau ~ 0.3: d_t >= exp(-2 pi^2 0.3) ~ 3e-3, well conditioned
    blurred = proc.blur(x, t)
    assert blurred.shape == x.shape
    assert not torch.allclose(blurred, x)
    torch.testing.assert_close(proc.unblur(blurred, t), x, atol=1e-9, rtol=0)
    # heat flow with Neumann boundaries conserves each patch's mean (incl. the shorter edge patches)
    h, w = shape[-2:]
    for h0 in range(0, h, 8):
        for w0 in range(0, w, 8):
            sl = (..., slice(h0, h0 + 8), slice(w0, w0 + 8))
            torch.testing.assert_close(blurred[sl].mean(dim=(-1, -2)), x[sl].mean(dim=(-1, -2)))


def test_blur_is_smoothing_and_identity_at_t0():
    proc = BlurringResShift(patch_size=8)
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(proc.blur(x, 0), x)
    tv = [proc.blur(x, t).diff(dim=-1).abs().sum() for t in (1, 8, 15)]
    assert tv[0] > tv[1] > tv[2]


def test_patch_filter_identity_for_any_size():
    for h, w in [(8, 8), (13, 19), (3, 5), (17, 8)]:
        x = torch.randn(2, 1, h, w, dtype=torch.float64)
        y = patch_filter(x, lambda lam: torch.ones(1, *lam.shape, dtype=lam.dtype, device=lam.device), 8)
        torch.testing.assert_close(y, x)
