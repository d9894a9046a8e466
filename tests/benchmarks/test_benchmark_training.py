"""benchmarks/benchmark_training.py on a tiny SeeClearNet experiment (no dataset is read)."""
import importlib
import json
import sys

import pytest

from tests.helpers import tiny_opt, train_options, write_yml


def _script(repo_root: str, monkeypatch):
    return importlib.import_module('benchmarks.benchmark_training')


def test_benchmark_training_reports_speed_and_memory(tmp_path, repo_root, monkeypatch, capsys):
    opt = train_options(str(tmp_path / 'no_data'), val=False)  # the dataset folders are never opened
    opt['network_g'] = tiny_opt()
    yml = write_yml(opt, str(tmp_path / 'tiny.yml'))
    out = str(tmp_path / 'result.json')
    argv = ['-opt', yml, '--precision', 'bf16', '--grad-checkpoint', '--iters', '2', '--warmup', '1', '--batch', '1',
            '--gt-size', '32', '--json', out]
    monkeypatch.setattr(sys, 'argv', ['benchmark_training.py', *argv])
    _script(repo_root, monkeypatch).main()
    printed = capsys.readouterr().out
    for key in ('it/s', 's/it median', 'peak MiB', 'process peak RSS'):
        assert key in printed
    row = json.load(open(out))
    assert row['network'] == 'SeeClearNet' and row['precision'] == 'bf16' and row['grad_checkpoint'] is True
    assert row['batch'] == '1 clips x 3 frames, GT 32^2 (LR 8^2)' and row['iters'] == 2
    assert row['it/s'] > 0 and row['peak MiB'] >= row['after build MiB'] > 0
    assert not [p for p in tmp_path.iterdir() if '.tmp' in p.name]


def test_benchmark_training_refuses_a_gt_size_the_scale_does_not_divide(tmp_path, repo_root, monkeypatch):
    bench = _script(repo_root, monkeypatch)
    yml = write_yml(train_options(str(tmp_path / 'no_data'), val=False), str(tmp_path / 'tiny.yml'))
    args = bench.parse_args(['-opt', yml, '--gt-size', '30'])
    with pytest.raises(SystemExit, match='GT size 30 is not a multiple of scale 4'):
        bench.batch_shape(bench.training_options(args), args)
    args = bench.parse_args(['-opt', yml, '--num-clips', '2'])
    assert bench.batch_shape(bench.training_options(args), args) == {'items': 2, 'frames': 6, 'gt': 16, 'lr': 4}


def test_benchmark_training_cached_condition_skips_the_base_network(tmp_path, repo_root, monkeypatch):
    bench = _script(repo_root, monkeypatch)
    opt = train_options(str(tmp_path / 'no_data'), val=False)
    opt.update(network_base={'type': 'MSRResNet', 'num_feat': 4, 'num_block': 1, 'upscale': 4}, base_mode='image')
    yml = write_yml(opt, str(tmp_path / 'star.yml'))
    calls = []
    for cached in (False, True):
        args = bench.parse_args(['-opt', yml, '--iters', '1', '--warmup', '0', '--batch', '1'] +
                                (['--cached-condition'] if cached else []))
        original = bench.build_model

        def recording(o, original=original, cached=cached):
            model = original(o)
            model.net_base.register_forward_hook(lambda *a, cached=cached: calls.append(cached))
            return model

        monkeypatch.setattr(bench, 'build_model', recording)
        row = bench.run(args)
        assert row['condition'] == ('cached' if cached else 'Condition(MSRResNet, base_mode=image)')
    assert calls == [False] * 3  # 3 frames through the base network per step without the cache, none with it
