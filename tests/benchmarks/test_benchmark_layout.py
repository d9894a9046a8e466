"""benchmarks/benchmark_layout.py at a tiny shape."""
import importlib
import sys

import pytest


def test_benchmark_layout_times_every_operation_in_both_layouts(repo_root, monkeypatch, capsys):
    script = importlib.import_module('benchmarks.benchmark_layout')
    monkeypatch.setattr(sys, 'argv', ['benchmark_layout.py', '--shape', '2x8x8x8', '--repeats', '1'])
    script.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('shape 2x8x8x8, float32') and lines[1].split()[-2:] == ['NCHW', 'channels-last']
    names = [line[:26].strip() for line in lines[2:]]
    assert names == ['conv 3x3', 'conv 1x1 to 2C', 'depthwise 3x3', 'GroupNorm', 'LayerNorm2d permute copy',
                     'residual add']
    assert all(len(line[26:].split()) == 2 for line in lines[2:])  # a median for each layout


def test_benchmark_layout_rejects_a_bad_shape(repo_root, monkeypatch):
    script = importlib.import_module('benchmarks.benchmark_layout')
    monkeypatch.setattr(sys, 'argv', ['benchmark_layout.py', '--shape', '8x8'])
    with pytest.raises(SystemExit, match='--shape must look like'):
        script.main()
