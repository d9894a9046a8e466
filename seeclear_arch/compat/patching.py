"""Helpers to wrap BasicSR functions: each wrapper is marked as ours and keeps the original as ``__wrapped__``."""
import functools

_PATCHED_FLAG = '_seeclear_patched'


def cuda_usable() -> bool:
    import torch
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def mark(wrapper, original):
    """Mark a wrapper as ours (``__wrapped__`` is the original) and return it."""
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, _PATCHED_FLAG, True)
    return wrapper


def is_patched(fn) -> bool:
    return getattr(fn, _PATCHED_FLAG, False)


def patch_attr(owner, name: str, factory) -> None:
    """``owner.name = factory(owner.name)`` unless it is already ours (idempotent)."""
    current = getattr(owner, name, None)
    if current is not None and not is_patched(current):
        setattr(owner, name, factory(current))


def master_only(fn):
    from basicsr.utils.dist_util import master_only as basicsr_master_only
    return basicsr_master_only(fn)
