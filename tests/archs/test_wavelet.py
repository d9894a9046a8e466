import ptwt
import pytest
import torch

from seeclear_arch.archs.wavelet import (
    ConvDownsample,
    ConvUpsample,
    WaveletDownsample,
    WaveletUpsample,
    dwt_to_channels,
    haar_dwt,
    haar_idwt,
    idwt_from_channels,
)


def test_haar_matches_ptwt():
    x = torch.randn(2, 3, 8, 12, dtype=torch.float64)
    ll, highs = haar_dwt(x)
    ref = ptwt.wavedec2(x, 'haar', mode='zero', level=1)
    torch.testing.assert_close(ll, ref[0])
    for band, ref_band in zip(highs.unbind(1), ref[1]):
        torch.testing.assert_close(band, ref_band)


def test_two_level_packet_matches_ptwt_recursion():
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    ours = dwt_to_channels(x, 2).view(1, 4, 4, 2, 2, 2)  # (B, band2, band1, C, h, w): band-major
    first = ptwt.wavedec2(x, 'haar', mode='zero', level=1)
    for i, band in enumerate([first[0], *first[1]]):
        second = ptwt.wavedec2(band, 'haar', mode='zero', level=1)
        for j, sub in enumerate([second[0], *second[1]]):
            torch.testing.assert_close(ours[:, j, i], sub)


@pytest.mark.parametrize('levels', [1, 2, 3])
def test_perfect_reconstruction(levels):
    x = torch.randn(2, 3, 16, 24)
    y = dwt_to_channels(x, levels)
    assert y.shape == (2, 3 * 4 ** levels, 16 >> levels, 24 >> levels)
    torch.testing.assert_close(idwt_from_channels(y, levels), x, atol=1e-5, rtol=1e-5)
    ll, highs = haar_dwt(x)
    torch.testing.assert_close(haar_idwt(ll, highs), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('channels_last', [False, True])
def test_inverse_without_gradients_is_the_differentiable_inverse(channels_last):
    """Sampling's inverse (sums written into the interleaved output) gives the training one's values and layout,
    and the training one passes gradients."""
    x = torch.randn(2, 3, 8, 12, dtype=torch.float64)
    ll, highs = haar_dwt(x)
    ll = ll.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    with torch.no_grad(), torch.profiler.profile() as prof:
        fast = haar_idwt(ll, highs)
    assert not [e for e in prof.events() if 'conv' in e.name]
    ll.requires_grad_(True)
    slow = haar_idwt(ll, highs)
    torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(fast, x, rtol=0, atol=1e-12)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert fast.is_contiguous(memory_format=layout) and slow.is_contiguous(memory_format=layout)
    slow.sum().backward()
    torch.testing.assert_close(ll.grad, torch.full_like(ll, 2.0))  # d/d ll of the block sum: 4 * 1/2


def _uses_conv(ll: torch.Tensor, highs: torch.Tensor) -> bool:
    with torch.profiler.profile() as prof:
        haar_idwt(ll, highs)
    return any('conv' in e.name for e in prof.events())


def test_inverse_takes_the_differentiable_path_only_when_needed(monkeypatch):
    """Sums when nothing needs a gradient (even with autograd on); the convolution when ``ll`` or only ``highs``
    requires one, or under ``torch.compile`` (which does not take ``out=`` writes into strided views)."""
    ll, highs = haar_dwt(torch.randn(1, 2, 4, 6))
    assert not _uses_conv(ll, highs)
    assert _uses_conv(ll, highs.clone().requires_grad_(True))
    assert _uses_conv(ll.clone().requires_grad_(True), highs)
    monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    assert _uses_conv(ll, highs)


def test_inverse_by_sums_in_bf16_is_within_a_few_ulp_of_the_convolution():
    torch.manual_seed(0)
    ll, highs = (t.bfloat16() for t in haar_dwt(torch.randn(2, 8, 16, 16)))
    with torch.no_grad():
        fast = haar_idwt(ll, highs).float()
    slow = haar_idwt(ll.clone().requires_grad_(True), highs).detach().float()
    ulp = torch.finfo(torch.bfloat16).eps * slow.abs().clamp_min(1.0)
    assert ((fast - slow).abs() <= 3 * ulp).all()


def test_odd_size_rejected():
    with pytest.raises(ValueError):
        haar_dwt(torch.randn(1, 1, 5, 4))


@pytest.mark.parametrize('down, up', [(WaveletDownsample, WaveletUpsample), (ConvDownsample, ConvUpsample)])
def test_down_up_shapes(down, up):
    x = torch.randn(2, 8, 10, 6)
    low, skip = down(8, 16)(x)
    assert low.shape == (2, 16, 5, 3)
    assert up(16, 8)(low, skip).shape == x.shape


def test_wavelet_down_and_up_keep_a_channels_last_layout():
    """A channels-last U-Net stays channels-last through the wavelet down/upsample, with the same values."""
    torch.manual_seed(0)
    down, up = WaveletDownsample(4, 6), WaveletUpsample(6, 4)
    x = torch.randn(2, 4, 8, 12, dtype=torch.float64)
    down, up = down.double(), up.double()
    with torch.no_grad():
        feat, skip = down(x)
        feat_cl, skip_cl = down(x.contiguous(memory_format=torch.channels_last))
        out, out_cl = up(feat, skip), up(feat_cl, skip_cl)
    torch.testing.assert_close(skip_cl, skip)
    torch.testing.assert_close(out_cl, out)
    assert skip_cl.is_contiguous(memory_format=torch.channels_last)
    assert out_cl.is_contiguous(memory_format=torch.channels_last) and out.is_contiguous()
    ll, highs = haar_dwt(x)
    assert haar_idwt(ll.contiguous(memory_format=torch.channels_last), highs).is_contiguous(
        memory_format=torch.channels_last)
