"""Keep freed CPU memory in the process, so frame-sized activations are not page-faulted in again at every op.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB with the default dynamic threshold)
with a fresh ``mmap`` and unmaps it on ``free``. A paper-scale U-Net pass allocates hundreds of such blocks (a
5-frame 112-channel 128x128 feature map is 37 MiB), so every one of them is zero-filled page by page by the kernel
on first touch: 4.8 million page faults and 11.9 s of system time per 2-step paper-scale clip at 128x128 -> 512x512
on the project's CPU (``benchmarks/benchmark_sampling.py --no-keep-freed-memory``; docs/performance.md, "Sampling
speed"). Raising the mmap threshold and the trim threshold makes ``free`` keep the blocks in the heap for the next
allocation of that size (38.6 -> 32.9 s per clip there). The cost is memory: blocks kept in the heap fragment it
(peak RSS 4097 against 3596 MiB in that measurement), and freed memory goes back to the system only when the process
exits.

:func:`keep_freed_memory` is called by ``SeeClearModel`` on CPU (yml ``cpu_keep_freed_memory``, default true). It is
a no-op where the C library has no ``mallopt`` (not glibc). :func:`release_freed_memory` hands the kept blocks back
(``--tile auto`` does before it measures memory). ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``
in the environment do the same for any process, before it starts.
"""
import ctypes
import ctypes.util
import logging
from typing import Callable, Optional

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4  # glibc's <malloc.h> parameter numbers
KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from (and return to) the heap

_applied: Optional[bool] = None  # the outcome of the first call (the setting is process-wide)


def _libc_function(name: str) -> Optional[Callable[..., int]]:
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6'), name)
    except (OSError, AttributeError):
        return None


def _mallopt() -> Optional[Callable[[int, int], int]]:
    return _libc_function('mallopt')


def keep_freed_memory(logger: Optional[logging.Logger] = None) -> bool:
    """Make glibc keep freed blocks of up to 1 GiB for reuse instead of unmapping them; True if it took effect.
    Idempotent; logs once what it did (or that the C library has no ``mallopt``)."""
    global _applied
    if _applied is not None:
        return _applied
    mallopt = _mallopt()
    if mallopt is None:
        _applied = False
        message = 'cpu_keep_freed_memory: this C library has no mallopt (not glibc); the allocator is left as it is'
    else:
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        trimmed = mallopt(M_TRIM_THRESHOLD, KEEP_BYTES) == 1
        # a glibc that refuses a threshold this high still honours "no mmap at all" (every block from the heap)
        mapped = mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) == 1 or mallopt(M_MMAP_MAX, 0) == 1
        _applied = trimmed and mapped
        message = ('cpu_keep_freed_memory: glibc keeps freed blocks of up to 1 GiB for reuse' if _applied else
                   f'cpu_keep_freed_memory: mallopt refused (trim threshold: {trimmed}, mmap threshold: {mapped})')
    if logger is not None:
        logger.info(message)
    return _applied


def release_freed_memory() -> None:
    """Hand the freed blocks kept by :func:`keep_freed_memory` back to the system (glibc ``malloc_trim(0)``), so the
    resident memory is what is live: ``--tile auto`` measures a network call's peak as the RSS it adds, which reused
    blocks would hide. A no-op without glibc."""
    trim = _libc_function('malloc_trim')
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        trim(0)
