"""Exact and atomic training resume: RNG states, data position, atomic files, complete checkpoint pairs.

BasicSR 1.4.2 saves the weights (``models/net_g_<iter>.pth``) and the optimizer/scheduler state
(``training_states/<iter>.state``), written in place, and resumes from the highest ``.state``. This module holds
the pieces that make a resumed run continue exactly as the uninterrupted one; ``seeclear_arch.training.resume``
wires them into BasicSR's ``train_pipeline``:

- ``capture_rng_state`` / ``restore_rng_state``: Python, NumPy, torch CPU and (when initialised) CUDA generators,
  stored as plain ints and tensors so ``torch.load(weights_only=True)`` reads them.
- ``ResumableSampler``: BasicSR's ``EnlargedSampler`` (same permutation per epoch) that can start an epoch at
  a given position, and ``CountingPrefetcherMixin``, which counts the samples the training loop consumed and
  applies a pending RNG state right before the first batch after a resume (so the data loader's own draws at
  start-up do not shift the generators).
- ``atomic_torch_save``: ``torch.save`` through the package's atomic writer (``data.atomic_files``).
- ``find_resume_state``: the newest ``<iter>.state`` whose state and network files all load.

Exactness needs ``num_worker_per_gpu: 0`` for the training loader: with worker processes, BasicSR reseeds each
worker at every epoch start, and a worker's generator position is not part of the saved state, so the data
augmentation after a mid-epoch resume differs (the sampled clips and everything else still match).
"""
import os
import random
from os import path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.data.prefetch_dataloader import CPUPrefetcher, CUDAPrefetcher

from seeclear_arch.data.atomic_files import (  # noqa: F401 (re-exported)
    SAVE_SLEEP_ENV,
    atomic_torch_save,
    remove_stale_temporaries,
    save_pause,
    stale_temporaries,
    write_bytes,
)


# ------------------------------------------------------------------------------------------ RNG states
def capture_rng_state() -> Dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states (CUDA only when CUDA is initialised)."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        'python': [version, list(mt), gauss],
        'numpy': [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of ``capture_rng_state``; CUDA states are restored when the device count matches."""
    version, mt, gauss = state['python']
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


# ------------------------------------------------------------------------------- data position
class ResumableSampler(EnlargedSampler):
    """``EnlargedSampler`` whose epoch can start at ``start`` (indices already consumed before a resume)."""

    def __init__(self, dataset, num_replicas: int, rank: int, ratio: int = 1):
        super().__init__(dataset, num_replicas, rank, ratio)
        self.start = 0

    def __iter__(self):
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self) -> int:
        return self.num_samples - self.start


class TrainProgress:
    """Where the training loop is in its data and which RNG state to apply before the next batch.

    One per process, shared by the training prefetcher (writer) and the model's save/resume (reader), since
    BasicSR's ``train_pipeline`` gives the model no handle on its data loader.
    """

    def __init__(self):
        self.reset_all()

    def reset_all(self) -> None:
        self.sampler: Optional[ResumableSampler] = None
        self.batch_size = 0
        self.position = 0
        self.pending_position: Optional[Dict[str, int]] = None
        self.pending_rng: Optional[Dict[str, Any]] = None

    def state_dict(self) -> Optional[Dict[str, int]]:
        if self.sampler is None:
            return None
        return {'epoch': int(self.sampler.epoch), 'position': int(self.position)}

    def start_epoch(self, sampler: Optional[ResumableSampler], batch_size: int) -> None:
        """Called when the prefetcher (re)starts an epoch: skip what a resumed state had consumed."""
        self.sampler, self.batch_size = sampler, batch_size
        start = 0
        pending = self.pending_position
        if sampler is not None and pending is not None and pending['epoch'] == sampler.epoch:
            start = pending['position']
        self.pending_position = None
        if sampler is not None:
            sampler.start = start
        self.position = start

    def before_batch(self) -> None:
        if self.pending_rng is not None:
            restore_rng_state(self.pending_rng)
            self.pending_rng = None

    def after_batch(self) -> None:
        self.position += self.batch_size


PROGRESS = TrainProgress()


class CountingPrefetcherMixin:
    """Mixin for BasicSR's ``CPUPrefetcher`` / ``CUDAPrefetcher``: reports the data position to ``PROGRESS``."""

    def reset(self):
        sampler = getattr(self.ori_loader, 'sampler', None)
        sampler = sampler if isinstance(sampler, ResumableSampler) else None
        PROGRESS.start_epoch(sampler, int(self.ori_loader.batch_size or 1))
        return super().reset()

    def next(self):
        PROGRESS.before_batch()
        batch = super().next()
        if batch is not None:
            PROGRESS.after_batch()
        return batch


class CountingCPUPrefetcher(CountingPrefetcherMixin, CPUPrefetcher):
    """BasicSR's ``CPUPrefetcher`` that reports the data position."""


class CountingCUDAPrefetcher(CountingPrefetcherMixin, CUDAPrefetcher):
    """BasicSR's ``CUDAPrefetcher`` that reports the data position."""


# ---------------------------------------------------------------------------------- atomic files
# ------------------------------------------------------------------------------ complete pairs
def resume_network_files(opt: dict, resume_iter: int) -> List[str]:
    """The network files BasicSR's ``check_resume`` loads for ``resume_iter`` (same naming and exclusions)."""
    ignored = opt['path'].get('ignore_resume_networks') or []
    return [osp.join(opt['path']['models'], f"net_{key.replace('network_', '')}_{resume_iter}.pth")
            for key in opt if key.startswith('network_') and key not in ignored]


def _loads(path: str, mmap: bool) -> Optional[Any]:
    try:
        return torch.load(path, map_location='cpu', mmap=mmap, weights_only=True)
    except Exception:  # truncated, empty, not a zip archive, unreadable...
        return None


def find_resume_state(opt: dict, state_dir: str) -> Tuple[Optional[str], List[str]]:
    """The newest ``<iter>.state`` in ``state_dir`` that loads, whose ``iter`` matches its name, and whose
    network files (``resume_network_files``) all load (None when there is none), and the skipped ones."""
    skipped: List[str] = []
    if not osp.isdir(state_dir):
        return None, skipped
    iters = []
    for name in os.listdir(state_dir):
        stem, ext = osp.splitext(name)
        if ext == '.state' and stem.isdigit():
            iters.append(int(stem))
    for it in sorted(iters, reverse=True):
        path = osp.join(state_dir, f'{it}.state')
        state = _loads(path, mmap=False)
        if not isinstance(state, dict) or state.get('iter') != it:
            skipped.append(f'{path} (incomplete or unreadable)')
            continue
        bad = [p for p in resume_network_files(opt, it) if _loads(p, mmap=True) is None]
        if not bad:
            return path, skipped
        skipped.append(f'{path} (network file missing or incomplete: {", ".join(bad)})')
    return None, skipped
