"""The denoiser interface that ``SeeClearModel`` drives.

Any network registered in BasicSR's ``ARCH_REGISTRY`` can be SeeClear's denoiser if its
``forward`` follows this signature (subclassing :class:`ClipDenoiser` is optional; it only
supplies the defaults of the per-clip hooks)::

    x0_hat = net(x_t, y, lq, t, cond=None)

    x_t : (B, m, C, H, W)  diffusion state u_t in pixel space, HR size (as the process presents it to the
                           network: ResShift's input scaling applied)
    y   : (B, m, C, H, W)  conditioning frames at HR size (bicubic-upsampled LR, or a
                           frozen regression model's output for SeeClear*)
    lq  : (B, m, C, h, w)  the LR clip (h = H / scale), RGB in [0, 1]
    (x_t, y and the returned x0 are in the process's value range, [-1, 1] by default)
    t   : (B,) float       diffusion step index in {1, ..., T} of the full schedule
    cond: whatever ``encode_condition(lq, y)`` returned for this clip, or None, in which
          case the network computes it itself (training goes this way so DDP sees the
          whole graph in ``forward``)
    returns the x0 prediction, (B, m, C, H, W)

``forward`` has no side effects: calling it twice with the same inputs gives the same output.

Per-clip hooks, called by the sampling engine (``seeclear_arch.sampling.engine``, Algorithm 1 of the paper)::

    cond = net.encode_condition(lq, y, memory)          once per clip, before the diffusion steps; ``memory``: what
                                                        ``final_step`` returned for the previous clip of the
                                                        sequence (this tile's), or None (the learned memory: a
                                                        sequence's first clip, or ``val.carry_memory: false``)
    x0_hat = net(x_t, y, lq, t, cond)                   every step but the last
    x0_hat, memory = net.final_step(x_t, y, lq, t, cond)  the clip's last step, and the next clip's memory

The network holds no state between calls: the memory is a value that the engine owns (one per sequence and per
spatial tile) and passes back in. ``encode_condition`` is optional, and ``memory`` is only passed to networks
whose ``final_step`` returned one.

Training with consecutive clips (a dataset with ``num_clips > 1``): the model calls
``net(x_t, y, lq, t, chain=ClipChain(...))`` with the clips of each sequence as consecutive rows; a network
with a cross-clip memory builds each clip's memory from the previous clip. A network whose ``forward`` has no
``chain`` argument is trained on the clips independently.
"""
from dataclasses import dataclass
from typing import Any, Tuple

import torch
from torch import nn


@dataclass
class ClipChain:
    """Training rows that are ``num_clips`` consecutive clips per sequence (row ``b * num_clips + k`` is clip
    ``k`` of sequence ``b``). ``x_t``/``t``: every clip's state at the sampler's final step, from which a
    network builds the memory the next clip queries, as the sampler would."""

    x_t: torch.Tensor  # (B * num_clips, m, C, H, W)
    t: torch.Tensor  # (B * num_clips,) float
    num_clips: int


class ClipDenoiser(nn.Module):
    """Base class with default per-clip hooks; see the module docstring for the contract."""

    def encode_condition(self, lq: torch.Tensor, y: torch.Tensor, memory: Any = None) -> Any:
        return None

    def final_step(self, x_t: torch.Tensor, y: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
                   cond: Any) -> Tuple[torch.Tensor, Any]:
        """The clip's last network call: ``x0_hat`` and the next clip's memory (default: none)."""
        return self(x_t, y, lq, t, cond), None


def encode_condition(net: nn.Module, lq: torch.Tensor, y: torch.Tensor, memory: Any = None) -> Any:
    """``net.encode_condition(lq, y[, memory])`` where the net defines it (``memory`` only when there is one), else
    None."""
    hook = getattr(net, 'encode_condition', None)
    if not callable(hook):
        return None
    return hook(lq, y) if memory is None else hook(lq, y, memory)


def final_step(net: nn.Module, x_t: torch.Tensor, y: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
               cond: Any) -> Tuple[torch.Tensor, Any]:
    """``net.final_step`` where the net defines it, else a plain call with no memory to pass on."""
    hook = getattr(net, 'final_step', None)
    if callable(hook):
        return hook(x_t, y, lq, t, cond)
    return (net(x_t, y, lq, t) if cond is None else net(x_t, y, lq, t, cond)), None
