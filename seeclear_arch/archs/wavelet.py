"""2D Haar wavelet layers for the Pixel Condenser (paper Eq. 7 and App. C; docs/formulation.md D15).

Convention (identical to ``ptwt.wavedec2(x, 'haar', mode='zero', level=1)``, tested): for each 2x2 block
``[[a, b], [c, d]]``

    ll = (a + b + c + d) / 2     lh = (a + b - c - d) / 2
    hl = (a - b + c - d) / 2     hh = (a - b - c + d) / 2

The transform is orthonormal, so :func:`haar_idwt` is its exact inverse. ``k`` levels decompose every
sub-band again (a wavelet packet, the only way the bands of ``k`` levels share one size
``H / 2^k`` and can be concatenated on channels as the paper does).

Implementation choice, measured with ``benchmarks/benchmark_wavelet.py`` on (5, 64, 128, 128) float32, one
level forward + inverse, 2 CPU threads, median of 10-30 runs, on a shared 2-core machine whose load made
runs vary up to 5x::

    bare depthwise strided conv + transposed conv         ~ 10 ms (best quiet run)
    this file (same convs + band split/concat copies)     38-157 ms
    view/permute + einsum                                  13-60 ms
    ptwt wavedec2/waverec2 'haar', mode='zero'             20-348 ms

Our design rule is a maintained wavelet library unless a measured reason says otherwise. The measured reason is
weaker than hoped: ptwt was slower in most runs but not consistently, and the band split/concat of this
file costs more than the bare convs. We keep the in-house Haar because it is exact, parameter-free,
follows the input's dtype/device, needs no per-call padding or filter logic, and gives the k-level packet
layout the network needs directly; ptwt is the reference in ``tests/archs/test_wavelet.py``. Re-run the
benchmark on the training GPU before relying on these numbers.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


def _haar_filters(x: torch.Tensor) -> torch.Tensor:
    """Depthwise Haar analysis filters (4 * C, 1, 2, 2), rows ``ll, lh, hl, hh``, for ``x``'s channels."""
    k = torch.tensor([[1, 1, 1, 1], [1, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]], dtype=x.dtype, device=x.device)
    return (k / 2).view(4, 1, 2, 2).repeat(x.shape[1], 1, 1, 1)


