"""compare_results: metrics CSV/JSON, side-by-side crops and x-t profiles on tiny synthetic sequences."""
import csv
import json
import os
import runpy
import sys
from os import path as osp

import cv2
import numpy as np
import pytest

from seeclear_arch.evaluation.compare import (
    GAP,
    LABEL_H,
    Visuals,
    compare_runs,
    format_table,
    side_by_side,
    write_metrics,
)

T, HR = 6, 32  # frames per sequence, HR side


def _gt_frames(seed: int) -> list:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(40, 216, (4, 4, 3), dtype=np.uint8), (HR + T, HR), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(base[:, t:t + HR]) for t in range(T)]  # a slow pan


@pytest.fixture
def dataset(tmp_path) -> dict:
    """GT/LR of two sequences; run ``good`` = GT + slight noise (``<frame>.png``), run ``flicker`` = GT with a
    brightness offset alternating every frame (BasicSR naming ``<frame>_test.png``)."""
    roots = {k: tmp_path / k for k in ('gt', 'lq', 'good', 'flicker')}
    rng = np.random.default_rng(0)
    for s, seq in enumerate(('seqA', 'seqB')):
        for root in roots.values():
            (root / seq).mkdir(parents=True)
        for t, gt in enumerate(_gt_frames(s)):
            cv2.imwrite(str(roots['gt'] / seq / f'{t:08d}.png'), gt)
            cv2.imwrite(str(roots['lq'] / seq / f'{t:08d}.png'), cv2.resize(gt, (HR // 4, HR // 4),
                                                                            interpolation=cv2.INTER_AREA))
            good = np.clip(gt + rng.integers(-2, 3, gt.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(roots['good'] / seq / f'{t:08d}.png'), good)
            flicker = np.clip(gt.astype(int) + (20 if t % 2 else -20), 0, 255).astype(np.uint8)
            cv2.imwrite(str(roots['flicker'] / seq / f'{t:08d}_test.png'), flicker)
    return {k: str(v) for k, v in roots.items()}


def _compare(dataset, out=None):
    runs = {'good': dataset['good'], 'flicker': dataset['flicker']}
    return compare_runs(dataset['gt'], dataset['lq'], runs, 4, visuals=Visuals(out, crop=16) if out else None)


def test_metrics_csv_and_json(dataset, tmp_path):
    table = _compare(dataset)
    assert list(table) == ['seqA', 'seqB'] and list(table['seqA']) == ['bicubic', 'good', 'flicker']
    assert all(row['good'][0] > 40 and row['good'][0] > row['bicubic'][0] + 3 for row in table.values())
    csv_path, json_path = write_metrics(table, str(tmp_path / 'out'))
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 and rows[-1]['sequence'] == 'mean' and rows[-1]['label'] == 'flicker'
    with open(json_path) as f:
        doc = json.load(f)
    for label in ('bicubic', 'good', 'flicker'):
        mean = np.mean([doc['sequences'][s][label]['psnr'] for s in ('seqA', 'seqB')])
        assert doc['mean'][label]['psnr'] == pytest.approx(mean)
        assert float(rows[-3 + ['bicubic', 'good', 'flicker'].index(label)]['psnr']) == pytest.approx(mean, abs=1e-4)
    assert '| **mean** |' in format_table(table)
    assert sorted(os.listdir(tmp_path / 'out')) == ['metrics.csv', 'metrics.json']


def test_crops_and_xt_profiles(dataset, tmp_path):
    out = str(tmp_path / 'vis')
    _compare(dataset, out)
    assert sorted(os.listdir(osp.join(out, 'crops'))) == ['seqA.png', 'seqB.png']
    crops = cv2.imread(osp.join(out, 'crops', 'seqA.png'))
    assert crops.shape == (LABEL_H + 16, 4 * 16 + 3 * GAP, 3)  # labels over bicubic | good | flicker | GT
    assert (crops[:LABEL_H] < 128).any()  # the column labels are drawn
    crops = crops[LABEL_H:]
    gt_mid = cv2.imread(osp.join(dataset['gt'], 'seqA', f'{T // 2:08d}.png'))
    assert np.array_equal(crops[:, -16:], gt_mid[8:24, 8:24])  # centre crop of the middle frame
    assert (crops[:, 16:16 + GAP] == 255).all()
    profile = cv2.imread(osp.join(out, 'profiles', 'seqA_xt.png'))
    assert profile.shape == (LABEL_H + T, 4 * HR + 3 * GAP, 3)
    profile = profile[LABEL_H:]
    gt_rows = np.stack([cv2.imread(osp.join(dataset['gt'], 'seqA', f'{t:08d}.png'))[HR // 2] for t in range(T)])
    assert np.array_equal(profile[:, -HR:], gt_rows)
    panel = lambda k: profile[:, k * (HR + GAP):k * (HR + GAP) + HR].astype(float)  # noqa: E731
    flicker = lambda img: np.abs(np.diff(img.mean((1, 2)))).mean()  # noqa: E731  (frame-to-frame row brightness)
    assert flicker(panel(2)) > 10 * flicker(panel(3)) and flicker(panel(1)) < 2 * flicker(panel(3)) + 0.5


def test_side_by_side_needs_equal_heights():
    with pytest.raises(ValueError, match='heights differ'):
        side_by_side([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)])


def test_compare_cli(dataset, tmp_path, repo_root, monkeypatch, capsys):
    script = osp.join(repo_root, 'scripts', 'compare_results.py')
    out = str(tmp_path / 'cli')
    monkeypatch.setattr(sys, 'argv', [script, '--gt', dataset['gt'], '--lq', dataset['lq'], '--run',
                                      f'good={dataset["good"]}', '--out', out, '--crop', '8', '--row', '3'])
    runpy.run_path(script, run_name='__main__')
    printed = capsys.readouterr().out
    assert '| seqA |' in printed and 'metrics.json' in printed
    assert sorted(os.listdir(out)) == ['crops', 'metrics.csv', 'metrics.json', 'profiles']
    assert cv2.imread(osp.join(out, 'crops', 'seqB.png')).shape == (LABEL_H + 8, 3 * 8 + 2 * GAP, 3)
    monkeypatch.setattr(sys, 'argv', [script, '--gt', dataset['gt'], '--lq', dataset['lq'], '--run', 'nolabel'])
    with pytest.raises(SystemExit, match='--run expects LABEL=DIR'):
        runpy.run_path(script, run_name='__main__')
    monkeypatch.setattr(sys, 'argv', [script, '--gt', dataset['gt'], '--lq', dataset['lq'], '--out', out,
                                      '--row', '99'])
    with pytest.raises(SystemExit, match='--row 99 is out of range'):
        runpy.run_path(script, run_name='__main__')
