"""Flow-guided propagation of the sampled frames (``val.propagation``; docs/steadiness.md, docs/formulation.md D18).

Not in the paper. A training-free temporal filter of the kind video diffusion super-resolution uses at inference
(Upscale-A-Video's flow-guided recurrent propagation, applied here to the output frames instead of latents): each
output frame is pulled toward the previous *output* frame warped along the optical flow of the *condition* frames,
on the pixels where that flow is trustworthy,

    x_t <- x_t + a * M_t * (W_{t->t-1}(x_{t-1}) - x_t),

where ``W_{t->t-1}`` warps backward along the condition's flow ``y_t -> y_{t-1}``, ``a`` is the strength and ``M_t``
is 1 where the forward/backward check of the condition's flows calls the pixel visible and the warped previous
condition agrees with ``y_t`` to within ``threshold`` levels (mean over channels), else 0. The recursion uses the
already filtered ``x_{t-1}``, so it carries from clip to clip and chunk to chunk: the engine owns the state
(:class:`PropagationState`, the last output and condition frames) as it owns the CaTeGory memory. The flow comes from
the condition (bicubic or the frozen base network), never from the GT, so it works on user videos. ``a = 0`` is off.
"""
from typing import NamedTuple, Optional, Tuple

import torch

from seeclear_arch.metrics.flow_metric import make_flow_fn
from seeclear_arch.metrics.optical_flow import flow_warp, non_occlusion_mask

FLOWS = ('farneback', 'raft')


class PropagationState(NamedTuple):
    """What the next frame is fused with: the last output frame and its condition, each ``(B, C, H, W)``."""
    output: torch.Tensor
    condition: torch.Tensor


class FlowPropagation:
    """Recurrent flow-guided fusion of consecutive output frames (see the module docstring).

    Args:
        strength: ``a`` in [0, 1]: the weight of the warped previous output on trusted pixels (0: off).
        threshold: 8-bit levels; pixels whose warped previous condition differs from the condition by more (mean
            over channels) are left alone (occlusions the flow check misses, lighting changes).
        flow: ``'farneback'`` (OpenCV, CPU) or ``'raft'`` (torchvision RAFT-large from the standard torch cache).
    """

    def __init__(self, strength: float, threshold: float = 16.0, flow: str = 'farneback'):
        if not 0 <= strength <= 1:
            raise ValueError(f'val.propagation (the strength) must be in [0, 1], got {strength}.')
        if not threshold > 0:
            raise ValueError(f'val.propagation_threshold must be > 0 (8-bit levels), got {threshold}.')
        if flow not in FLOWS:
            raise ValueError(f'val.propagation_flow must be one of {FLOWS}, got {flow!r}.')
        self.strength, self.threshold, self.flow = float(strength), float(threshold), flow
        self._flow_fn = None  # built on first use, on the frames' device (RAFT loads its weights then)

    def __repr__(self) -> str:
        return f'FlowPropagation(strength={self.strength}, threshold={self.threshold}, flow={self.flow!r})'

    def fuse(self, frame: torch.Tensor, condition: torch.Tensor,
             state: Optional[PropagationState]) -> Tuple[torch.Tensor, PropagationState]:
        """One frame ``(B, C, H, W)`` in [0, 1] and its condition -> the fused frame and the next state."""
        if state is not None and self.strength > 0:
            if self._flow_fn is None:
                self._flow_fn = make_flow_fn(self.flow, condition.device)
            back = self._flow_fn(condition, state.condition)  # t -> t-1: where each pixel of frame t was in t-1
            forth = self._flow_fn(state.condition, condition)
            # the previous condition and output in one warp (one sampling grid per frame)
            warped, inside = flow_warp(torch.cat([state.condition, state.output], dim=1), back)
            warped_condition, warped_output = warped.split([condition.size(1), frame.size(1)], dim=1)
            agrees = (condition - warped_condition).abs().mean(dim=1, keepdim=True) * 255 <= self.threshold
            mask = non_occlusion_mask(back, forth) * inside * agrees.to(condition.dtype)
            frame = (frame + self.strength * mask * (warped_output - frame)).clamp(0, 1)
        return frame, PropagationState(frame.clone(), condition.clone())  # own storage: a saved state is one frame

    def apply(self, frames: torch.Tensor, conditions: torch.Tensor,
              state: Optional[PropagationState] = None) -> Tuple[torch.Tensor, Optional[PropagationState]]:
        """Frames ``(B, n, C, H, W)`` in order, their conditions, and the state after the frame before them ->
        the fused frames and the state after the last one."""
        fused = []
        for t in range(frames.size(1)):
            frame, state = self.fuse(frames[:, t], conditions[:, t], state)
            fused.append(frame)
        return torch.stack(fused, dim=1), state


def propagation_options(val_opt: dict) -> Optional[FlowPropagation]:
    """``val.propagation`` (strength, 0 or absent: off), ``val.propagation_threshold`` [16],
    ``val.propagation_flow`` [farneback] as a :class:`FlowPropagation`, or None when off."""
    strength = float(val_opt.get('propagation') or 0)
    threshold = float(val_opt.get('propagation_threshold', 16.0))
    flow = str(val_opt.get('propagation_flow', 'farneback'))
    propagation = FlowPropagation(strength, threshold, flow)  # checks every value, even when off
    return propagation if strength > 0 else None