def haar_dwt(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """One-level 2D Haar DWT of (B, C, H, W) with even H, W.

    Returns the low band ``ll`` (B, C, H/2, W/2) and the high bands (B, 3, C, H/2, W/2) in the order
    ``lh, hl, hh`` (ptwt's detail order).
    """
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f'haar_dwt needs even height and width, got {h}x{w}')
    bands = F.conv2d(x, _haar_filters(x), stride=2, groups=c).view(b, c, 4, h // 2, w // 2)  # (B, C, 4, h, w)
    return bands[:, :, 0], bands[:, :, 1:].transpose(1, 2)


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for channels-last (B, C, H, W) features, else ``torch.contiguous_format``."""
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format


def haar_idwt(ll: torch.Tensor, highs: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_dwt`: ``ll`` (B, C, h, w), ``highs`` (B, 3, C, h, w) -> (B, C, 2h, 2w), in ``ll``'s
    memory layout (a channels-last U-Net stays channels-last).

    Each 2x2 block is ``a, b, c, d = (ll + lh + hl + hh, ll + lh - hl - hh, ll - lh + hl - hh, ll - lh - hl + hh)
    / 2``, written by sums and differences straight into the interleaved output in eager sampling; a depthwise
    transposed convolution (which oneDNN does not take on CPU; docs/performance.md) when gradients are needed or
    under ``torch.compile``, which neither ``out=`` writes into strided views support. In bf16 the sums round twice
    more than the convolution (tested within 3 ulp)."""
    b, c, h, w = ll.shape
    needs_grad = torch.is_grad_enabled() and (ll.requires_grad or highs.requires_grad)
    if needs_grad or torch.compiler.is_compiling():
        bands = torch.empty((b, 4 * c, h, w), dtype=ll.dtype, device=ll.device, memory_format=memory_format_of(ll))
        per_channel = bands.view(b, c, 4, h, w)  # a view in either layout (channel blocks of 4 bands)
        per_channel[:, :, 0] = ll
        per_channel[:, :, 1:] = highs.transpose(1, 2)
        return F.conv_transpose2d(bands, _haar_filters(ll), stride=2, groups=c)
    lh, hl, hh = highs.unbind(1)
    top, bottom = (ll + lh).mul_(0.5), (ll - lh).mul_(0.5)  # the rows of a block share ll +- lh
    left, right = hl + hh, hl - hh
    out = torch.empty((b, c, 2 * h, 2 * w), dtype=ll.dtype, device=ll.device, memory_format=memory_format_of(ll))
    blocks = out.unflatten(3, (w, 2)).unflatten(2, (h, 2))  # (B, C, h, 2, w, 2), a view in either layout
    torch.add(top, left, alpha=0.5, out=blocks[:, :, :, 0, :, 0])
    torch.sub(top, left, alpha=0.5, out=blocks[:, :, :, 0, :, 1])
    torch.add(bottom, right, alpha=0.5, out=blocks[:, :, :, 1, :, 0])
    torch.sub(bottom, right, alpha=0.5, out=blocks[:, :, :, 1, :, 1])
    return out


def dwt_to_channels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """``levels``-level Haar packet: (B, C, H, W) -> (B, C * 4^levels, H / 2^levels, W / 2^levels).

    Channels are ordered band-major: ``[ll, lh, hl, hh]`` blocks of C channels, recursively.
    """
    for _ in range(levels):
        ll, highs = haar_dwt(x)
        x = torch.cat([ll[:, None], highs], dim=1).flatten(1, 2)  # (B, 4 * C, h, w)
    return x


def idwt_from_channels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse of :func:`dwt_to_channels`."""
    for _ in range(levels):
        b, c4, h, w = x.shape
        bands = x.view(b, 4, c4 // 4, h, w)  # (B, 4, C, h, w)
        x = haar_idwt(bands[:, 0], bands[:, 1:])
    return x


class WaveletDownsample(nn.Module):
    """Wavelet downsample (App. C): the low band goes down (1x1 conv to ``out_ch``), the three high bands
    (B, 3 * in_ch, H/2, W/2) are returned as the skip for the matching :class:`WaveletUpsample`."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        ll, highs = haar_dwt(x)
        b, _, c, h, w = highs.shape
        skip = torch.empty((b, 3 * c, h, w), dtype=x.dtype, device=x.device, memory_format=memory_format_of(x))
        skip.view(b, 3, c, h, w).copy_(highs)  # (B, 3 * in_ch, H/2, W/2) in x's memory layout
        return self.proj(ll), skip


class WaveletUpsample(nn.Module):
    """Wavelet upsample (App. C): maps the decoder feature to the low band of ``out_ch`` channels,
    puts back the encoder's high bands with the inverse DWT, and refines with a 3x3 conv."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, 1)
        self.fuse = nn.Conv2d(out_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        ll = self.proj(x)
        highs = skip.unflatten(1, (3, ll.shape[1]))  # (B, 3, out_ch, h, w)
        return self.fuse(haar_idwt(ll, highs))


class ConvDownsample(nn.Module):
    """Plain downsample for the ``use_dwt=False`` ablation: pixel-unshuffle + 1x1 conv; the skip is the
    full-resolution feature itself (a standard U-Net skip)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4 * in_ch, out_ch, 1))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.conv(x), x


class ConvUpsample(nn.Module):
    """Plain upsample for the ``use_dwt=False`` ablation: 1x1 conv + pixel-shuffle, concatenate the skip,
    1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.up = nn.Sequential(nn.Conv2d(in_ch, 4 * out_ch, 1), nn.PixelShuffle(2))
        self.fuse = nn.Conv2d(2 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(x), skip], dim=1))
