"""Inputs of ``seeclear_arch.evaluation.cli``: sequence discovery, checks with errors naming the folder/file, reading.

Layout: ``ROOT/<sequence>/<frames>`` for the GT, each method and the LR frames; frames are matched by sorted file
order (names may differ, e.g. ``00000000.png`` vs ``00000000_SeeClear.png``). Frames are read as 8-bit BGR.
"""
import os
from dataclasses import dataclass
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from basicsr.utils.matlab_functions import imresize

from seeclear_arch.data.frame_io import IMG_EXTENSIONS, list_frames


@dataclass(frozen=True)
class EvalSource:
    """One row of the table: a method's output root, or LR frames to upscale (``is_lq``, the bicubic row)."""

    name: str
    root: str
    is_lq: bool = False

    def describe(self) -> str:
        return f'--bicubic-from {self.root}' if self.is_lq else f'method {self.name!r} ({self.root})'


def list_sequences(root: str, what: str) -> Dict[str, List[str]]:
    """{sequence: sorted frame paths} of every sub-folder of ``root``; raise naming the folder when unusable."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'{what} root {root} does not exist.')
    seqs = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    if not seqs:
        raise FileNotFoundError(f'{what} root {root} has no sequence folders; expected {root}/<sequence>/<frames> '
                                f'({", ".join(IMG_EXTENSIONS)}).')
    return {s: [osp.join(root, s, n) for n in list_frames(osp.join(root, s), f'{what} sequence folder')]
            for s in seqs}


def read_frame(path: str) -> np.ndarray:
    """8-bit BGR (H, W, 3) frame; ``ValueError`` naming the file when OpenCV cannot decode it."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'cannot read frame {path}: missing, unreadable or not a valid image file.')
    return img


def _size(shape: Tuple[int, ...]) -> str:
    return f'{shape[1]}x{shape[0]}'


def check_size(path: str, shape: Tuple[int, ...], gt_path: str, gt_shape: Tuple[int, ...], scale: int,
               is_lq: bool = False) -> None:
    """Raise ``ValueError`` naming both files when a frame cannot be compared with its GT frame."""
    (h, w), (gh, gw) = shape[:2], gt_shape[:2]
    if is_lq:
        if (h * scale, w * scale) != (gh, gw):
            raise ValueError(f'LR frame {path} is {w}x{h}: x{scale} gives {w * scale}x{h * scale}, but GT frame '
                             f'{gt_path} is {gw}x{gh}; check --scale and --bicubic-from.')
        return
    if (h, w) == (gh, gw):
        return
    if (h * scale, w * scale) == (gh, gw):
        why = f'SR at the wrong scale: it has the LR size (GT / {scale}); expected x{scale} outputs of GT size.'
    elif abs(gh / h - gw / w) < 1e-6:
        why = f'SR at the wrong scale: GT is {gh / h:g} times its size; expected outputs of exactly the GT size.'
    else:
        why = 'size mismatch: SR frames must have exactly the GT size (crop them the same way).'
    raise ValueError(f'SR frame {path} is {w}x{h} but GT frame {gt_path} is {gw}x{gh}; {why}')


def check_sources(gt_seqs: Dict[str, List[str]], sources: Sequence[EvalSource], scale: int,
                  min_frames: int = 1) -> Dict[str, Dict[str, List[str]]]:
    """{source name: {sequence: frame paths}} after checking folders, frame counts and first-frame sizes."""
    for gt_paths in gt_seqs.values():
        if len(gt_paths) < min_frames:
            raise ValueError(f'GT sequence {osp.dirname(gt_paths[0])} has {len(gt_paths)} frame; temporal metrics '
                             f'need at least {min_frames}.')
    plan: Dict[str, Dict[str, List[str]]] = {}
    for source in sources:
        if not osp.isdir(source.root):
            raise FileNotFoundError(f'{source.describe()}: folder {source.root} does not exist.')
        plan[source.name] = {}
        for seq, gt_paths in gt_seqs.items():
            folder = osp.join(source.root, seq)
            if not osp.isdir(folder):
                raise FileNotFoundError(f'{source.describe()}: sequence {seq!r} is missing: no folder {folder} '
                                        f'(GT has {osp.dirname(gt_paths[0])}).')
            paths = [osp.join(folder, n) for n in list_frames(folder, 'sequence folder')]
            if len(paths) != len(gt_paths):
                raise ValueError(f'{source.describe()}: {folder} has {len(paths)} frames but GT '
                                 f'{osp.dirname(gt_paths[0])} has {len(gt_paths)}; frames are matched by sorted order.')
            check_size(paths[0], read_frame(paths[0]).shape, gt_paths[0], read_frame(gt_paths[0]).shape, scale,
                       source.is_lq)
            plan[source.name][seq] = paths
    return plan


def read_frames(paths: Sequence[str], gt: Optional[Sequence[np.ndarray]] = None,
                gt_paths: Optional[Sequence[str]] = None, scale: int = 4, is_lq: bool = False) -> List[np.ndarray]:
    """Read every frame once; with ``gt``, check each against its GT frame (``check_size``)."""
    frames = []
    for k, path in enumerate(paths):
        img = read_frame(path)
        if gt is not None:
            check_size(path, img.shape, gt_paths[k], gt[k].shape, scale, is_lq)
        frames.append(img)
    return frames


def bicubic_upscale(lq: np.ndarray, scale: int = 4) -> np.ndarray:
    """MATLAB-style bicubic x``scale`` (BasicSR ``imresize``, as used to make BI LR data) of a uint8 frame."""
    up = imresize(lq.astype(np.float32) / 255., scale)
    return np.clip(np.round(up * 255.), 0, 255).astype(np.uint8)


def bicubic_frames(lq_paths: Sequence[str], scale: int, gt: Sequence[np.ndarray],
                   gt_paths: Sequence[str]) -> List[np.ndarray]:
    """The bicubic row of one sequence: each LR frame read, size-checked against GT, upscaled."""
    return [bicubic_upscale(lq, scale) for lq in read_frames(lq_paths, gt, gt_paths, scale, is_lq=True)]
