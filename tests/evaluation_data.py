"""Tiny synthetic GT / LR / method trees for the ``seeclear_arch.evaluate`` tests."""
import os
from os import path as osp
from typing import Dict, List

import cv2
import numpy as np

from seeclear_arch.data.prepare import bicubic_downscale


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random BGR uint8 texture."""
    noise = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32) * 255
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 255, 0, 255).astype(np.uint8)


def panning(num: int, seed: int, h: int = 32, w: int = 32, step: int = 1) -> List[np.ndarray]:
    """Frames of a window moving over a texture: content moves ``step`` px right per frame."""
    big = textured(h + 16, w + 16 + step * num, seed)
    x0 = 8 + step * num
    return [big[8:8 + h, x0 - step * t:x0 - step * t + w].copy() for t in range(num)]


def noisy(frames: List[np.ndarray], seed: int, amp: int = 12) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f.astype(np.int16) + rng.integers(-amp, amp + 1, f.shape), 0, 255).astype(np.uint8)
            for f in frames]


def write_seq(folder: str, frames: List[np.ndarray], suffix: str = '') -> List[str]:
    os.makedirs(folder, exist_ok=True)
    paths = [osp.join(folder, f'{k:08d}{suffix}.png') for k in range(len(frames))]
    for path, img in zip(paths, frames):
        cv2.imwrite(path, img)
    return paths


def make_trees(root: str, seqs: Dict[str, int], h: int = 32, w: int = 32) -> Dict[str, str]:
    """GT, BI x4 LR, a noisy method ('noisy', names with a suffix) and an exact copy ('same') of every sequence."""
    trees = {k: osp.join(root, k) for k in ('gt', 'lq', 'noisy', 'same')}
    for seed, (seq, n) in enumerate(seqs.items()):
        gt = panning(n, seed, h, w)
        write_seq(osp.join(trees['gt'], seq), gt)
        write_seq(osp.join(trees['lq'], seq), [bicubic_downscale(f, 4) for f in gt])
        write_seq(osp.join(trees['noisy'], seq), noisy(gt, seed), suffix='_out')
        write_seq(osp.join(trees['same'], seq), gt)
    return trees
