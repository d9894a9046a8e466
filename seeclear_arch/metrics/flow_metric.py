"""Flow-based temporal metrics computed once per sequence: RAFT tOF and the flow-warping error E*warp.

Both take whole sequences (``per_sequence = True``, see ``temporal_metric``): lists of HWC BGR frames in [0, 255],
SR in ``img`` and GT in ``img2``, in temporal order. Frames are converted to RGB in [0, 1]. Lower is better.

- ``calculate_tof_raft`` (StableVSR's ``eval.py``, Rota et al. 2024): for t = 1..T-1,
  mean over pixels and both flow components of |F(sr_t -> sr_{t-1}) - F(gt_t -> gt_{t-1})| with torchvision's
  ``raft_large`` (``C_T_SKHT_V2``, what ``raft_large(pretrained=True)`` loads), 12 refinements, frames fed in [0, 1]
  as that script does (``normalize=False``; torchvision's preset would use [-1, 1]). StableVSR reports it x10.
- ``calculate_ewarp`` (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018, Eq. 8): for
  t = 1..T-1, sum_p M_t(p) ||sr_t(p) - sr_{t+1}(p + f_t(p))||^2 / (3 sum_p M_t(p)), where f_t is the flow
  gt_t -> gt_{t+1} computed on the GT frames (so every method is warped with the same flow), and M_t is the
  non-occlusion mask of Ruder et al. from the forward/backward GT flows, restricted to samples inside the frame.
  RAFT gets its training range [-1, 1]. VSR papers (MGLD-VSR, Upscale-A-Video, STAR, DOVE) report E*warp x10^-3,
  i.e. this value x1000. A pair without reliable pixels counts as 0.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from basicsr.utils.registry import METRIC_REGISTRY

from seeclear_arch.metrics.optical_flow import (
    FlowFn,
    farneback_flow_fn,
    flow_warp,
    get_raft,
    non_occlusion_mask,
    raft_flow_fn,
)
from seeclear_arch.metrics.temporal_metric import _check_sequences
from seeclear_arch.metrics.vgg_trunk import image_to_tensor


def frames_to_tensor(frames: Sequence[np.ndarray], crop_border: int = 0, input_order: str = 'HWC',
                     device: Union[str, torch.device] = 'cpu') -> torch.Tensor:
    """BGR [0, 255] frames -> RGB float tensor (T, 3, H, W) in [0, 1], cropped."""
    return torch.cat([image_to_tensor(f, crop_border, input_order, device) for f in frames])


def make_flow_fn(flow: str = 'raft', device: Union[str, torch.device] = 'cpu', raft_model: str = 'large',
                 raft_weights: Optional[str] = None, random_weights: bool = False, num_flow_updates: int = 12,
                 normalize: bool = True) -> FlowFn:
    """A flow estimator ``f(image1, image2)``: 'raft' (torchvision RAFT, offline weights) or 'farneback'."""
    if flow == 'farneback':
        return farneback_flow_fn
    if flow != 'raft':
        raise ValueError(f"Unknown flow {flow!r}; choose 'raft' or 'farneback'.")
    net = get_raft(raft_model, device, raft_weights, random_weights)
    return raft_flow_fn(net, num_flow_updates, normalize)


def flow_pairs(flow_fn: FlowFn, image1: torch.Tensor, image2: torch.Tensor, batch_size: int = 4) -> torch.Tensor:
    """``flow_fn`` on aligned batches (N, 3, H, W), ``batch_size`` pairs at a time -> (N, 2, H, W)."""
    return torch.cat([flow_fn(image1[i:i + batch_size], image2[i:i + batch_size])
                      for i in range(0, image1.shape[0], batch_size)])


def backward_pair_flows(flow_fn: FlowFn, frames: torch.Tensor, batch_size: int = 4) -> torch.Tensor:
    """F(frame_t -> frame_{t-1}) for t = 1..T-1 (T-1, 2, H, W): the direction StableVSR's tOF uses."""
    return flow_pairs(flow_fn, frames[1:], frames[:-1], batch_size)


