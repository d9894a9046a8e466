"""Optical flow for the temporal metrics: torchvision RAFT loaded offline, Farneback, warping, occlusion masks.

Flow convention everywhere: ``flow(image1, image2)`` is a (B, 2, H, W) tensor (x then y displacement, pixels) with
``image1(p) ~ image2(p + flow(p))``, as RAFT (Teed and Deng, ECCV 2020) and OpenCV's Farneback return it.

RAFT weights are never downloaded. They are looked up, in order, at ``weights_path`` (``--raft-weights``),
``$SEECLEAR_RAFT_PATH``, then torchvision's cache ``torch.hub.get_dir()/checkpoints/<file>`` where
``torchvision.models.optical_flow.raft_large(pretrained=True)`` stores them (``raft_large_C_T_SKHT_V2-ff5fadd5.pth``,
the checkpoint StableVSR's ``eval.py`` uses; ``raft_small_C_T_V2-01064c6d.pth`` for ``raft_small``).
"""
import os
from typing import Callable, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights, raft_large, raft_small

from seeclear_arch.metrics.temporal_metric import farneback_flow, to_gray_uint8
from seeclear_arch.metrics.vgg_trunk import cached_network

RAFT_ENV_VAR = 'SEECLEAR_RAFT_PATH'
RAFT_MODELS = {'large': (raft_large, Raft_Large_Weights.C_T_SKHT_V2), 'small': (raft_small, Raft_Small_Weights.C_T_V2)}

RAFT_MIN_SIZE = 128

FlowFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def raft_file_name(model: str = 'large') -> str:
    """torchvision's file name of the RAFT checkpoint used for ``model`` ('large' or 'small')."""
    if model not in RAFT_MODELS:
        raise ValueError(f'Unknown RAFT model {model!r}; choose one of {sorted(RAFT_MODELS)}.')
    return os.path.basename(RAFT_MODELS[model][1].url)


