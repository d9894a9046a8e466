import subprocess
import sys

import pytest
import torch

from seeclear_arch.sampling import cpu_memory

# a fresh interpreter per case: the setting is process-wide and cannot be undone
FAULTS = """
import resource, sys, torch
sys.path.insert(0, {repo!r})
if {keep}:
    from seeclear_arch.sampling.cpu_memory import keep_freed_memory
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


RESIDENT = """
import sys, torch
sys.path.insert(0, {repo!r})
from seeclear_arch.sampling.cpu_memory import keep_freed_memory, release_freed_memory
from seeclear_arch.sampling.tiling import current_rss
assert keep_freed_memory()
torch.ones(64, 2**20)  # 256 MiB, freed at once but kept by the allocator
kept = current_rss()
release_freed_memory()
print((kept - current_rss()) / 2**20)
"""


@pytest.mark.slow
@pytest.mark.skipif(cpu_memory._mallopt() is None, reason='needs glibc mallopt (Linux)')
def test_release_hands_kept_blocks_back_so_rss_counts_live_memory(repo_root):
    """--tile auto reads memory as RSS: once freed blocks are released, a freed 256 MiB tensor no longer counts."""
    out = subprocess.run([sys.executable, '-c', RESIDENT.format(repo=str(repo_root))], check=True,
                         capture_output=True, text=True).stdout
    assert float(out.split()[-1]) > 200


def test_measure_peak_releases_kept_memory_before_reading_the_rss(monkeypatch):
    from seeclear_arch.sampling import tiling
    events = []
    monkeypatch.setattr(tiling, 'release_freed_memory', lambda: events.append('release'))
    monkeypatch.setattr(tiling, 'current_rss', lambda: events.append('rss') or 0)
    tiling.measure_peak(lambda: None, torch.device('cpu'), interval=0.001)
    assert events[0] == 'release' and 'rss' in events
