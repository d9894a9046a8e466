"""The one atomic file writer of the package: checkpoints (training), frames and videos' side files (inference),
condition caches, evaluation reports and images all go through :func:`write_bytes`.

A file is written to a temporary name in its own folder (``.<name>.tmp-<pid>-<thread>``), flushed and fsynced,
then renamed over the target with ``os.replace`` and the folder fsynced: a reader, or a run resumed after a crash,
sees the old file or the complete new one, never a truncated one. A failed write removes its temporary file; one
left by a killed process is found by :func:`stale_temporaries`.
"""
import glob
import io
import os
import threading
import time
from os import path as osp
from typing import Any, List

import cv2
import numpy as np

TMP_MARK = '.tmp-'
SAVE_SLEEP_ENV = 'SEECLEAR_FAULT_SAVE_SLEEP'  # fault injection: seconds a state/checkpoint save pauses midway


def save_pause() -> float:
    """``$SEECLEAR_FAULT_SAVE_SLEEP`` (0 when unset): the ``pause_midway`` of checkpoint and resume-state writes."""
    return float(os.environ.get(SAVE_SLEEP_ENV) or 0)


def temporary_name(path: str) -> str:
    """Where :func:`write_bytes` stages ``path``: a hidden file beside it, named after this process."""
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder, f'.{name}{TMP_MARK}{os.getpid()}-{threading.get_ident()}')


def _fsync_dir(folder: str) -> None:
    """Make the rename durable where the file system allows it (best effort: the file is already in place)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows: directories cannot be opened
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory (EINVAL)
    finally:
        os.close(fd)


def write_bytes(path: str, data: bytes, pause_midway: float = 0.0) -> None:
    """Write ``data`` to ``path`` atomically, creating its folder. ``pause_midway``: seconds to sleep with half the
    bytes written (fault-injection tests kill the process then)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temporary_name(path)
    view = memoryview(data)
    try:
        with open(tmp, 'wb') as f:
            f.write(view[:len(view) // 2])
            if pause_midway > 0:
                f.flush()
                time.sleep(pause_midway)
            f.write(view[len(view) // 2:])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def write_text(path: str, text: str) -> None:
    """UTF-8 ``text`` to ``path``, atomically."""
    write_bytes(path, text.encode('utf-8'))


def write_png(path: str, img: np.ndarray) -> None:
    """A uint8 BGR (or gray) image to ``path`` as PNG, atomically."""
    ok, buf = cv2.imencode('.png', img)
    if not ok:
        raise OSError(f'Cannot encode {path} as PNG.')
    write_bytes(path, buf.tobytes())


def stale_temporaries(folder: str) -> List[str]:
    """Temporary files in ``folder`` left by processes killed while writing."""
    return sorted(glob.glob(osp.join(folder, f'.*{TMP_MARK}*')))


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete the temporary files in ``folder``: call it before anything writes there (a resumed run, before its
    writers start), since a live writer's file is removed too (process ids repeat in containers, so they cannot tell
    a dead writer from this one). Returns what was removed."""
    removed = []
    for tmp in stale_temporaries(folder):
        try:
            os.remove(tmp)
            removed.append(tmp)
        except FileNotFoundError:
            pass  # another rank removed it
    return removed


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` atomically (:func:`write_bytes`); ``$SEECLEAR_FAULT_SAVE_SLEEP`` pauses mid-write
    (fault injection)."""
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getbuffer(), pause_midway=save_pause())
