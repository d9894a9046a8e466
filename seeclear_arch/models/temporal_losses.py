"""Temporal terms of the training loss (options ``train.temporal_opt`` and ``train.warp_opt``; docs/steadiness.md).

Both act on clips ``(R, m, C, H, W)`` of predicted ``x0`` and GT in [0, 1] and are added to the paper's pixel loss;
neither is in the paper (docs/formulation.md D18).

- ``temporal_difference``: frame-to-frame differences, compared with the GT's (no flow).
- ``WarpConsistency``: the short-term temporal loss of Lai et al. (ECCV 2018, Eq. 6), the training form of the
  E*warp metric: frame ``t`` against frame ``t + 1`` warped back along the GT's optical flow, on the pixels the
  forward/backward check calls visible (Ruder et al.). Flows come from the GT clip, without gradients, so the loss
  only pulls the prediction toward consistency along the true motion.
"""
from typing import Tuple

import torch
from torch import nn

from seeclear_arch.metrics.flow_metric import flow_pairs, make_flow_fn, visible_warp
from seeclear_arch.metrics.optical_flow import FlowFn

WARP_TARGETS = ('output', 'residual')  # train.warp_on: the predicted frames, or the prediction minus its condition


def warp_target(train_opt: dict) -> str:
    """``train.warp_on``, checked: ``'output'`` (default) or ``'residual'``, and only together with ``warp_opt``."""
    target = train_opt.get('warp_on', 'output')
    if target not in WARP_TARGETS:
        raise ValueError(f'train.warp_on must be one of {WARP_TARGETS}, got {target!r}.')
    if 'warp_on' in train_opt and not train_opt.get('warp_opt'):
        raise ValueError('train.warp_on is set, but train.warp_opt (the loss it configures) is not.')
    return target


def temporal_difference(frames: torch.Tensor) -> torch.Tensor:
    """``x_t - x_{t-1}`` along the frames of ``(B, m, C, H, W)`` clips: ``(B, m - 1, C, H, W)``."""
    return frames[:, 1:] - frames[:, :-1]


def pair_flows(flow_fn: FlowFn, gt: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward flows of every consecutive pair of the GT clips ``(R, m, 3, H, W)`` in [0, 1]:
    each ``(R * (m - 1), 2, H, W)``, pair ``(r, t)`` at row ``r * (m - 1) + t``."""
    with torch.no_grad():
        first, second = gt[:, :-1].flatten(0, 1).float(), gt[:, 1:].flatten(0, 1).float()
        return flow_pairs(flow_fn, first, second), flow_pairs(flow_fn, second, first)


class WarpConsistency(nn.Module):
    """Lai et al.'s short-term temporal loss on ``(R, m, C, H, W)`` predictions, flows from the GT clip.

    Args:
        loss: a BasicSR loss (e.g. ``CharbonnierLoss``), applied to ``(M * x_t, M * W(x_{t+1}))`` where ``W`` warps
            along the GT flow ``t -> t + 1`` and ``M`` is the GT's non-occlusion mask.
        flow: ``'farneback'`` (OpenCV, offline) or ``'raft'`` (torchvision RAFT-large from the standard cache).
    """

    def __init__(self, loss: nn.Module, flow: str = 'farneback', device='cpu'):
        super().__init__()
        self.loss = loss
        self.flow_fn = make_flow_fn(flow, device)

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        pred = pred.float()  # the sampling grid needs float32: in bf16 a 256-pixel frame's grid is off by pixels
        fw, bw = pair_flows(self.flow_fn, gt)  # no gradients: the mask depends on the flows only
        warped, mask = visible_warp(pred[:, 1:].flatten(0, 1), fw, bw)
        return self.loss(mask * pred[:, :-1].flatten(0, 1), mask * warped)
