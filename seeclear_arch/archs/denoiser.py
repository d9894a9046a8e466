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

Per-clip hooks, called by the sampling engine (``seeclear_arch.models.sampling``, Algorithm 1 of the paper)::

    net.reset_memory()                                  before the first clip of a sequence
    cond = net.encode_condition(lq, y)                  once per clip, before the diffusion steps
    x0_hat = net(x_t, y, lq, t, cond)                   every step but the last
    x0_hat, update = net.final_step(x_t, y, lq, t, cond)  the clip's last step
    net.end_clip(update)                                after the clip, to carry ``update`` to the next clip
                                                        (skipped with ``val.carry_memory: false``)

With spatial tiles (``val.tile``) the engine keeps one carried memory per tile and switches between them with::

    state = net.memory_state()                          the carried memory (None: the learned one)
    net.load_memory_state(state)                        carry ``state`` instead (before ``encode_condition``
                                                        and ``end_clip`` of a tile)

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

    def encode_condition(self, lq: torch.Tensor, y: torch.Tensor) -> Any:
        return None

    def final_step(self, x_t: torch.Tensor, y: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
                   cond: Any) -> Tuple[torch.Tensor, Any]:
        """The clip's last network call: ``x0_hat`` and what :meth:`end_clip` carries (default: nothing)."""
        return self(x_t, y, lq, t, cond), None

    def end_clip(self, update: Any = None) -> None:
        """Called after the final diffusion step of a clip at inference."""

    def reset_memory(self) -> None:
        """Called before the first clip of each sequence at inference."""

    def memory_state(self) -> Any:
        """The state carried to the next clip (spatial tiles keep one per tile); default: none."""
        return None

    def load_memory_state(self, state: Any) -> None:
        """Carry ``state`` (from :meth:`memory_state`) instead of the current one; default: nothing to load."""


def call_hook(net: nn.Module, name: str, *args: Any) -> Any:
    """Call a per-clip hook on ``net`` if it defines one (archs not derived from ClipDenoiser)."""
    hook = getattr(net, name, None)
    return hook(*args) if callable(hook) else None


def final_step(net: nn.Module, x_t: torch.Tensor, y: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
               cond: Any) -> Tuple[torch.Tensor, Any]:
    """``net.final_step`` where the net defines it, else a plain call with nothing to carry."""
    hook = getattr(net, 'final_step', None)
    if callable(hook):
        return hook(x_t, y, lq, t, cond)
    return (net(x_t, y, lq, t) if cond is None else net(x_t, y, lq, t, cond)), None
