import subprocess
import sys

import pytest

from seeclear_arch import cpu_memory

# a fresh interpreter per case: the setting is process-wide and cannot be undone
FAULTS = """
import resource, sys, torch
sys.path.insert(0, {repo!r})
if {keep}:
    from seeclear_arch.cpu_memory import keep_freed_memory
    assert keep_freed_memory()
for _ in range(3):  # 64 MiB, allocated and freed: the heap settles
    torch.ones(16, 2**20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.ones(16, 2**20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(repo_root, keep: bool) -> int:
    out = subprocess.run([sys.executable, '-c', FAULTS.format(repo=str(repo_root), keep=keep)], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(cpu_memory._mallopt() is None, reason='needs glibc mallopt (Linux)')
def test_freed_blocks_are_reused_instead_of_faulted_in_again(repo_root):
    """Five 64 MiB tensors after three others: 16384 page faults each by default (a fresh mapping every time), fewer
    than one tensor's worth in all once freed blocks are kept for reuse."""
    assert page_faults(repo_root, keep=False) > 5 * 16384 * 0.9
    assert page_faults(repo_root, keep=True) < 16384


def test_without_mallopt_it_reports_that_nothing_changed(monkeypatch):
    monkeypatch.setattr(cpu_memory, '_applied', None)
    monkeypatch.setattr(cpu_memory, '_mallopt', lambda: None)
    assert cpu_memory.keep_freed_memory() is False
    assert cpu_memory.keep_freed_memory() is False  # idempotent
