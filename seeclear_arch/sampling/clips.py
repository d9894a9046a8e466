"""Clip geometry: a sequence cut into clips with mirror padding, and base-network sliding windows."""
from typing import List, Tuple


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
