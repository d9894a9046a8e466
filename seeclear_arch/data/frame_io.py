"""Frame reading with clear errors, shared by every SeeClear dataset and data script.

Colour policy (option ``non_rgb_frames``): grayscale frames are replicated to three channels and RGBA frames
lose their alpha channel, each with a ``UserWarning`` naming the file (``'convert'``, the default); with
``'error'`` such frames raise instead.  16-bit frames are scaled by 1/65535.  Frames are returned as float32
BGR ``(H, W, 3)`` in ``[0, 1]`` (OpenCV order, as BasicSR's transforms expect); ``frames_to_tensor`` turns a
list of them into an RGB ``(T, 3, H, W)`` tensor.
"""
import os
import warnings
from os import path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch
from basicsr.utils import img2tensor

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
NON_RGB_POLICIES = ('convert', 'error')


def is_image_file(name: str) -> bool:
    """Whether ``name`` has one of the image extensions in ``IMG_EXTENSIONS`` (case-insensitive)."""
    return name.lower().endswith(IMG_EXTENSIONS)


def _data_hint(path: str) -> str:
    """What creates a missing folder of the shipped ymls (datasets/README.md has every tree)."""
    if 'datasets/demo' in path.replace(os.sep, '/'):
        return (' The demo data is made offline by `python -m scripts.prepare_demo_data` (or `bash '
                'scripts/quickstart.sh`) run from the repository root, where the shipped ymls expect to be run.')
    return ' datasets/README.md says how to lay out and prepare REDS, Vimeo-90K and Vid4.'


def check_root(path: Optional[str], option: str, backend: str = 'disk') -> str:
    """Return ``path`` if it is an existing, non-empty data folder (or LMDB); raise naming ``option`` otherwise."""
    if not path:
        raise ValueError(f'Option `{option}` is required but not set.')
    path = str(path)
    if not osp.isdir(path):
        where = '' if osp.isabs(path) else f' (a relative path, read from the working directory {os.getcwd()})'
        raise FileNotFoundError(f'Option `{option}`: data folder {path} does not exist{where}.{_data_hint(path)}')
    if backend == 'lmdb' and not osp.isfile(osp.join(path, 'data.mdb')):
        raise FileNotFoundError(f'Option `{option}`: {path} is not an LMDB (no data.mdb inside); '
                                'create one with `python -m scripts.create_lmdb` or use io_backend type disk.')
    if not os.listdir(path):
        raise FileNotFoundError(f'Option `{option}`: data folder {path} is empty.')
    return path


def list_frames(folder: str, what: str = 'frame folder') -> List[str]:
    """Sorted image file names in ``folder``; raise if the folder is missing or holds no image."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{what} {folder} does not exist.')
    names = sorted(n for n in os.listdir(folder) if is_image_file(n))
    if not names:
        raise FileNotFoundError(f'{what} {folder} contains no image files ({", ".join(IMG_EXTENSIONS)}).')
    return names


def _to_float(img: np.ndarray, name: str) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.
    raise ValueError(f'Frame {name} has unsupported pixel type {img.dtype}; expected 8- or 16-bit images.')


def _to_three_channels(img: np.ndarray, name: str, non_rgb: str) -> np.ndarray:
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels == 3:
        return img
    if channels not in (1, 4):
        raise ValueError(f'Frame {name} has {channels} channels; expected 3 (RGB), 1 (gray) or 4 (RGBA).')
    kind = 'grayscale' if channels == 1 else 'RGBA'
    if non_rgb == 'error':
        raise ValueError(f'Frame {name} is {kind}, but non_rgb_frames is "error"; expected a 3-channel RGB image.')
    warnings.warn(f'Frame {name} is {kind}; converted to RGB (set non_rgb_frames: error to refuse).', UserWarning,
                  stacklevel=3)
    if channels == 1:
        return np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


class FrameDecodeError(ValueError):
    """A frame file or LMDB value is empty, truncated or not an image."""


def decode_frame(content: Optional[bytes], name: str, non_rgb: str = 'convert') -> np.ndarray:
    """Decode image bytes to float32 BGR ``(H, W, 3)`` in [0, 1]; ``name`` (file or LMDB key) is used in errors."""
    if non_rgb not in NON_RGB_POLICIES:
        raise ValueError(f'Option `non_rgb_frames` must be one of {NON_RGB_POLICIES}, got {non_rgb!r}.')
    if content is None:
        raise FileNotFoundError(f'Frame {name} not found.')
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED) if len(content) else None
    if img is None:
        raise FrameDecodeError(f'Cannot decode frame {name}: the file is empty, truncated or not an image.')
    return _to_three_channels(_to_float(img, name), name, non_rgb)


def read_frame_file(path: str, non_rgb: str = 'convert') -> np.ndarray:
    """Read one frame from disk as float32 BGR ``(H, W, 3)`` in [0, 1] (see ``decode_frame``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Frame file {path} does not exist.')
    with open(path, 'rb') as f:
        return decode_frame(f.read(), path, non_rgb)


def check_same_size(imgs: Sequence[np.ndarray], names: Sequence[str]) -> None:
    """Raise if the frames of one sequence differ in size, naming the first odd file."""
    h, w = imgs[0].shape[:2]
    for img, name in zip(imgs, names):
        if img.shape[:2] != (h, w):
            raise ValueError(f'Frame {name} is {img.shape[0]}x{img.shape[1]} (HxW) but {names[0]} is {h}x{w}; '
                             'all frames of a sequence must have the same size.')


def check_scale(lq: np.ndarray, gt: np.ndarray, scale: int, lq_name: str, gt_name: str) -> None:
    """Raise unless the GT frame is exactly ``scale`` times the LQ frame, giving both sizes and files."""
    (h, w), (hg, wg) = lq.shape[:2], gt.shape[:2]
    if (hg, wg) != (h * scale, w * scale):
        raise ValueError(f'GT frame {gt_name} is {hg}x{wg} (HxW) but LQ frame {lq_name} is {h}x{w}; '
                         f'expected GT = {scale} x LQ = {h * scale}x{w * scale}.')


def check_sequence(lqs: Sequence[np.ndarray], gts: Optional[Sequence[np.ndarray]], scale: int,
                   lq_names: Sequence[str], gt_names: Optional[Sequence[str]]) -> None:
    """Check every GT frame against its LQ frame (``scale`` x), then that all LQ frames have one size."""
    if gts is not None:
        for lq, gt, lq_name, gt_name in zip(lqs, gts, lq_names, gt_names):
            check_scale(lq, gt, scale, lq_name, gt_name)
    check_same_size(lqs, lq_names)


def frames_to_tensor(imgs: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack float32 BGR ``(H, W, 3)`` frames into an RGB ``(T, 3, H, W)`` float32 tensor."""
    return torch.stack(img2tensor(list(imgs), bgr2rgb=True, float32=True), dim=0)