def default_raft_path(model: str = 'large') -> str:
    """torchvision's cache location of the RAFT checkpoint."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', raft_file_name(model))


def resolve_raft_path(model: str = 'large', weights_path: Optional[str] = None) -> str:
    """Absolute path of the RAFT checkpoint; raises ``FileNotFoundError`` naming the file when missing."""
    path = weights_path or os.environ.get(RAFT_ENV_VAR) or default_raft_path(model)
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        url = RAFT_MODELS[model][1].url
        raise FileNotFoundError(
            f'RAFT ({model}) weights for tOF / E*warp not found at {path!r}. Nothing is downloaded at run time: place '
            f'torchvision\'s checkpoint {raft_file_name(model)!r} ({url}) at {default_raft_path(model)!r}, or set '
            f'${RAFT_ENV_VAR}, or pass --raft-weights; `--flow farneback` needs no weights.')
    return path


def build_raft(model: str = 'large', weights_path: Optional[str] = None, random_weights: bool = False) -> nn.Module:
    """torchvision RAFT with the offline checkpoint (``random_weights`` is for tests only: seed 0, global RNG kept)."""
    raft_file_name(model)  # validates the name
    builder = RAFT_MODELS[model][0]
    if random_weights:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return builder(weights=None)
    net = builder(weights=None)
    net.load_state_dict(torch.load(resolve_raft_path(model, weights_path), map_location='cpu', weights_only=True))
    return net


def get_raft(model: str = 'large', device: Union[str, torch.device] = 'cpu', weights_path: Optional[str] = None,
             random_weights: bool = False) -> nn.Module:
    """The cached RAFT for this model, device and checkpoint (built on first use)."""
    key = ('raft', model, 'random' if random_weights else resolve_raft_path(model, weights_path))
    return cached_network(key, lambda: build_raft(model, weights_path, random_weights), device)


def pad_for_raft(x: torch.Tensor, multiple: int = 8, min_size: int = RAFT_MIN_SIZE) -> torch.Tensor:
    """Replicate-pad (B, C, H, W) at the bottom/right to multiples of 8 and at least 128 px (torchvision's RAFT
    refuses anything else: its correlation pyramid needs 16x16 feature maps at 1/8 resolution)."""
    h, w = x.shape[-2:]
    pad_h = max(min_size, h + (-h % multiple)) - h
    pad_w = max(min_size, w + (-w % multiple)) - w
    return F.pad(x, (0, pad_w, 0, pad_h), mode='replicate') if pad_h or pad_w else x


def raft_flow_fn(net: nn.Module, num_flow_updates: int = 12, normalize: bool = True) -> FlowFn:
    """``flow(image1, image2)`` with RAFT on RGB (B, 3, H, W) images in [0, 1]; returns the last refinement.

    Args:
        normalize: map inputs to [-1, 1] as torchvision's ``OpticalFlow`` preset does (RAFT's training range).
            ``False`` feeds [0, 1] as is, which is what StableVSR's ``eval.py`` does for its tOF.
        num_flow_updates: RAFT iterations (torchvision's default 12).
    """
    def flow(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        h, w = image1.shape[-2:]
        x1, x2 = pad_for_raft(image1), pad_for_raft(image2)
        if normalize:
            x1, x2 = x1 * 2 - 1, x2 * 2 - 1
        with torch.no_grad():
            return net(x1, x2, num_flow_updates=num_flow_updates)[-1][..., :h, :w]
    return flow


def farneback_flow_fn(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """``flow(image1, image2)`` with OpenCV Farneback (TecoGAN's parameters) on the frames' grayscale uint8."""
    def gray(x: torch.Tensor) -> np.ndarray:
        return to_gray_uint8(x.detach().cpu().flip(0).permute(1, 2, 0).numpy() * 255)  # RGB [0, 1] -> BGR [0, 255]
    flows = [farneback_flow(gray(a), gray(b)) for a, b in zip(image1, image2)]  # (H, W, 2) each
    return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(image1.device)


def flow_warp(x: torch.Tensor, flow: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Backward warp: ``out(p) = x(p + flow(p))`` (bilinear) and the mask (B, 1, H, W) of samples inside ``x``."""
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                            torch.arange(w, device=x.device, dtype=x.dtype), indexing='ij')
    px, py = xs + flow[:, 0], ys + flow[:, 1]  # (B, H, W) sample positions in pixels
    grid = torch.stack((2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1), dim=-1)
    out = F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=True)
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    return out, inside[:, None].to(x.dtype)


def flow_gradient_magnitude(flow: torch.Tensor) -> torch.Tensor:
    """|grad u|^2 + |grad v|^2 (B, H, W) with forward differences, zero on the last row/column (Lai et al.)."""
    du = torch.zeros_like(flow)
    dv = torch.zeros_like(flow)
    du[..., :, :-1] = flow[..., :, :-1] - flow[..., :, 1:]
    dv[..., :-1, :] = flow[..., :-1, :] - flow[..., 1:, :]
    return (du ** 2 + dv ** 2).sum(dim=1)


def non_occlusion_mask(fw: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """1 where the forward flow ``fw`` (frame 1 -> 2) is reliable, on frame 1's grid (B, 1, H, W).

    Ruder et al. (GCPR 2016), as in Lai et al.'s ``detect_occlusion``: a pixel is occluded when the backward flow
    ``bw`` (frame 2 -> 1), sampled at p + fw(p), does not cancel fw: |fw + bw_w|^2 > 0.01 (|fw|^2 + |bw_w|^2) + 0.5,
    or lies on a motion boundary: |grad fw_x|^2 + |grad fw_y|^2 > 0.01 |fw|^2 + 0.002.
    """
    bw_w, _ = flow_warp(bw, fw)
    mag = (fw ** 2).sum(dim=1)
    inconsistent = ((fw + bw_w) ** 2).sum(dim=1) > 0.01 * (mag + (bw_w ** 2).sum(dim=1)) + 0.5
    boundary = flow_gradient_magnitude(fw) > 0.01 * mag + 0.002
    return (~(inconsistent | boundary))[:, None].to(fw.dtype)
