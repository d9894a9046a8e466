"""Which BasicSR experiments get SeeClear's additions to BasicSR (docs/training.md, "BasicSR 1.4.2 workarounds").

A plugin is a guest: installing SeeClear must not change a plain BasicSR experiment (``SRModel`` with ``MSRResNet``,
say) in the same environment. So everything SeeClear adds to BasicSR's behaviour (atomic checkpoints, exact resume,
RNG-neutral validation, the one-line network summary, registry hints, ``--force_yml`` numbers and cosine periods)
applies only to an experiment in scope:

- its ``model_type`` is one of SeeClear's models, or its ``network_g`` is one of SeeClear's networks (the swap of
  ``SeeClearNet`` into BasicSR's own video models); a type spelt ``SeeClear...`` counts, so a misspelt SeeClear type
  still gets the registry's suggestions;
- or the user opts in, for every experiment with ``SEECLEAR_BASICSR_FIXES=1`` in the environment, or for one with
  ``seeclear_fixes: true`` at the top of its yml.

Model methods decide from their own ``opt``. The training script's loop (resume-state choice, sampler, prefetcher,
registry lookups) has no handle on the experiment: ``activate(opt)`` records it once ``parse_options`` has read it.
"""
import contextlib
import os
from typing import Iterator, Optional

FIXES_ENV = 'SEECLEAR_BASICSR_FIXES'
YML_KEY = 'seeclear_fixes'
_OFF = ('', '0', 'false', 'no', 'off')
_active = [False]  # the experiment of this process (train/test script), set by ``activate``


def opted_in(opt: Optional[dict] = None) -> bool:
    """``SEECLEAR_BASICSR_FIXES`` set (not 0/false/no/off), or ``seeclear_fixes: true`` in ``opt``."""
    if os.environ.get(FIXES_ENV, '').strip().lower() not in _OFF:
        return True
    return bool((opt or {}).get(YML_KEY, False))


def _is_seeclear(registry_name: str, name) -> bool:
    if not isinstance(name, str) or not name:
        return False
    if name.startswith('SeeClear'):
        return True
    from basicsr.utils import registry
    obj = getattr(registry, registry_name)._obj_map.get(name)  # no Registry.get: it raises, and may be wrapped
    return getattr(obj, '__module__', '').startswith('seeclear_arch.')


def in_scope(opt: Optional[dict]) -> bool:
    """Whether the experiment ``opt`` gets SeeClear's additions (see the module docstring)."""
    opt = opt or {}
    network = (opt.get('network_g') or {}).get('type')
    return (opted_in(opt) or _is_seeclear('MODEL_REGISTRY', opt.get('model_type'))
            or _is_seeclear('ARCH_REGISTRY', network))


def activate(opt: Optional[dict]) -> None:
    """Record the experiment this process runs (called once ``parse_options`` has read its yml)."""
    _active[0] = in_scope(opt)


def active() -> bool:
    """Whether this process's experiment is in scope (or the user opted in for every experiment)."""
    return _active[0] or opted_in()


@contextlib.contextmanager
def activated(on: bool = True) -> Iterator[None]:
    """Run a block as if this process's experiment were (or were not) in scope; for tests and tools."""
    before, _active[0] = _active[0], on
    try:
        yield
    finally:
        _active[0] = before
