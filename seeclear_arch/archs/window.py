"""Window partition/reverse and padding helpers for any input size (free functions, PSRT style).

Features are channels-last: (B, D, H, W, C) for 3D windows (D = frames); a 2D window is depth 1.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, window: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad (B, D, H, W, C) at the end of D, H, W to multiples of ``window``.

    Returns the padded tensor and a boolean mask (B, Dp, Hp, Wp, 1), True on real positions.
    """
    sizes = x.shape[1:4]
    pads = [(-n) % s for n, s in zip(sizes, window)]
    valid = torch.ones(*x.shape[:4], 1, dtype=torch.bool, device=x.device)
    if not any(pads):
        return x, valid
    spec = (0, 0, 0, pads[2], 0, pads[1], 0, pads[0])  # F.pad order: C, W, H, D
    return F.pad(x, spec), F.pad(valid, spec, value=False)


def window_partition(x: torch.Tensor, window: Sequence[int]) -> torch.Tensor:
    """(B, D, H, W, C) with D, H, W multiples of ``window`` -> (B * num_windows, wd * wh * ww, C)."""
    b, d, h, w, c = x.shape
    wd, wh, ww = window
    x = x.view(b, d // wd, wd, h // wh, wh, w // ww, ww, c)  # (B, nD, wd, nH, wh, nW, ww, C)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wd * wh * ww, c)


def window_reverse(windows: torch.Tensor, window: Sequence[int], size: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * num_windows, wd * wh * ww, C) -> (B, D, H, W, C)."""
    d, h, w = size
    wd, wh, ww = window
    c = windows.shape[-1]
    x = windows.view(-1, d // wd, h // wh, w // ww, wd, wh, ww, c)  # (B, nD, nH, nW, wd, wh, ww, C)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(-1, d, h, w, c)


def pad_image(x: torch.Tensor, multiple: int, mode: str = 'reflect') -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad (N, C, H, W) at the bottom/right to multiples of ``multiple``; returns it and the (pad_h, pad_w).

    ``reflect`` falls back to ``replicate`` when the pad is not smaller than the size (tiny frames).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (0, 0)
    if mode == 'reflect' and (pad_h >= h or pad_w >= w):
        mode = 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (pad_h, pad_w)
