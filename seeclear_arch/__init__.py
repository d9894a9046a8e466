"""SeeClear (NeurIPS 2024) for BasicSR.

Importing this package registers SeeClear's archs, models, datasets and metrics into
BasicSR's registries.  The BasicSR 1.4.2 compatibility shims are installed first so that
``import basicsr`` works with current torchvision; once basicsr is imported, its CPU / registry
workarounds are patched in (``seeclear_arch.compat``).
"""
import sys

from seeclear_arch.sampling import threads as _threads

if _threads.is_seeclear_command(getattr(sys, 'orig_argv', sys.argv), sys.argv):
    _threads.set_passive_wait_policy()  # before torch loads OpenMP (seeclear_arch.sampling.threads)

from seeclear_arch import compat  # noqa: E402

compat.install()

from seeclear_arch import archs, data, diffusion, metrics, models  # noqa: E402,F401

compat.patch_basicsr()

__version__ = '0.1.0'
