"""Shared clip sampler for the REDS and Vimeo-90K training datasets.

Every window of ``num_frame`` consecutive frames of every clip in the meta info file is one item
(a clip of ``n`` frames gives ``n - num_frame + 1`` items). With ``num_clips: K`` an item is ``K`` clips of one
sequence, clip ``k`` starting ``k * clip_stride`` frames after the first (consecutive, non-overlapping clips by
default: what the sampler sees when it carries CaTeGory's memory from clip to clip), so a clip of ``n`` frames gives
``n - (K - 1) * clip_stride - num_frame + 1`` items.  An item is read through BasicSR's
``FileClient`` (``io_backend: {type: disk}`` reads ``<root>/<clip>/<frame>.<filename_ext>``, ``{type: lmdb}``
reads key ``<clip>/<frame>`` from ``dataroot_lq`` / ``dataroot_gt`` made by ``scripts/create_lmdb.py``),
cropped at the same place in every frame, augmented identically across frames, and returned as

- ``lq``: ``(K * num_frame, 3, h, w)`` float32 RGB in [0, 1], the clips one after the other,
- ``gt``: ``(K * num_frame, 3, scale*h, scale*w)``, every frame supervised,
- ``cond`` (with ``dataroot_cond``): ``(K * num_frame, 3, scale*h, scale*w)``, the precomputed condition ``y``
  cropped at the GT crop and augmented with it,
- with ``whole_frame_lq``: ``lq_whole`` ``(K * num_frame, 3, H, W)`` the whole LR frames (same order, not
  augmented), ``crop`` ``(top, left, height, width)`` of the LR crop in them and ``flips`` ``(hflip, vflip, rot90)``
  as applied to the crop,
- ``key``: ``'<clip>/<first frame>'`` (the first frame in file order, also when reversed).

Options shared by subclasses (defaults in brackets):
    dataroot_gt, dataroot_lq (str): frame roots or LMDB folders.
    meta_info_file (str): clips to use, see ``meta_info.py``.
    io_backend (dict): ``{type: disk}`` [disk] or ``{type: lmdb}``.
    num_frame (int) [5]: frames per clip.
    num_clips (int) [1]: clips per item (``SeeClearModel`` trains CaTeGory's carried memory from them).
    clip_stride (int) [num_frame]: frames between the starts of an item's clips; smaller than ``num_frame`` makes
        them overlap (Vimeo-90K's 7-frame septuplets hold two 5-frame clips only with ``clip_stride: 2``).
    gt_size (int | None) [None]: GT crop size (multiple of ``scale``); None keeps whole frames.
    scale (int) [4]: set by BasicSR from the experiment's ``scale``.
    use_hflip, use_rot (bool) [False]: BasicSR's ``augment`` (flip; vertical flip + transpose).
    use_temporal_reverse (bool) [False]: reverse the frame order with probability 0.5.
    filename_ext (str) [png]: frame file extension for the disk backend.
    dataroot_cond (str | None) [None]: SeeClear*'s condition precomputed on whole frames by the frozen base network
        (``python -m seeclear_arch.data.condition_cache``), a folder laid out like the GT
        (``<clip>/<frame>.<cond_ext>``, HR size), always read from disk. The crop is taken from it at the GT crop, so
        training sees the base network's output on the whole frame, as at test, and the base network no longer runs
        at every training step.
    cond_ext ('npy' | 'png') [npy]: ``npy`` holds float32 BGR ``(H, W, 3)`` in [0, 1] (exact); ``png`` is 8-bit.
    whole_frame_lq (bool) [False]: also return the whole LR frames with the crop and flips, so that a frozen
        semantic distiller runs on whole frames in training, as at test (``SeeClearNet.whole_frame_semantics``).
        Items are batched, so every training frame must have the same size (REDS, Vimeo-90K), or batch size 1.
    non_rgb_frames ('convert' | 'error') ['convert']: see ``frame_io``.
    verify_files (bool | 'decode') [True]: at start-up, check that every clip folder (disk) or key (lmdb, from
        the LMDB's meta_info.txt) listed in the meta info file exists for both LQ and GT; ``decode`` also
        decodes every frame (in parallel, with a progress bar) and names every file that fails.
    max_bad_samples (int) [100]: at run time a frame that fails to decode is logged with its path and the
        sample is replaced by another random clip; after more than this many bad samples (per data-loading
        process) training stops with an error naming the last bad file. 0 stops at the first one.
"""
import copy
import os
import random
from concurrent.futures import ThreadPoolExecutor
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, get_root_logger
from torch.utils import data
from tqdm import tqdm

