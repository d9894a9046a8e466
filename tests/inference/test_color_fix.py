"""Colour fix on a synthetic colour-shifted SR output: the shift goes, the detail stays."""
import pytest
import torch
import torch.nn.functional as F

from seeclear_arch.inference.color_fix import color_fix, wavelet_low


def _scene(n: int = 3, h: int = 64, w: int = 64) -> tuple:
    """(gt, ref, sr): a smooth colour field with fine texture; ``ref`` is its blurred (LR-like) version;
    ``sr`` keeps the texture but has its colour shifted and contrast changed per channel."""
    g = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(h, w), mode='bicubic', align_corners=False)
    texture = 0.05 * torch.sign(torch.randn(n, 1, h, w, generator=g))
    gt = (0.2 + 0.6 * smooth + texture).clamp(0, 1)
    ref = F.interpolate(F.avg_pool2d(gt, 4), scale_factor=4, mode='bicubic', align_corners=False).clamp(0, 1)
    shift = torch.tensor([0.12, -0.08, 0.05]).view(1, 3, 1, 1)
    sr = (0.5 + (gt - 0.5) * 0.9 + shift).clamp(0, 1)
    return gt, ref, sr


def _low(x: torch.Tensor) -> torch.Tensor:
    return wavelet_low(x, 5)


@pytest.mark.parametrize('mode', ['wavelet', 'adain'])
def test_color_fix_removes_a_colour_shift(mode):
    gt, ref, sr = _scene()
    fixed = color_fix(sr, ref, mode)
    mean_err = lambda x: (x.mean((2, 3)) - gt.mean((2, 3))).abs().max().item()  # noqa: E731
    assert mean_err(sr) > 0.05 and mean_err(fixed) < 0.01  # per-channel mean colour back to the LR's
    assert (_low(fixed) - _low(gt)).abs().mean() < 0.3 * (_low(sr) - _low(gt)).abs().mean()
    detail = lambda x: x - _low(x)  # noqa: E731
    corr = F.cosine_similarity(detail(fixed).flatten(), detail(gt).flatten(), dim=0)
    assert corr > 0.9  # the SR texture is kept, not replaced by the blurry reference
    assert fixed.dtype == sr.dtype and fixed.min() >= 0 and fixed.max() <= 1


def test_color_fix_is_per_frame_float32_and_off_by_default():
    gt, ref, sr = _scene(n=4)
    assert color_fix(sr, ref) is sr and color_fix(sr, ref, 'none') is sr
    for mode in ('wavelet', 'adain'):
        whole = color_fix(sr[None], ref[None], mode)[0]  # (1, n, C, H, W): a video clip
        split = torch.cat([color_fix(sr[:1], ref[:1], mode), color_fix(sr[1:], ref[1:], mode)])
        assert torch.equal(whole, split)  # independent of how frames are grouped into chunks
        half = color_fix(sr.bfloat16(), ref.bfloat16(), mode)
        assert half.dtype == torch.bfloat16 and (half.float() - whole).abs().max() < 0.02  # computed in float32
    with pytest.raises(ValueError, match='--color-fix must be one of none, wavelet, adain'):
        color_fix(sr, ref, 'histogram')
    with pytest.raises(ValueError, match='differ in shape'):
        color_fix(sr, ref[:, :, :32], 'adain')
