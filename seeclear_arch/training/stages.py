"""Training stages (paper Sec. 4.1): which parameters a stage trains (``train.trainable``)."""
import re
from typing import Tuple

from torch import nn

TRAINABLE_MODES = ('all', 'memory', 'all_but_memory')


def select_trainable(net: nn.Module, mode: str, memory_pattern: str) -> Tuple[int, int]:
    """Freeze the parameters a training stage does not train; returns ``(trainable, total)`` counts.

    Never unfreezes: parameters the network froze itself (e.g. a pretrained semantic distiller) stay frozen.

    Args:
        net: the bare network.
        mode: ``'all'``; ``'memory'`` (only parameters whose name matches ``memory_pattern``: stage 2,
            CaTeGory alone); ``'all_but_memory'`` (everything else: stage 1, the pixel condenser).
        memory_pattern: regular expression searched in each parameter name (``re.search``).
    """
    if mode not in TRAINABLE_MODES:
        raise ValueError(f'train.trainable must be one of {TRAINABLE_MODES}, got {mode!r}')
    pattern = re.compile(memory_pattern)
    trainable = total = 0
    for name, param in net.named_parameters():
        is_memory = pattern.search(name) is not None
        on = param.requires_grad and (mode == 'all' or (mode == 'memory') == is_memory)
        param.requires_grad_(on)
        trainable += param.numel() if on else 0
        total += param.numel()
    if trainable == 0:
        raise ValueError(f'train.trainable={mode!r} with memory_pattern {memory_pattern!r} leaves no trainable '
                         f'parameter in {type(net).__name__}.')
    return trainable, total
