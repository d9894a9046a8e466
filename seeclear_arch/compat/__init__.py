"""Every workaround for BasicSR 1.4.2, by purpose (tests/compat/ and tests/training/test_resume.py).

- ``shim``: before basicsr's own code runs, the import alias without which ``import basicsr`` fails (global).
- ``cpu``: what BasicSR needs to run without CUDA (gloo, CPU DDP, video validation; the CPU resume is in
  ``training.resume``); each acts only off CUDA (global).
- ``fixes`` and ``seeclear_arch.training.resume``: what SeeClear adds to BasicSR (registry hints, RNG-neutral
  validation, the one-line network summary, ``--force_yml`` numbers and periods; atomic checkpoints and exact
  resume), only for experiments in scope (``scope``: SeeClear's models and networks, or opted in with
  ``SEECLEAR_BASICSR_FIXES=1`` / ``seeclear_fixes: true``). A plain BasicSR experiment in the same environment
  trains and writes exactly what it does without the plugin.

Each patched function keeps the original as ``__wrapped__``.
"""
from seeclear_arch.compat.shim import install_functional_tensor_alias


def install() -> None:
    """Install the import-time shim (idempotent)."""
    install_functional_tensor_alias()


def patch_basicsr() -> None:
    """Patch the imported basicsr modules (idempotent)."""
    from seeclear_arch.compat import cpu, fixes
    from seeclear_arch.training import resume
    cpu.patch()
    fixes.patch()
    resume.patch()