def tof_per_pair(flow_fn: FlowFn, sr: torch.Tensor, gt: torch.Tensor, batch_size: int = 4,
                 gt_flows: Optional[torch.Tensor] = None) -> torch.Tensor:
    """mean |F(sr_t -> sr_{t-1}) - F(gt_t -> gt_{t-1})| for t = 1..T-1 (T-1,), StableVSR's tOF before scaling.

    ``gt_flows``: ``backward_pair_flows`` of ``gt`` when already computed (shared by every method).
    """
    f_gt = backward_pair_flows(flow_fn, gt, batch_size) if gt_flows is None else gt_flows
    return (backward_pair_flows(flow_fn, sr, batch_size) - f_gt).abs().mean(dim=(1, 2, 3))


def forward_backward_flows(flow_fn: FlowFn, frames: torch.Tensor,
                           batch_size: int = 4) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flows frame_t -> frame_{t+1} and frame_{t+1} -> frame_t for t = 0..T-2, each (T-1, 2, H, W)."""
    return (flow_pairs(flow_fn, frames[:-1], frames[1:], batch_size),
            flow_pairs(flow_fn, frames[1:], frames[:-1], batch_size))


def visible_warp(next_frames: torch.Tensor, fw: torch.Tensor, bw: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``next_frames`` (N, C, H, W) warped back along the forward flows ``fw`` (frame t -> t+1), and the mask
    (N, 1, H, W) of pixels that are neither occluded (forward/backward check) nor sampled outside the frame."""
    warped, inside = flow_warp(next_frames, fw)
    return warped, non_occlusion_mask(fw, bw) * inside


def warp_error_per_pair(frames: torch.Tensor, fw: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """Lai et al.'s E_warp (T-1,) of ``frames`` (T, 3, H, W) in [0, 1] with given flows (see module docstring)."""
    warped, mask = visible_warp(frames[1:], fw, bw)  # mask (T-1, 1, H, W)
    squared = (mask * (frames[:-1] - warped) ** 2).sum(dim=(1, 2, 3))
    return squared / (3 * mask.sum(dim=(1, 2, 3))).clamp(min=1)


@METRIC_REGISTRY.register()
def calculate_tof_raft(img: Sequence[np.ndarray], img2: Sequence[np.ndarray], crop_border: int = 0,
                       input_order: str = 'HWC', scale: float = 1.0, device: Union[str, torch.device] = 'cpu',
                       raft_model: str = 'large', raft_weights: Optional[str] = None, random_weights: bool = False,
                       num_flow_updates: int = 12, batch_size: int = 4, **kwargs) -> float:
    """tOF of SR ``img`` against GT ``img2`` with RAFT, StableVSR's definition (module docstring). Lower is better.

    Args:
        scale: multiplier (StableVSR reports x10). Default 1.
        raft_model, raft_weights: 'large' (default) or 'small'; checkpoint path (see ``optical_flow``).
        random_weights: tests only.
    """
    _check_sequences(img, img2)
    flow_fn = make_flow_fn('raft', device, raft_model, raft_weights, random_weights, num_flow_updates, normalize=False)
    sr, gt = frames_to_tensor(img, crop_border, input_order, device), frames_to_tensor(img2, crop_border, input_order,
                                                                                       device)
    return scale * tof_per_pair(flow_fn, sr, gt, batch_size).mean().item()


@METRIC_REGISTRY.register()
def calculate_ewarp(img: Sequence[np.ndarray], img2: Sequence[np.ndarray], crop_border: int = 0,
                    input_order: str = 'HWC', scale: float = 1.0, flow: str = 'raft',
                    device: Union[str, torch.device] = 'cpu', raft_model: str = 'large',
                    raft_weights: Optional[str] = None, random_weights: bool = False, num_flow_updates: int = 12,
                    batch_size: int = 4, **kwargs) -> float:
    """E_warp of SR ``img`` with flow from GT ``img2`` (module docstring). Lower is better.

    Args:
        scale: multiplier (papers report E*warp = x1000). Default 1.
        flow: 'raft' (default) or 'farneback' (offline fallback, not comparable with published numbers).
    """
    _check_sequences(img, img2)
    flow_fn = make_flow_fn(flow, device, raft_model, raft_weights, random_weights, num_flow_updates)
    gt = frames_to_tensor(img2, crop_border, input_order, device)
    fw, bw = forward_backward_flows(flow_fn, gt, batch_size)
    return scale * warp_error_per_pair(frames_to_tensor(img, crop_border, input_order, device), fw, bw).mean().item()


calculate_tof_raft.per_sequence = True
calculate_ewarp.per_sequence = True
