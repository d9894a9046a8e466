"""The denoiser interface that ``SeeClearModel`` drives.

Any network registered in BasicSR's ``ARCH_REGISTRY`` can be SeeClear's denoiser if its
``forward`` follows this signature (subclassing :class:`ClipDenoiser` is optional; it only
supplies no-op defaults for the per-clip hooks)::

    x0_hat = net(x_t, y, lq, t, cond=None)

    x_t : (B, m, C, H, W)  diffusion state u_t in pixel space, HR size
    y   : (B, m, C, H, W)  conditioning frames at HR size (bicubic-upsampled LR, or a
                           frozen regression model's output for SeeClear*)
    lq  : (B, m, C, h, w)  the LR clip (h = H / scale), RGB in [0, 1]
    (x_t, y and the returned x0 are in the model's ``diffusion_range``, [-1, 1] by default)
    t   : (B,) float       diffusion step index in {1, ..., T} of the full schedule
    cond: whatever ``encode_condition(lq, y)`` returned for this clip, or None, in which
          case the network computes it itself (training goes this way so DDP sees the
          whole graph in ``forward``)
    returns the x0 prediction, (B, m, C, H, W)

Per-clip hooks, called by the model at inference (Algorithm 1 of the paper):

    cond = net.encode_condition(lq, y)   once per clip, before the diffusion steps
    net.end_clip()                       after the clip's final step (memory update)
    net.reset_memory()                   between sequences
"""
from typing import Any

import torch
from torch import nn


class ClipDenoiser(nn.Module):
    """Base class with no-op per-clip hooks; see the module docstring for the contract."""

    def encode_condition(self, lq: torch.Tensor, y: torch.Tensor) -> Any:
        return None

    def end_clip(self) -> None:
        """Called after the final diffusion step of a clip at inference."""

    def reset_memory(self) -> None:
        """Called before the first clip of each sequence at inference."""


def call_hook(net: nn.Module, name: str, *args: Any) -> Any:
    """Call a per-clip hook on ``net`` if it defines one (archs not derived from ClipDenoiser)."""
    hook = getattr(net, name, None)
    return hook(*args) if callable(hook) else None
