"""Data preparation: BI x4 equals BasicSR's imresize, LMDB keys, meta info, REDS splits, script CLIs."""
import os
import runpy
import sys
from os import path as osp

import cv2
import lmdb
import numpy as np
import pytest
from basicsr.utils.matlab_functions import imresize

from seeclear_arch.data.meta_info import ClipMeta, read_meta_info
from seeclear_arch.data.prepare import (
    bicubic_downscale,
    generate_bicubic_lr,
    generate_meta_info,
    make_lmdb,
    make_reds4,
    regroup_reds_val,
)
from tests.helpers import noise_frames, write_frames


def test_bicubic_lr_equals_basicsr_imresize(reds_tree):
    gt = cv2.imread(osp.join(reds_tree['gt'], '001', '00000002.png'))
    lq = cv2.imread(osp.join(reds_tree['lq'], '001', '00000002.png'))
    expected = np.clip(np.round(imresize(gt.astype(np.float32) / 255., 0.25) * 255.), 0, 255).astype(np.uint8)
    assert lq.shape == (12, 16, 3) and np.array_equal(lq, expected)
    with pytest.raises(ValueError, match=r'frame.png is 10x16 \(HxW\), not divisible by scale 4'):
        bicubic_downscale(np.zeros((10, 16, 3), np.uint8), 4, 'frame.png')


def test_generate_bicubic_lr_keeps_tree_and_writes_png(tmp_path):
    write_frames(str(tmp_path / 'GT' / 'calendar'), noise_frames(2, 0, 16, 8), ['a.jpg', 'b.png'])
    assert generate_bicubic_lr(str(tmp_path / 'GT'), str(tmp_path / 'LR'), 4) == 2
    assert sorted(os.listdir(tmp_path / 'LR' / 'calendar')) == ['a.png', 'b.png']


def test_lmdb_keys_are_clip_slash_frame(vimeo_tree, tmp_path):
    path = str(tmp_path / 'vimeo_GT.lmdb')
    assert make_lmdb(vimeo_tree['gt'], path) == 14
    with lmdb.open(path, readonly=True, lock=False) as env, env.begin() as txn:
        keys = sorted(k.decode() for k, _ in txn.cursor())
    assert keys[:2] == ['00001/0001/im1', '00001/0001/im2'] and len(keys) == 14
    with pytest.raises(FileExistsError, match='already exists'):
        make_lmdb(vimeo_tree['gt'], path)


def test_meta_info(reds_tree, tmp_path):
    assert read_meta_info(reds_tree['meta']) == [ClipMeta(c, 6, (48, 64, 3)) for c in ('000', '001', '011')]
    out = str(tmp_path / 'meta.txt')
    generate_meta_info(reds_tree['gt'], out, exclude=['000'])
    with open(out) as f:
        assert f.read() == '001 6 (48,64,3)\n011 6 (48,64,3)\n'


def test_regroup_reds_val_and_reds4(tmp_path):
    for clip in ('000', '011', '015', '020'):
        write_frames(str(tmp_path / 'train_sharp' / clip), noise_frames(1, 0, 8, 8), ['00000000.png'])
        write_frames(str(tmp_path / 'train_lr' / clip), noise_frames(1, 0, 2, 2), ['00000000.png'])
    for clip in ('000', '029'):
        write_frames(str(tmp_path / 'val_sharp' / clip), noise_frames(1, 0, 8, 8), ['00000000.png'])
    assert regroup_reds_val(str(tmp_path / 'val_sharp'), str(tmp_path / 'train_sharp')) == ['240', '269']
    assert sorted(os.listdir(tmp_path / 'train_sharp'))[-2:] == ['240', '269']
    make_reds4(str(tmp_path / 'train_sharp'), str(tmp_path / 'train_lr'), str(tmp_path / 'REDS4'))
    assert sorted(os.listdir(tmp_path / 'REDS4' / 'GT')) == ['000', '011', '015', '020']
    assert os.listdir(tmp_path / 'REDS4' / 'sharp_bicubic' / '020') == ['00000000.png']


def test_script_clis(reds_tree, tmp_path, repo_root, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'path', list(sys.path))  # the scripts prepend the checkout

    def run(script, *args):
        monkeypatch.setattr(sys, 'argv', [script, *map(str, args)])
        runpy.run_path(osp.join(repo_root, 'scripts', script), run_name='__main__')
        return capsys.readouterr().out

    assert '18 frames' in run('generate_bicubic_lr.py', reds_tree['gt'], tmp_path / 'LR')
    assert '3 clips' in run('generate_meta_info.py', tmp_path / 'LR', tmp_path / 'meta.txt')
    assert '18 frames' in run('create_lmdb.py', tmp_path / 'LR', tmp_path / 'LR.lmdb')
    assert 'REDS4' in run('regroup_reds.py', 'make-reds4', reds_tree['gt'], tmp_path / 'LR', tmp_path / 'REDS4',
                          '--clips', '000,011')
    out = run('prepare_demo_data.py', '--out', tmp_path / 'demo', '--width', 64, '--multiple', 8, '--max-frames', 40)
    assert 'test  bikes_0030: source frames 30..39' in out
