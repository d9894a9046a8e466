"""Activation (gradient) checkpointing of network blocks.

A checkpointed block keeps only its inputs during the forward pass and runs again during the backward pass to
rebuild its activations (Chen et al., "Training Deep Nets with Sublinear Memory Cost", 2016), through PyTorch's
non-reentrant ``torch.utils.checkpoint.checkpoint``, which accepts any inputs (dataclasses, tensors that need no
gradient), restores the RNG state for the recomputation and gives the same gradients as the plain pass.
"""
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def checkpoint_block(enabled: bool, block: Callable[..., Any], *args: Any) -> Any:
    """``block(*args)``, checkpointed when ``enabled``, ``block`` (a module or a module's method) is training and
    gradients are on.

    In eval mode or under ``torch.no_grad`` (sampling, the gradient-free passes of training) it is a plain call.
    """
    owner = getattr(block, '__self__', block)
    training = owner.training if isinstance(owner, nn.Module) else True
    if enabled and training and torch.is_grad_enabled():
        return checkpoint(block, *args, use_reentrant=False)
    return block(*args)
