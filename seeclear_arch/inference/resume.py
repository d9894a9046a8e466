"""Resumable inference: a killed ``seeclear-infer`` run, started again with the same command, goes on from the last
completed chunk and writes exactly the files an uninterrupted run writes (docs/video.md#resume).

Beside the output, ``OUTPUT/.seeclear_resume/`` holds

* ``run.json``: what defines the output (input, weights, model and sampling options, chunking, output options); a
  run whose options differ refuses to resume, naming them, instead of mixing two outputs (``--restart`` starts
  over);
* ``state.pt``: after each chunk, the sampling engine's :class:`~seeclear_arch.sampling.engine.SequenceState` (the
  chunk count, each tile's CaTeGory memory, the propagation's last frame; the noise is seeded per clip);
* ``segments/00000000.mp4 ...``: with ``--video``, each chunk encoded on its own, named by its first frame; the
  final mp4 is these segments joined without re-encoding, with the source's audio
  (``data.video_writer.concat_segments``), so it does not depend on where a run was stopped.

Every file is written atomically (``data.atomic_files``; segments as ``.part`` renamed when complete), and the
state after a chunk is saved only once that chunk's frames and segment are in place: a kill at any moment leaves
the previous state, whose next chunk is then redone, bit for bit. The folder is removed when the run completes.
What the frames depend on is the same after a resume: the LR frames are read again from the input (the reader
decodes up to the chunk), the condition is per chunk, and the colour fix is per frame.
"""
import glob
import hashlib
import json
import os
import shutil
from os import path as osp
from typing import Any, Dict, List, Optional, Tuple

import torch

from seeclear_arch.data.atomic_files import atomic_torch_save, remove_stale_temporaries, write_text
from seeclear_arch.sampling.engine import SequenceState
from seeclear_arch.sampling.propagation import PropagationState

STATE_DIR = '.seeclear_resume'


def file_digest(path: str, block: int = 1 << 20) -> str:
    """SHA-256 of a file (the weights: a changed checkpoint at the same path must not resume)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(block), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples as lists, unknown objects as their repr)."""
    return json.loads(json.dumps(value, default=repr))


def saved_fingerprint(out_dir: str) -> Optional[Dict[str, Any]]:
    """The options of an unfinished run in ``out_dir`` (None when there is none)."""
    run = osp.join(out_dir, STATE_DIR, 'run.json')
    if not osp.isfile(run):
        return None
    with open(run, encoding='utf-8') as f:
        return json.load(f)


def _differences(saved: Any, now: Any, key: str = '') -> List[Tuple[str, Any, Any]]:
    """``(dotted key, saved value, new value)`` of every leaf that differs between two fingerprints."""
    if isinstance(saved, dict) and isinstance(now, dict):
        return [d for k in sorted(set(saved) | set(now))
                for d in _differences(saved.get(k), now.get(k), f'{key}.{k}' if key else k)]
    return [] if saved == now else [(key, saved, now)]


class ResumeStore:
    """The resume folder of one output (module docstring).

    Args:
        out_dir: the output folder.
        fingerprint: JSON-able description of everything the output depends on.
        restart: delete any earlier state and start over.
    """

    def __init__(self, out_dir: str, fingerprint: Dict[str, Any], restart: bool = False, rank: int = 0,
                 world_size: int = 1):
        self.dir = osp.join(out_dir, STATE_DIR)
        self.fingerprint = _plain(fingerprint)
        self.state_path = osp.join(self.dir, 'state.pt' if world_size == 1 else f'state_rank{rank}.pt')
        if rank == 0:  # the other ranks of a sharded run only check, after rank 0 (seeclear_arch.inference.shard)
            if restart and osp.isdir(self.dir):
                shutil.rmtree(self.dir)
            for leftover in glob.glob(f'{self.dir}.done-*'):  # a completed run killed while it cleaned up
                shutil.rmtree(leftover, ignore_errors=True)
            for folder in (out_dir, self.dir, osp.join(self.dir, 'segments')):  # what a killed run was writing
                remove_stale_temporaries(folder)
        self._check_or_write_fingerprint(write=rank == 0)

    def _check_or_write_fingerprint(self, write: bool) -> None:
        saved = saved_fingerprint(osp.dirname(self.dir))
        if saved is not None and write and saved != self.fingerprint and not self._any_state():
            shutil.rmtree(self.dir)  # no chunk was completed (e.g. out of memory in the first one): nothing to keep
            saved = None
        if saved is None:
            if not write:
                raise RuntimeError(f'{self.dir}/run.json is missing: rank 0 writes it before the other ranks start.')
            os.makedirs(self.dir, exist_ok=True)
            write_text(osp.join(self.dir, 'run.json'), json.dumps(self.fingerprint, indent=1, sort_keys=True))
            return
        changed = _differences(saved, self.fingerprint)
        if changed:
            details = '; '.join(f'{k}: {json.dumps(a)} -> {json.dumps(b)}' for k, a, b in changed)
            raise ValueError(f'{osp.dirname(self.dir)} holds an unfinished run with other options ({details}). '
                             'Run the same command again to resume it, pass --restart to start over, or choose '
                             'another --output.')

    def _any_state(self) -> bool:
        return osp.isdir(self.dir) and any(n.startswith('state') and n.endswith('.pt') for n in os.listdir(self.dir))

    def segment(self, start: int) -> str:
        """Where the mp4 segment of the chunk that starts at frame ``start`` goes."""
        return osp.join(self.dir, 'segments', f'{start:08d}.mp4')

    def segments(self) -> List[str]:
        """Every complete segment, in frame order."""
        folder = osp.join(self.dir, 'segments')
        names = sorted(n for n in os.listdir(folder) if n.endswith('.mp4') and not n.startswith('.')) \
            if osp.isdir(folder) else []
        return [osp.join(folder, n) for n in names]

    def load(self) -> Optional[SequenceState]:
        """The state after the last completed chunk, or None to start from the first one."""
        if not osp.isfile(self.state_path):
            return None
        # weights_only: a state file in an output folder is not trusted code; only its own two classes are allowed
        with torch.serialization.safe_globals([SequenceState, PropagationState]):
            return torch.load(self.state_path, map_location='cpu', weights_only=True)

    def save(self, state: SequenceState) -> None:
        """The state after a chunk whose outputs are all written (atomically; see the module docstring)."""
        atomic_torch_save(state, self.state_path)

    def finish(self) -> None:
        """The run completed: nothing to resume. The folder is renamed first, so a kill while it is deleted cannot
        leave a state whose segments are gone."""
        if osp.isdir(self.dir):
            doomed = f'{self.dir}.done-{os.getpid()}'
            os.replace(self.dir, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
