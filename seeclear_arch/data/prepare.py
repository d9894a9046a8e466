"""Data preparation: BI x4 low-resolution frames, LMDB, meta info files, REDS splits.

The ``scripts/`` CLIs are thin wrappers around these functions.  A *frame folder* is any folder that directly
holds image files; trees are walked recursively, so REDS (``000/00000000.png``), Vimeo-90K
(``00001/0001/im1.png``) and Vid4 (``calendar/0000.png``) all work.
"""
import os
import shutil
from os import path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from basicsr.utils.lmdb_util import make_lmdb_from_imgs
from basicsr.utils.matlab_functions import imresize

from seeclear_arch.data.frame_io import is_image_file, list_frames
from seeclear_arch.data.meta_info import REDS4_CLIPS, REDS_OFFICIAL_VAL_OFFSET, ClipMeta, write_meta_info


def find_frame_folders(root: str) -> List[str]:
    """Sorted folders (relative to ``root``, '/'-separated) that directly hold image files."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'Folder {root} does not exist.')
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if any(is_image_file(f) for f in filenames):
            found.append(osp.relpath(dirpath, root).replace(os.sep, '/'))
    if not found:
        raise FileNotFoundError(f'Folder {root} holds no image files (searched recursively).')
    return sorted(found)


def bicubic_downscale(img: np.ndarray, scale: int = 4, name: str = 'image') -> np.ndarray:
    """MATLAB-style bicubic (BasicSR ``imresize``, antialiased) ``1/scale`` downscale of a uint8 HWC image."""
    h, w = img.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'{name} is {h}x{w} (HxW), not divisible by scale {scale}; crop it to '
                         f'{h - h % scale}x{w - w % scale} first.')
    lr = imresize(img.astype(np.float32) / 255., 1. / scale)
    return np.clip(np.round(lr * 255.), 0, 255).astype(np.uint8)


def _read_uint8(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'Cannot read image {path}: missing, truncated or not an image.')
    return img


def generate_bicubic_lr(gt_root: str, lq_root: str, scale: int = 4, overwrite: bool = False) -> int:
    """Write the BI x``scale`` LR of every frame under ``gt_root`` to the same relative path (as PNG) under
    ``lq_root``; return the number of frames.  Existing outputs are kept unless ``overwrite``."""
    count = 0
    for folder in find_frame_folders(gt_root):
        out_dir = osp.join(lq_root, folder)
        os.makedirs(out_dir, exist_ok=True)
        for name in list_frames(osp.join(gt_root, folder)):
            out_path = osp.join(out_dir, osp.splitext(name)[0] + '.png')
            if overwrite or not osp.exists(out_path):
                src = osp.join(gt_root, folder, name)
                cv2.imwrite(out_path, bicubic_downscale(_read_uint8(src), scale, src))
            count += 1
    return count


def collect_frames(root: str) -> Tuple[List[str], List[str]]:
    """Relative image paths under ``root`` and their LMDB keys (relative path without extension)."""
    paths, keys = [], []
    for folder in find_frame_folders(root):
        for name in list_frames(osp.join(root, folder)):
            rel = name if folder == '.' else f'{folder}/{name}'
            paths.append(rel)
            keys.append(osp.splitext(rel)[0])
    return paths, keys


def make_lmdb(src_root: str, lmdb_path: str, compress_level: int = 1) -> int:
    """LMDB of every frame under ``src_root`` with keys ``clip/frame`` (e.g. ``000/00000000``,
    ``00001/0001/im1``) via BasicSR's ``make_lmdb_from_imgs``; return the number of frames."""
    if not lmdb_path.endswith('.lmdb'):
        raise ValueError(f'LMDB path must end with .lmdb, got {lmdb_path}.')
    if osp.exists(lmdb_path):
        raise FileExistsError(f'LMDB {lmdb_path} already exists; remove it first.')
    paths, keys = collect_frames(src_root)
    make_lmdb_from_imgs(src_root, lmdb_path, paths, keys, compress_level=compress_level)
    return len(paths)


def clip_meta(root: str, folder: str) -> ClipMeta:
    """Meta info of one frame folder: frame count and the first frame's (h, w, 3) shape."""
    names = list_frames(osp.join(root, folder))
    img = _read_uint8(osp.join(root, folder, names[0]))
    return ClipMeta(folder, len(names), (img.shape[0], img.shape[1], 3))


def generate_meta_info(root: str, out_file: str, exclude: Sequence[str] = ()) -> List[ClipMeta]:
    """Write a meta info file (``clip num_frames (h,w,c)`` per frame folder under ``root``), skipping ``exclude``."""
    clips = [clip_meta(root, f) for f in find_frame_folders(root) if f not in set(exclude)]
    if not clips:
        raise ValueError(f'No clip left under {root} after excluding {list(exclude)}.')
    write_meta_info(out_file, clips)
    return clips


def regroup_reds_val(val_root: str, train_root: str, offset: int = REDS_OFFICIAL_VAL_OFFSET) -> List[str]:
    """Move REDS ``val_*`` clips 000..029 into the train folder as 240..269 (BasicSR's ``regroup_reds_dataset``)."""
    clips = sorted(f for f in os.listdir(val_root) if osp.isdir(osp.join(val_root, f)))
    targets = [osp.join(train_root, f'{int(c) + offset:03d}') for c in clips]
    clash = [t for t in targets if osp.exists(t)]
    if clash:
        raise FileExistsError(f'Regrouping would overwrite {clash[0]}; REDS val looks regrouped already.')
    for clip, target in zip(clips, targets):
        shutil.move(osp.join(val_root, clip), target)
    return [osp.basename(t) for t in targets]


def make_reds4(train_gt: str, train_lq: str, out_root: str, clips: Sequence[str] = REDS4_CLIPS,
               symlink: bool = True, lq_name: str = 'sharp_bicubic') -> None:
    """Build ``<out_root>/GT/<clip>`` and ``<out_root>/<lq_name>/<clip>`` for the REDS4 test set (BasicSR layout)."""
    for src_root, kind in ((train_gt, 'GT'), (train_lq, lq_name)):
        os.makedirs(osp.join(out_root, kind), exist_ok=True)
        for clip in clips:
            src, dst = osp.abspath(osp.join(src_root, clip)), osp.join(out_root, kind, clip)
            list_frames(src, 'REDS clip folder')
            if osp.lexists(dst):
                continue
            if symlink:
                os.symlink(src, dst, target_is_directory=True)
            else:
                shutil.copytree(src, dst)


def ensure_absent(paths: Sequence[str], overwrite: bool) -> None:
    """Remove ``paths`` if ``overwrite``, else raise if any exists."""
    for p in paths:
        if not osp.lexists(p):
            continue
        if not overwrite:
            raise FileExistsError(f'{p} already exists; pass overwrite (--overwrite) to replace it.')
        if osp.isdir(p) and not osp.islink(p):
            shutil.rmtree(p)
        else:
            os.remove(p)


def optional_list(text: Optional[str]) -> List[str]:
    """Split a comma-separated CLI value ('' or None gives [])."""
    return [t for t in (text or '').split(',') if t]
