"""Progress bars of the sampling engine: frames (clip by clip) with ETA, and optionally each clip's steps.

``val.pbar`` (BasicSR's option name) turns them on for ``test()`` and validation: ``true`` (clips) or ``steps``
(clips and steps); the inference CLI shows them unless ``--quiet`` (steps with ``--verbose``). Bars go to stderr
and stay quiet when it is not a terminal (logs, CI, pipes), so ``enabled=None`` means "if stderr is a TTY".
"""
import sys
from typing import IO, Any, Optional

from tqdm import tqdm


class SamplingProgress:
    """tqdm bars driven by the engine: :meth:`start_clip`, :meth:`step` per network call, :meth:`end_clip`."""

    def __init__(self, total_frames: int, desc: str = 'sample', enabled: Optional[bool] = None, steps: bool = False,
                 file: Optional[IO] = None, done: int = 0):
        self.file = file or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.file, 'isatty', lambda: False)())
        self.enabled, self.show_steps = enabled, steps and enabled
        self.frames = tqdm(total=total_frames, desc=desc, unit='frame', file=self.file, disable=not enabled,
                           dynamic_ncols=True, initial=done)  # done: frames of a resumed run already written
        self.steps: Optional[tqdm] = None

    def set_done(self, frames: int) -> None:
        """Show ``frames`` done in all (a sharded run's rank 0 sums every rank's frames)."""
        self.frames.n = frames
        self.frames.refresh()

    def start_clip(self, num_calls: int) -> None:
        if self.show_steps:
            self.steps = tqdm(total=num_calls, desc='  steps', unit='step', file=self.file, leave=False,
                              dynamic_ncols=True)

    def step(self) -> None:
        if self.steps is not None:
            self.steps.update()

    def end_clip(self, num_frames: int) -> None:
        if self.steps is not None:
            self.steps.close()
            self.steps = None
        self.frames.update(num_frames)

    def close(self) -> None:
        if self.steps is not None:
            self.steps.close()
        self.frames.close()

    def __enter__(self) -> 'SamplingProgress':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def pbar_option(value: Any) -> Optional[str]:
    """``val.pbar``: false/None -> None, true -> ``'clips'``, ``'steps'`` -> ``'steps'``; else an error."""
    if value in (None, False):
        return None
    if value is True or value == 'clips':
        return 'clips'
    if value == 'steps':
        return 'steps'
    raise ValueError(f'val.pbar must be true, false or steps, got {value!r}.')
