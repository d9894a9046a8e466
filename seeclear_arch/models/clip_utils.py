"""Free helpers of ``SeeClearModel``: clip splitting with mirror padding, base-network sliding windows,
and training-stage parameter selection."""
import re
from typing import List, Tuple

from torch import nn

TRAINABLE_MODES = ('all', 'memory', 'all_but_memory')


def mirror_index(i: int, num_frames: int) -> int:
    """Index ``i >= 0`` reflected into ``0..num_frames-1`` without repeating the edge frame.

    ``n = 4``: ``0 1 2 3 | 2 1 0 1 2 3 ...`` (period ``2 (n - 1)``); a single frame repeats itself.
    """
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    if num_frames == 1:
        return 0
    period = 2 * (num_frames - 1)
    i = i % period
    return i if i < num_frames else period - i


def split_clips(num_frames: int, clip_len: int) -> List[Tuple[List[int], int]]:
    """Non-overlapping clips of ``clip_len`` frames covering ``0..num_frames-1`` (Sec. 4.1 test protocol).

    Returns ``(indices, num_valid)`` per clip: ``indices`` has ``clip_len`` frame indices, the tail clip
    padded by mirroring (:func:`mirror_index`); only the first ``num_valid`` outputs are kept.
    """
    if clip_len < 1:
        raise ValueError(f'clip_len must be >= 1, got {clip_len}')
    clips = []
    for start in range(0, num_frames, clip_len):
        num_valid = min(clip_len, num_frames - start)
        clips.append(([mirror_index(start + k, num_frames) for k in range(clip_len)], num_valid))
    return clips


def window_indices(center: int, num_frames: int, window: int) -> List[int]:
    """The ``window`` frames centred on ``center``, mirrored at both ends (:func:`mirror_index`), for
    sliding-window base networks (EDVR, TDAN); works for sequences shorter than the window."""
    half = window // 2
    return [mirror_index(abs(center + k), num_frames) for k in range(-half, window - half)]


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
