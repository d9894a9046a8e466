"""benchmarks/propagation_cost.py at tiny sizes."""
import importlib
import sys


def test_propagation_cost_prints_a_median_per_size(repo_root, monkeypatch, capsys):
    script = importlib.import_module('benchmarks.propagation_cost')
    monkeypatch.setattr(sys, 'argv', ['propagation_cost.py', '--sizes', '16x32,24x24', '--repeats', '2'])
    script.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('threads: ')
    assert [line.split(':')[0] for line in lines[1:]] == ['16x32', '24x24']
    assert all(line.endswith('s/frame (median of 2)') for line in lines[1:])
