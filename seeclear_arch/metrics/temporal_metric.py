"""Temporal-consistency metrics of TecoGAN (Chu et al., ACM TOG 2020), computed once per sequence.

Per-sequence protocol: these functions take a whole sequence, not a frame. They carry the attribute
``per_sequence = True``; a validation loop should check ``is_per_sequence(opt['type'])`` and call them once per
sequence through BasicSR's ``calculate_metric({'img': sr_frames, 'img2': gt_frames}, opt)``, where each value is a
list of HWC BGR frames in [0, 255] (or an array (T, H, W, C)) in temporal order. Frame metrics have no such
attribute. Both metrics are symmetric in ``img``/``img2`` and need at least two frames. Lower is better.

- ``calculate_tlp``: mean_t |LPIPS(gt_{t-1}, gt_t) - LPIPS(sr_{t-1}, sr_t)| with our LPIPS-VGG. Returned as is;
  TecoGAN's tables report it x100 (``scale: 100``). TecoGAN used LPIPS-AlexNet; we use VGG as for LPIPS.
- ``calculate_tof``: mean_t mean_pixels ||F(gt_{t-1} -> gt_t) - F(sr_{t-1} -> sr_t)||_2 with OpenCV Farneback flow
  on grayscale uint8 frames and TecoGAN's parameters. Unlike TecoGAN's script, no frames are skipped at the ends
  and flows are not centre-cropped to multiples of 32 (use ``crop_border``).

yml::

    tlp: {type: calculate_tlp, crop_border: 0}   # optional: scale, device, trunk_path
    tof: {type: calculate_tof, crop_border: 0}   # optional: scale
"""
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from basicsr.metrics.metric_util import reorder_image
from basicsr.utils.registry import METRIC_REGISTRY

from seeclear_arch.metrics.lpips_metric import LPIPSVGG, get_lpips_network, to_lpips_input

FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def is_per_sequence(metric_type: str) -> bool:
    """Whether the registered metric ``metric_type`` takes whole sequences (``per_sequence = True``)."""
    return bool(getattr(METRIC_REGISTRY.get(metric_type), 'per_sequence', False))


def _check_sequences(img: Sequence[np.ndarray], img2: Sequence[np.ndarray]) -> None:
    if len(img) != len(img2):
        raise ValueError(f'Sequences differ in length: {len(img)} vs {len(img2)} frames.')
    if len(img) < 2:
        raise ValueError(f'Temporal metrics need at least 2 frames, got {len(img)}.')
    for a, b in zip(img, img2):
        assert a.shape == b.shape, f'Image shapes are different: {a.shape}, {b.shape}.'


def consecutive_lpips(net: LPIPSVGG, frames: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """LPIPS(x_{t-1}, x_t) for t = 1..T-1 (T-1,) of LPIPS inputs ``frames`` (T, 3, H, W); each frame through the
    trunk once per chunk of ``batch_size`` pairs (plus one shared frame between chunks)."""
    out = []
    with torch.no_grad():
        for start in range(0, frames.shape[0] - 1, batch_size):
            feats = net.features(frames[start:start + batch_size + 1])
            out.append(net.distance([f[:-1] for f in feats], [f[1:] for f in feats]))
    return torch.cat(out)


def tlp_per_pair(net: LPIPSVGG, sr: torch.Tensor, gt: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """|LPIPS(gt_{t-1}, gt_t) - LPIPS(sr_{t-1}, sr_t)| for t = 1..T-1, on LPIPS inputs (T, 3, H, W)."""
    return (consecutive_lpips(net, gt, batch_size) - consecutive_lpips(net, sr, batch_size)).abs()


@METRIC_REGISTRY.register()
def calculate_tlp(img: Sequence[np.ndarray], img2: Sequence[np.ndarray], crop_border: int = 0,
                  input_order: str = 'HWC', scale: float = 1.0, device: Union[str, torch.device] = 'cpu',
                  trunk_path: Optional[str] = None, random_trunk: bool = False, **kwargs) -> float:
    """tLP of SR frames ``img`` against GT frames ``img2`` (see module docstring); each frame is LPIPS'd once.

    Args:
        scale: multiplier of the result (TecoGAN reports x100, StableVSR x1000). Default 1.
        device, trunk_path, random_trunk: as for ``calculate_lpips``.
    """
    _check_sequences(img, img2)
    net = get_lpips_network(device, trunk_path, random_trunk)
    sr = torch.cat([to_lpips_input(f, crop_border, input_order, device) for f in img])
    gt = torch.cat([to_lpips_input(f, crop_border, input_order, device) for f in img2])
    return scale * tlp_per_pair(net, sr, gt).mean().item()


def to_gray_uint8(img: np.ndarray, crop_border: int = 0, input_order: str = 'HWC') -> np.ndarray:
    """BGR (or single-channel) image in [0, 255] -> cropped grayscale uint8 (H, W) for Farneback."""
    img = reorder_image(np.asarray(img), input_order=input_order)  # (H, W, C)
    if crop_border != 0:
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return img[..., 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def farneback_flow(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Dense flow (H, W, 2) from ``prev`` to ``cur`` (grayscale uint8), TecoGAN's Farneback parameters."""
    return cv2.calcOpticalFlowFarneback(prev, cur, None, **FARNEBACK_PARAMS)


def tof_farneback_per_pair(img: Sequence[np.ndarray], img2: Sequence[np.ndarray], crop_border: int = 0,
                           input_order: str = 'HWC') -> np.ndarray:
    """mean_pixels ||F(gt_{t-1} -> gt_t) - F(sr_{t-1} -> sr_t)||_2 for t = 1..T-1 (Farneback, pixels)."""
    _check_sequences(img, img2)
    sr = [to_gray_uint8(f, crop_border, input_order) for f in img]
    gt = [to_gray_uint8(f, crop_border, input_order) for f in img2]
    diffs = []
    for t in range(1, len(sr)):
        diff = farneback_flow(gt[t - 1], gt[t]) - farneback_flow(sr[t - 1], sr[t])
        diffs.append(np.sqrt((diff ** 2).sum(axis=-1)).mean())
    return np.array(diffs, dtype=np.float64)


@METRIC_REGISTRY.register()
def calculate_tof(img: Sequence[np.ndarray], img2: Sequence[np.ndarray], crop_border: int = 0,
                  input_order: str = 'HWC', scale: float = 1.0, **kwargs) -> float:
    """tOF of SR frames ``img`` against GT frames ``img2`` (see module docstring), in pixels.

    Args:
        scale: multiplier of the result. Default 1.
    """
    return scale * float(np.mean(tof_farneback_per_pair(img, img2, crop_border, input_order)))


calculate_tlp.per_sequence = True
calculate_tof.per_sequence = True
