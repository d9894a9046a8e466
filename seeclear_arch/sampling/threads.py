"""How many threads torch uses on a machine that other processes may share (docs/performance.md, "Threads").

torch starts one OpenMP thread per core. When another process keeps one of those cores busy, every parallel region
waits at its barrier for the thread that shares a core, and GNU OpenMP's threads spin while they wait: a demo clip
that samples in 1.6 s on one thread took 53 s on two with one other busy process (issue 22). The policy:

- ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it: waiting threads sleep instead of spinning, so a thread that
  shares its core with another process does not also burn the time of the one that waits for it. It must be in the
  environment before torch loads OpenMP: ``seeclear_arch`` sets it on import, before it imports torch, when the
  process is one of SeeClear's commands (``is_seeclear_command``; ``python -m`` is recognised on Python 3.10+);
  other programs that import the plugin keep theirs.
- ``choose_threads``: the cores that are idle now (two ``/proc/stat`` samples 0.2 s apart), at most torch's own
  count, at least 1 (only the cores this process may run on count: cpusets, ``taskset``, Slurm); ``apply`` sets it,
  and warns when the machine is busy; SeeClearModel logs the count in the experiment's log. An explicit choice wins:
  ``OMP_NUM_THREADS`` or ``SEECLEAR_THREADS`` in the environment, or a command's ``--threads``.
"""
import logging
import os
import time
from typing import List, Optional, Tuple

THREADS_ENV = 'SEECLEAR_THREADS'


def is_seeclear_command(orig_argv: List[str], argv: List[str]) -> bool:
    """Whether this process runs one of SeeClear's commands: ``python -m seeclear_arch.<x>`` or ``seeclear-<x>``
    (the wait policy is ours to set only there: a plugin does not retune the user's other programs)."""
    modules = [orig_argv[k + 1] for k in range(len(orig_argv) - 1) if orig_argv[k] == '-m']
    return any(m.startswith('seeclear_arch') for m in modules) or os.path.basename(argv[0]).startswith('seeclear-')


def set_passive_wait_policy() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless already set (acts only before OpenMP is loaded)."""
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')


def _cpu_times() -> Optional[List[Tuple[int, int]]]:
    """(busy, total) jiffies of each core this process may run on (its affinity), from /proc/stat; None where it
    cannot be read."""
    allowed = os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else None
    try:
        with open('/proc/stat') as f:
            rows = [line.split() for line in f if line.startswith('cpu') and line[3:4].isdigit()]
        times = []
        for fields in rows:
            if allowed is not None and int(fields[0][3:]) not in allowed:
                continue  # other jobs' cores (cpusets, taskset, Slurm) are not ours to count
            values = [int(v) for v in fields[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            times.append((sum(values) - idle, sum(values)))
    except (OSError, ValueError, IndexError):
        return None
    return times or None


def busy_cores(interval: float = 0.2) -> Optional[float]:
    """How many of this process's allowed cores other processes keep busy, over ``interval`` seconds (this process
    sleeps meanwhile)."""
    first = _cpu_times()
    if not first:
        return None
    time.sleep(interval)
    second = _cpu_times()
    if not second or len(second) != len(first):
        return None
    return sum((b2 - b1) / max(1, t2 - t1) for (b1, t1), (b2, t2) in zip(first, second))


def allowed_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


def explicit_threads() -> Optional[int]:
    """A thread count the user chose in the environment: ``SEECLEAR_THREADS``, else the first level of
    ``OMP_NUM_THREADS`` (OpenMP allows a list such as ``4,2``)."""
    value = os.environ.get(THREADS_ENV, '').strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f'{THREADS_ENV} must be a positive integer, got {value!r}') from None
    first = os.environ.get('OMP_NUM_THREADS', '').split(',')[0].strip()
    return max(1, int(first)) if first.isdigit() else None


def choose_threads(cores: int, busy: Optional[float], allowed: Optional[int] = None) -> int:
    """Threads for a process that would use ``cores`` of its ``allowed`` cores (default: ``cores``), of which
    ``busy`` (None: unknown) are taken by others: the idle ones, rounded down, at most ``cores``, at least 1."""
    if busy is None:
        return max(1, cores)
    idle = (cores if allowed is None else allowed) - busy
    return max(1, min(cores, int(idle + 0.25)))  # a core 75 % idle still counts


def apply(requested: Optional[int] = None, logger: Optional[logging.Logger] = None) -> int:
    """Set torch's thread count: ``requested`` (a ``--threads``) or the environment's choice, else the idle cores.
    Returns the count; logs a warning when other processes leave fewer cores than torch would use."""
    import torch
    chosen = requested if requested and requested > 0 else explicit_threads()
    if chosen is None:
        cores = torch.get_num_threads()
        busy = busy_cores()
        chosen = choose_threads(cores, busy, allowed_cores())
        if chosen < cores:
            (logger or logging.getLogger('basicsr')).warning(
                f'Other processes keep {busy:.1f} of {cores} cores busy: using {chosen} thread(s) instead of '
                f'{cores} (set {THREADS_ENV} or OMP_NUM_THREADS to choose).')
    torch.set_num_threads(chosen)
    return chosen


def main() -> None:
    """``python -m seeclear_arch.sampling.threads``: what a SeeClear command would use on this machine now."""
    import torch
    busy = busy_cores()
    explicit = explicit_threads()
    chosen = explicit or choose_threads(torch.get_num_threads(), busy, allowed_cores())
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')} torch_default={torch.get_num_threads()} "
          f"busy_cores={'unknown' if busy is None else f'{busy:.2f}'} explicit={explicit or 'none'} threads={chosen}")


if __name__ == '__main__':
    main()
