"""scripts/benchmark_layout.py at a tiny shape."""
import importlib
import sys
from os import path as osp

import pytest


def test_benchmark_layout_times_every_operation_in_both_layouts(repo_root, monkeypatch, capsys):
    monkeypatch.syspath_prepend(osp.join(repo_root, 'scripts'))
    script = importlib.import_module('benchmark_layout')
    monkeypatch.setattr(sys, 'argv', ['benchmark_layout.py', '--shape', '2x8x8x8', '--repeats', '1'])
    script.main()
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(rows) == 6 and all(float(row[-1]) >= 0 and float(row[-2]) >= 0 for row in rows)


def test_benchmark_layout_rejects_a_bad_shape(repo_root, monkeypatch):
    monkeypatch.syspath_prepend(osp.join(repo_root, 'scripts'))
    script = importlib.import_module('benchmark_layout')
    monkeypatch.setattr(sys, 'argv', ['benchmark_layout.py', '--shape', '8x8'])
    with pytest.raises(SystemExit, match='--shape must look like'):
        script.main()
