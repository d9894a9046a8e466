"""Helpers writing tiny synthetic frame trees (REDS-, Vimeo- and Vid4-like) for tests/data."""
import os
from os import path as osp
from typing import Dict, List

import cv2
import numpy as np

from seeclear_arch.data.prepare import generate_bicubic_lr, generate_meta_info

GT_H, GT_W = 48, 64  # LQ 12x16


def noise_frames(n: int, seed: int, h: int = GT_H, w: int = GT_W) -> List[np.ndarray]:
    """Random uint8 BGR frames: any misaligned crop is obvious."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def write_frames(folder: str, frames: List[np.ndarray], names: List[str]) -> None:
    os.makedirs(folder, exist_ok=True)
    for img, name in zip(frames, names):
        cv2.imwrite(osp.join(folder, name), img)


def make_tree(root: str, clips: Dict[str, int], naming) -> Dict[str, str]:
    """GT frames under root/GT/<clip>, BI x4 LQ under root/LQ, meta info at root/meta.txt."""
    gt, lq = osp.join(root, 'GT'), osp.join(root, 'LQ')
    for seed, (clip, n) in enumerate(clips.items()):
        write_frames(osp.join(gt, clip), noise_frames(n, seed), [naming(i) for i in range(n)])
    generate_bicubic_lr(gt, lq, 4)
    meta = osp.join(root, 'meta.txt')
    generate_meta_info(gt, meta)
    return {'gt': gt, 'lq': lq, 'meta': meta}


def reds_opt(tree: Dict[str, str], **kwargs) -> dict:
    opt = {'name': 'reds', 'type': 'SeeClearREDSDataset', 'dataroot_gt': tree['gt'], 'dataroot_lq': tree['lq'],
           'meta_info_file': tree['meta'], 'val_partition': 'REDS4', 'io_backend': {'type': 'disk'},
           'num_frame': 3, 'gt_size': None, 'scale': 4}
    opt.update(kwargs)
    return opt
