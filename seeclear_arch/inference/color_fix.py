"""Colour correction of SR frames against their LR input (``--color-fix``; off by default).

Diffusion SR can drift in colour from clip to clip. Both corrections keep the SR frame's detail and take its
low-frequency colour from a reference, the bicubic upsampling of the LR frame (the model's condition ``y``):

* ``adain``: per-channel mean and standard deviation of the SR frame matched to the reference's (adaptive
  instance normalisation, Huang & Belongie, ICCV 2017; the ``adain`` colour fix of StableSR and ResShift).
* ``wavelet``: the idea of StableSR's ``wavelet_color_fix`` (Wang et al., 2023): split both images into a
  high-frequency part and a low-frequency residual with an a-trous ("with holes") wavelet, i.e. repeated
  3x3 binomial blurs whose taps are dilated by 1, 2, 4, ... (Holschneider et al. 1989), and add the SR
  frame's high frequencies to the reference's low frequencies. Our implementation: ``levels`` blurs with
  reflect padding (replicate when the image is too small to reflect).

Each output frame is corrected on its own, from its own LR frame, in float32; the result does not depend on
how the video is cut into chunks or tiles. ``none`` returns the input unchanged (bit-identical).
"""
from typing import Callable, Dict

import torch
import torch.nn.functional as F

COLOR_FIXES = ('none', 'wavelet', 'adain')
WAVELET_LEVELS = 5


def _blur(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """3x3 binomial blur ``[1 2 1]^T [1 2 1] / 16`` of ``(N, C, H, W)`` with taps ``dilation`` apart."""
    c = x.size(1)
    k1 = torch.tensor([1., 2., 1.], dtype=x.dtype, device=x.device) / 4
    kernel = (k1[:, None] * k1[None, :]).expand(c, 1, 3, 3)
    mode = 'reflect' if min(x.shape[-2:]) > dilation else 'replicate'
    padded = F.pad(x, (dilation, ) * 4, mode=mode)
    return F.conv2d(padded, kernel, groups=c, dilation=dilation)


def wavelet_low(x: torch.Tensor, levels: int = WAVELET_LEVELS) -> torch.Tensor:
    """Low-frequency residual of an a-trous wavelet decomposition with ``levels`` levels (module docstring)."""
    for i in range(levels):
        x = _blur(x, 2**i)
    return x


def wavelet_fix(sr: torch.Tensor, ref: torch.Tensor, levels: int = WAVELET_LEVELS) -> torch.Tensor:
    """``sr``'s high frequencies plus ``ref``'s low frequencies; ``(N, C, H, W)``."""
    return sr - wavelet_low(sr, levels) + wavelet_low(ref, levels)


def adain_fix(sr: torch.Tensor, ref: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``sr`` with the per-image, per-channel mean and standard deviation of ``ref``; ``(N, C, H, W)``."""
    mu_s, std_s = sr.mean((2, 3), keepdim=True), sr.std((2, 3), keepdim=True)
    mu_r, std_r = ref.mean((2, 3), keepdim=True), ref.std((2, 3), keepdim=True)
    return (sr - mu_s) / (std_s + eps) * std_r + mu_r


_FIXES: Dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {'wavelet': wavelet_fix,
                                                                            'adain': adain_fix}


def check_color_fix(mode: str) -> str:
    """``mode`` if it is one of :data:`COLOR_FIXES`; raise naming ``--color-fix`` otherwise."""
    if mode not in COLOR_FIXES:
        raise ValueError(f'--color-fix must be one of {", ".join(COLOR_FIXES)}, got {mode!r}.')
    return mode


def color_fix(sr: torch.Tensor, ref: torch.Tensor, mode: str = 'none') -> torch.Tensor:
    """Correct ``sr`` frames ``(..., C, H, W)`` in [0, 1] against same-size references ``ref`` (module docstring).

    Computed in float32 frame by frame and clamped to [0, 1]; returned in ``sr``'s dtype. ``'none'``: ``sr``.
    """
    if check_color_fix(mode) == 'none':
        return sr
    if sr.shape != ref.shape:
        raise ValueError(f'color_fix: SR frames {tuple(sr.shape)} and references {tuple(ref.shape)} differ in shape.')
    lead = sr.shape[:-3]
    out = _FIXES[mode](sr.reshape(-1, *sr.shape[-3:]).float(), ref.reshape(-1, *ref.shape[-3:]).float())
    return out.clamp(0, 1).reshape(*lead, *sr.shape[-3:]).to(sr.dtype)