from seeclear_arch.data.frame_io import (
    FrameDecodeError,
    check_root,
    check_sequence,
    decode_frame,
    frames_to_tensor,
    list_frames,
)
from seeclear_arch.data.meta_info import ClipMeta, read_meta_info

DATA_HELP = 'See datasets/README.md for the expected folder layout and preparation commands.'


class BadFrameError(RuntimeError):
    """More frames failed to decode at run time than ``max_bad_samples`` allows."""


class SeeClearClipDataset(data.Dataset):
    """Base class: subclasses define ``frame_name`` and may filter clips with ``keep_clip``."""

    #: frame count assumed for meta info lines that give only the clip name (None: required)
    default_num_frames: Optional[int] = None

    def __init__(self, opt: dict):
        super().__init__()
        self.opt = copy.deepcopy(opt)
        self.scale = int(self.opt.get('scale', 4))
        self.num_frame = int(self.opt.get('num_frame', 5))
        self.num_clips = int(self.opt.get('num_clips', 1))
        self.clip_stride = int(self.opt.get('clip_stride', self.num_frame))
        self.span = (self.num_clips - 1) * self.clip_stride + self.num_frame  # frames an item covers
        self.gt_size = self.opt.get('gt_size')
        self.non_rgb = self.opt.get('non_rgb_frames', 'convert')
        self.ext = self.opt.get('filename_ext', 'png')
        self.backend = dict(self.opt.get('io_backend') or {'type': 'disk'})
        self.is_lmdb = self.backend.get('type') == 'lmdb'
        self.gt_root = self._check_root('dataroot_gt')
        self.lq_root = self._check_root('dataroot_lq')
        self.cond_root = self.opt.get('dataroot_cond')
        self.cond_ext = self.opt.get('cond_ext', 'npy')
        if self.cond_root is not None:
            self.cond_root = check_root(self.cond_root, 'dataroot_cond', 'disk')
        self.max_bad = int(self.opt.get('max_bad_samples', 100))
        self.num_bad = 0
        self.file_client = None
        self._check_options()
        self.meta_file = self.opt.get('meta_info_file')
        clips = read_meta_info(self.meta_file, default_num_frames=self.default_num_frames)
        self.clips = [c for c in clips if self.keep_clip(c.name)]
        self._check_clips()
        self.samples = [(c, s) for c in self.clips for s in range(c.num_frames - self.span + 1)]

    # ----------------------------------------------------------------- hooks
    def frame_name(self, index: int) -> str:
        """File stem (disk) or key suffix (lmdb) of frame ``index`` (0-based) of a clip."""
        raise NotImplementedError

    def keep_clip(self, name: str) -> bool:
        """Whether a clip of the meta info file is used (e.g. not held out for validation)."""
        return True

    # ------------------------------------------------------------ validation
    def _check_root(self, option: str) -> str:
        try:
            return check_root(self.opt.get(option), option, self.backend.get('type'))
        except FileNotFoundError as err:
            raise FileNotFoundError(f'{err} {DATA_HELP}') from None

    def _check_options(self) -> None:
        if self.num_frame < 1:
            raise ValueError(f'Option `num_frame` must be >= 1, got {self.num_frame}.')
        if self.num_clips < 1 or self.clip_stride < 1:
            raise ValueError(f'Options `num_clips` ({self.num_clips}) and `clip_stride` ({self.clip_stride}) must be '
                             '>= 1.')
        if self.gt_size is not None and int(self.gt_size) % self.scale:
            raise ValueError(f'Option `gt_size` ({self.gt_size}) must be a multiple of `scale` ({self.scale}).')
        if self.cond_ext not in ('npy', 'png'):
            raise ValueError(f"Option `cond_ext` must be 'npy' or 'png', got {self.cond_ext!r}.")
        if self.backend.get('type') not in ('disk', 'lmdb'):
            raise ValueError(f"Option `io_backend.type` must be 'disk' or 'lmdb', got {self.backend.get('type')!r}.")

    def _check_clips(self) -> None:
        if not self.clips:
            raise ValueError(f'No clip left to train on: meta info file {self.meta_file} lists none '
                             f'outside the held-out validation clips.')
        for clip in self.clips:
            if clip.num_frames < self.span:
                raise ValueError(f'Clip {clip.name} has {clip.num_frames} frames (meta info file {self.meta_file}), '
                                 f'fewer than the {self.span} an item needs (num_frame={self.num_frame}, '
                                 f'num_clips={self.num_clips}, clip_stride={self.clip_stride}); remove it or lower '
                                 'num_frame / num_clips / clip_stride.')
        verify = self.opt.get('verify_files', True)
        if verify not in (True, False, 'decode'):
            raise ValueError(f"Option `verify_files` must be true, false or 'decode', got {verify!r}.")
        if verify:
            (self._verify_lmdb if self.is_lmdb else self._verify_disk)()
            self._verify_cond()
        if verify == 'decode':
            self._verify_decode()

    def _expected_names(self, clip: ClipMeta) -> List[str]:
        return [self.frame_name(i) for i in range(clip.num_frames)]

    def _verify_disk(self) -> None:
        self._verify_folders([('LQ', self.lq_root, self.ext), ('GT', self.gt_root, self.ext)])

    def _verify_cond(self) -> None:
        if self.cond_root is not None:
            self._verify_folders([('condition (dataroot_cond)', self.cond_root, self.cond_ext)])

    def _verify_folders(self, roots: Sequence[Tuple[str, str, str]]) -> None:
        for clip in self.clips:
            found = {}
            for kind, root, ext in roots:
                folder = osp.join(root, clip.name)
                if ext == 'npy' and not osp.isdir(folder):
                    raise FileNotFoundError(f'{kind} clip folder {folder} does not exist. {DATA_HELP}')
                found[kind] = set(os.listdir(folder) if ext == 'npy' else list_frames(folder, f'{kind} clip folder'))
                wanted = [f'{n}.{ext}' for n in self._expected_names(clip)]
                missing = [n for n in wanted if n not in found[kind]]
                if missing:
                    raise FileNotFoundError(
                        f'{kind} clip folder {folder} has {len(found[kind])} frames but meta info file '
                        f'{self.meta_file} lists {clip.num_frames}; missing e.g. {", ".join(missing[:3])}. {DATA_HELP}')

    def _verify_lmdb(self) -> None:
        for kind, root in (('LQ', self.lq_root), ('GT', self.gt_root)):
            meta = osp.join(root, 'meta_info.txt')
            if not osp.isfile(meta):
                continue  # not made by BasicSR's lmdb_util: missing keys are reported when read
            with open(meta, 'r', encoding='utf-8') as f:
                keys = {osp.splitext(line.split(' ')[0])[0] for line in f}
            for clip in self.clips:
                missing = [f'{clip.name}/{n}' for n in self._expected_names(clip) if f'{clip.name}/{n}' not in keys]
                if missing:
                    raise KeyError(f'{kind} LMDB {root} lacks {len(missing)} key(s) of clip {clip.name} listed in '
                                   f'{self.meta_file}, e.g. {", ".join(missing[:3])}. {DATA_HELP}')

    def _decode_error(self, kind: str, clip: str, frame: str) -> Optional[str]:
        try:
            self._read(kind, clip, frame)
            return None
        except (ValueError, FileNotFoundError, KeyError) as err:
            return str(err)

    def _verify_decode(self) -> None:
        """Decode every LQ and GT frame of every clip (thread pool: OpenCV releases the GIL); raise naming all
        that fail."""
        jobs = [(kind, c.name, n) for c in self.clips for n in self._expected_names(c) for kind in ('lq', 'gt')]
        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            errors = [e for e in tqdm(pool.map(lambda job: self._decode_error(*job), jobs), total=len(jobs),
                                      desc='verify_files: decode', unit='frame', mininterval=1) if e]
        self.file_client = None  # LMDB handles are not shared with data-loading worker processes
        if errors:
            raise ValueError(f'verify_files: decode: {len(errors)} of {len(jobs)} frames cannot be read:\n  '
                             + '\n  '.join(errors) + f'\n{DATA_HELP}')

    # --------------------------------------------------------------- reading
    def _client(self) -> FileClient:
        if self.file_client is None:
            kwargs = {k: v for k, v in self.backend.items() if k != 'type'}
            if self.is_lmdb:
                kwargs.update(db_paths=[self.lq_root, self.gt_root], client_keys=['lq', 'gt'])
            self.file_client = FileClient(self.backend['type'], **kwargs)
        return self.file_client

    def _location(self, kind: str, clip: str, frame: str) -> str:
        if self.is_lmdb:
            return f'{clip}/{frame}'
        return osp.join(self.lq_root if kind == 'lq' else self.gt_root, clip, f'{frame}.{self.ext}')

    def _read(self, kind: str, clip: str, frame: str) -> Tuple[np.ndarray, str]:
        location = self._location(kind, clip, frame)
        name = f'{kind.upper()} LMDB key {location} in {self.lq_root if kind == "lq" else self.gt_root}' \
            if self.is_lmdb else location
        try:
            content = self._client().get(location, kind)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'Frame file {location} does not exist.') from err
        return decode_frame(content, name, self.non_rgb), name

    def _read_clip(self, clip: str, frames: Sequence[str]) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        lqs, lq_names = zip(*(self._read('lq', clip, f) for f in frames))
        gts, gt_names = zip(*(self._read('gt', clip, f) for f in frames))
        check_sequence(lqs, gts, self.scale, lq_names, gt_names)
        return list(lqs), list(gts)

    def _read_cond(self, clip: str, frames: Sequence[str], gts: Sequence[np.ndarray]) -> List[np.ndarray]:
        """The precomputed condition frames (``dataroot_cond``), checked against the GT frame size."""
        conds = []
        for frame, gt in zip(frames, gts):
            path = osp.join(self.cond_root, clip, f'{frame}.{self.cond_ext}')
            if self.cond_ext == 'npy':
                try:
                    cond = np.load(path).astype(np.float32, copy=False)
                except (OSError, ValueError) as err:
                    raise FrameDecodeError(f'Condition file {path} cannot be read: {err}') from err
            else:
                with open(path, 'rb') as f:
                    cond = decode_frame(f.read(), path, self.non_rgb)
            if cond.shape != gt.shape:
                raise ValueError(f'Condition file {path} has shape {cond.shape}, but its GT frame has {gt.shape}: '
                                 'dataroot_cond must hold the base network\'s HR output for every frame.')
            conds.append(cond)
        return conds

    # ------------------------------------------------------------- sampling
    def _crop(self, lqs: List[np.ndarray], gts: List[np.ndarray], key: str) -> Tuple[list, list]:
        if self.gt_size is None:
            return lqs, gts
        gts, lqs = paired_random_crop(gts, lqs, int(self.gt_size), self.scale, key)
        return (lqs if isinstance(lqs, list) else [lqs]), (gts if isinstance(gts, list) else [gts])

    def __getitem__(self, index: int) -> Dict[str, object]:
        """The clip at ``index``; a clip with a frame that fails to decode is logged and replaced by a random one."""
        while True:
            try:
                return self._get_clip(index)
            except FrameDecodeError as err:  # empty, truncated or not an image
                self._count_bad(err)
                index = random.randrange(len(self.samples))

    def _count_bad(self, err: Exception) -> None:
        self.num_bad += 1
        if self.num_bad > self.max_bad:
            raise BadFrameError(f'{self.num_bad} training samples had frames that fail to decode, more than '
                                f'max_bad_samples={self.max_bad}; the last: {err} Check the data with '
                                f'verify_files: decode. {DATA_HELP}') from err
        get_root_logger().warning(f'Skipping a training sample ({self.num_bad} so far, max_bad_samples='
                                  f'{self.max_bad}): {err}')

    def _get_clip(self, index: int) -> Dict[str, object]:
        clip, start = self.samples[index]
        frames = [self.frame_name(start + k * self.clip_stride + i) for k in range(self.num_clips)
                  for i in range(self.num_frame)]
        key = f'{clip.name}/{frames[0]}'
        if self.opt.get('use_temporal_reverse', False) and random.random() < 0.5:
            frames.reverse()
        lqs, gts = self._read_clip(clip.name, frames)
        # copied now: the crops are views of these frames, and augment flips them in place
        whole = frames_to_tensor(lqs) if self.opt.get('whole_frame_lq', False) else None
        m = len(lqs)
        if whole is not None:  # an LR map of its own (row, col) coordinates, cropped with the frames, tells the crop
            rows, cols = np.indices(lqs[0].shape[:2], dtype=np.float32)
            lqs = lqs + [np.stack([rows, cols, rows], axis=2)]
        if self.cond_root is None:
            lqs, gts = self._crop(lqs, gts, key)
        else:  # the condition is cropped with its GT frame: stacked along the channels for one random crop
            conds = self._read_cond(clip.name, frames, gts)
            lqs, stacked = self._crop(lqs, [np.concatenate(pair, axis=2) for pair in zip(gts, conds)], key)
            gts, conds = [s[..., :3] for s in stacked], [np.ascontiguousarray(s[..., 3:]) for s in stacked]
            gts = [np.ascontiguousarray(g) for g in gts] + conds  # augmented together below
        coords = lqs.pop() if whole is not None else None
        imgs, flips = augment(lqs + gts, self.opt.get('use_hflip', False), self.opt.get('use_rot', False),
                              return_status=True)
        item = {'lq': frames_to_tensor(imgs[:m]), 'gt': frames_to_tensor(imgs[m:2 * m]), 'key': key}
        if self.cond_root is not None:
            item['cond'] = frames_to_tensor(imgs[2 * m:])
        if whole is not None:
            item['lq_whole'] = whole
            item['crop'] = torch.tensor([int(coords[0, 0, 0]), int(coords[0, 0, 1]), *coords.shape[:2]])
            item['flips'] = torch.tensor([int(f) for f in flips])
        return item

    def __len__(self) -> int:
        return len(self.samples)
