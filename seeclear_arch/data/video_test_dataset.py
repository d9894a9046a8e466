"""Whole-sequence test dataset for SeeClear (registered as ``SeeClearVideoTestDataset``)."""
import copy
import os
from dataclasses import dataclass
from os import path as osp
from typing import Dict, List, Optional, Sequence, Union

import torch
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data

from seeclear_arch.data.frame_io import (
    check_root,
    check_sequence,
    frames_to_tensor,
    list_frames,
    read_frame_file,
)
from seeclear_arch.data.meta_info import read_meta_info


@dataclass(frozen=True)
class _Sequence:
    folder: str
    frame_names: List[str]
    lq_paths: List[str]
    gt_paths: Optional[List[str]]


def frame_names_from_batch(frame_names: Sequence[Union[str, Sequence[str]]]) -> List[str]:
    """Frame names of one sequence, from a dataset item or a batch of one.

    PyTorch's default collate (BasicSR's dataloader) turns the item's ``['a', 'b']`` into ``[('a',), ('b',)]``;
    this undoes it.  Only batch size 1 is meaningful: sequences differ in length.
    """
    names = []
    for name in frame_names:
        if isinstance(name, str):
            names.append(name)
        elif len(name) == 1:
            names.append(name[0])
        else:
            raise ValueError(f'frame_names of a batch of {len(name)} sequences; use batch_size 1 for video tests.')
    return names


@DATASET_REGISTRY.register()
class SeeClearVideoTestDataset(data.Dataset):
    """One item per sequence folder: ``<dataroot_lq>/<folder>/<frames>`` (Vid4, REDS4, any user folders).

    Frames are the image files of each folder in sorted order; LQ and GT frames are paired by that order.
    Sequences of any length are served (clip splitting and tail padding belong to the model).

    Options (defaults in brackets):
        dataroot_lq (str): required.
        dataroot_gt (str | None) [None]: optional; when set, every folder needs as many GT frames, ``scale`` x.
        scale (int) [4]: set by BasicSR from the experiment's ``scale``.
        meta_info_file (str) [None]: folders to use (first word of each line).
        folders (list[str]) [None]: folders to use (overrides meta_info_file); default: every sub-folder.
        cache_data (bool) [False]: read every sequence once at start-up and keep it in memory.
        io_backend (dict) [{type: disk}]: only disk is supported.
        non_rgb_frames ('convert' | 'error') ['convert']: see ``frame_io``.

    Item: ``lq`` ``(N, 3, h, w)``; ``gt`` ``(N, 3, scale*h, scale*w)`` when ``dataroot_gt`` is set; ``folder``
    (str); ``frame_names`` (list[str], LQ file stems; after BasicSR's dataloader with batch_size 1 a list of
    1-tuples, see ``frame_names_from_batch``); ``lq_path`` (the LQ sequence folder).  ``data_info`` lists
    ``folder``, ``lq_path``, ``gt_path``, ``idx`` per frame, as BasicSR's ``VideoRecurrentModel`` expects.
    """

    def __init__(self, opt: dict):
        super().__init__()
        self.opt = copy.deepcopy(opt)
        self.scale = int(self.opt.get('scale', 4))
        self.non_rgb = self.opt.get('non_rgb_frames', 'convert')
        backend = (self.opt.get('io_backend') or {}).get('type', 'disk')
        if backend != 'disk':
            raise ValueError(f"SeeClearVideoTestDataset reads frame folders: io_backend type must be 'disk', "
                             f'got {backend!r}.')
        self.lq_root = check_root(self.opt.get('dataroot_lq'), 'dataroot_lq')
        gt_root = self.opt.get('dataroot_gt')
        self.gt_root = check_root(gt_root, 'dataroot_gt') if gt_root else None
        self.sequences = [self._scan(folder) for folder in self._select_folders()]
        self.data_info = self._data_info()
        self.cache = {i: self._load(s) for i, s in enumerate(self.sequences)} if self.opt.get('cache_data') else {}

    def _select_folders(self) -> List[str]:
        if self.opt.get('folders'):
            folders = [str(f) for f in self.opt['folders']]
        elif self.opt.get('meta_info_file'):
            folders = [c.name for c in read_meta_info(self.opt['meta_info_file'], default_num_frames=0)]
        else:
            folders = sorted(f for f in os.listdir(self.lq_root) if osp.isdir(osp.join(self.lq_root, f)))
            if not folders:
                raise FileNotFoundError(f'Option `dataroot_lq`: {self.lq_root} has no sequence sub-folders.')
        return folders

    def _scan(self, folder: str) -> _Sequence:
        lq_dir = osp.join(self.lq_root, folder)
        lq_names = list_frames(lq_dir, 'LQ sequence folder')
        gt_paths = None
        if self.gt_root is not None:
            gt_dir = osp.join(self.gt_root, folder)
            gt_names = list_frames(gt_dir, 'GT sequence folder')
            if len(gt_names) != len(lq_names):
                raise ValueError(f'Sequence {folder}: {len(lq_names)} LQ frames in {lq_dir} but {len(gt_names)} '
                                 f'GT frames in {gt_dir}; expected the same number.')
            gt_paths = [osp.join(gt_dir, n) for n in gt_names]
        stems = [osp.splitext(n)[0] for n in lq_names]
        return _Sequence(folder, stems, [osp.join(lq_dir, n) for n in lq_names], gt_paths)

    def _data_info(self) -> Dict[str, list]:
        info = {'folder': [], 'lq_path': [], 'gt_path': [], 'idx': []}
        for seq in self.sequences:
            n = len(seq.lq_paths)
            info['folder'].extend([seq.folder] * n)
            info['lq_path'].extend(seq.lq_paths)
            info['gt_path'].extend(seq.gt_paths or [None] * n)
            info['idx'].extend(f'{i}/{n}' for i in range(n))
        return info

    def _load(self, seq: _Sequence) -> Dict[str, torch.Tensor]:
        lqs = [read_frame_file(p, self.non_rgb) for p in seq.lq_paths]
        gts = None if seq.gt_paths is None else [read_frame_file(p, self.non_rgb) for p in seq.gt_paths]
        check_sequence(lqs, gts, self.scale, seq.lq_paths, seq.gt_paths)
        out = {'lq': frames_to_tensor(lqs)}
        if gts is not None:
            out['gt'] = frames_to_tensor(gts)
        return out

    def __getitem__(self, index: int) -> Dict[str, object]:
        seq = self.sequences[index]
        tensors = self.cache[index] if index in self.cache else self._load(seq)
        item = dict(tensors)
        item.update(folder=seq.folder, frame_names=list(seq.frame_names), lq_path=osp.join(self.lq_root, seq.folder))
        return item

    def __len__(self) -> int:
        return len(self.sequences)
