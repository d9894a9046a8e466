"""Auto-registration of SeeClear into BasicSR (loaded at interpreter start by a ``.pth`` file).

BasicSR only scans its own folders for registry entries, so ``python basicsr/train.py`` would
not know ``SeeClearNet``. This module puts a finder on ``sys.meta_path`` that waits for the
top-level ``basicsr`` import; it then (1) installs SeeClear's BasicSR 1.4.2 import shims before
basicsr's own code runs and (2) imports ``seeclear_arch`` right after basicsr has finished
importing. It imports nothing heavy at start-up (no torch) and costs nothing when basicsr is
never imported. Set ``SEECLEAR_AUTOREGISTER=0`` to switch it off.
"""
import importlib.abc
import importlib.util
import os
import sys

ENV_SWITCH = 'SEECLEAR_AUTOREGISTER'


class _BasicSRLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader):
        self.wrapped = wrapped

    def create_module(self, spec):
        return self.wrapped.create_module(spec)

    def exec_module(self, module) -> None:
        from seeclear_arch import compat  # light: imports only torchvision's functional
        compat.install()
        self.wrapped.exec_module(module)
        if 'seeclear_arch.archs' not in sys.modules and 'seeclear_arch' not in _importing:
            _importing.add('seeclear_arch')
            try:
                importlib.import_module('seeclear_arch')
            finally:
                _importing.discard('seeclear_arch')


_importing: set = set()


class BasicSRImportHook(importlib.abc.MetaPathFinder):
    """Finds ``basicsr`` through the other finders and wraps its loader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'basicsr' or fullname in _importing:
            return None
        _importing.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            _importing.discard(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _BasicSRLoader(spec.loader)
        return spec


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, '1').strip().lower() not in ('0', 'false', 'no', 'off')


def install() -> None:
    if enabled() and not any(isinstance(f, BasicSRImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, BasicSRImportHook())
