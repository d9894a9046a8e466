"""Sharded inference: one video over ``torchrun``'s processes (docs/video.md#sharded-inference).

``torchrun --nproc_per_node=N [--nnodes ...] -m seeclear_arch.inference ...`` runs the same command in N processes.
Each rank takes a contiguous range of the sequence's clips (:func:`split_clips_evenly`), starts ``--warmup-clips W``
clips before it so that its CaTeGory memory (and the propagation's last frame) come from real frames, drops those
warm-up frames, and writes its own frames and mp4 segments into the shared output folder. Once every rank is done
(a ``torch.distributed`` barrier), rank 0 joins the segments with the source's audio. The noise of a clip is seeded
from ``(seed, clip index)``, so the only difference from a one-process run is the memory and propagation state at
the start of each range (none with ``carry_memory: false`` and no propagation).

The process group is ``gloo`` on CPU and ``nccl`` with one CUDA device per rank (``LOCAL_RANK``). Progress: every
rank records the frames it has finished in the resume folder; rank 0 shows one bar over all ranks.
"""
import contextlib
import datetime
import os
import threading
from dataclasses import dataclass
from os import path as osp
from typing import Callable, Iterator, List, Optional, Tuple

import torch
from torch import distributed as dist

from seeclear_arch.data.atomic_files import write_text


@dataclass(frozen=True)
class Rank:
    """This process's place among ``world_size`` (``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` from torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def rank_from_env() -> Rank:
    """The torchrun rank of this process (rank 0 of 1 when not launched by torchrun)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    return Rank(int(os.environ.get('RANK', '0')), world, int(os.environ.get('LOCAL_RANK', '0'))) if world > 1 \
        else Rank()


@contextlib.contextmanager
def process_group(rank: Rank) -> Iterator[None]:
    """In the process group (``nccl`` when CUDA is there, else ``gloo``) with this rank's GPU picked; nothing for
    one process or a group that is already there (left as it is)."""
    if rank.world_size == 1 or dist.is_initialized():
        yield
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(rank.local_rank)
    # the last barrier waits for the slowest rank (after a resume, ranks can have very unequal work left)
    dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo', timeout=datetime.timedelta(days=7))
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier(rank: Rank) -> None:
    if rank.world_size > 1:
        dist.barrier()


def split_clips_evenly(num_clips: int, world_size: int) -> List[Tuple[int, int]]:
    """``(first, end)`` clip ranges for each rank: contiguous, covering every clip once, sizes within one."""
    base, extra = divmod(num_clips, world_size)
    ranges, first = [], 0
    for r in range(world_size):
        end = first + base + (1 if r < extra else 0)
        ranges.append((first, end))
        first = end
    return ranges


def progress_file(folder: str, rank: int) -> str:
    return osp.join(folder, f'progress_rank{rank}.txt')


def record_progress(folder: str, rank: Rank, frames: int) -> None:
    """How many frames this rank has written (read by rank 0's bar)."""
    if rank.world_size > 1:
        write_text(progress_file(folder, rank.rank), str(frames))


def frames_done(folder: str, world_size: int) -> int:
    """The frames every rank has recorded (a rank that has recorded nothing counts 0)."""
    total = 0
    for r in range(world_size):
        try:
            with open(progress_file(folder, r), encoding='utf-8') as f:
                total += int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            pass
    return total


class ProgressWatcher:
    """On rank 0 of several: sets ``update(frames)`` from all ranks' records every ``period`` seconds until stopped."""

    def __init__(self, folder: str, world_size: int, update: Callable[[int], None], period: float = 1.0):
        self.folder, self.world_size, self.update, self.period = folder, world_size, update, period
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> 'ProgressWatcher':
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.update(frames_done(self.folder, self.world_size))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.update(frames_done(self.folder, self.world_size))
