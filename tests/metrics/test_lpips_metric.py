from types import SimpleNamespace

import lpips
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_metric
from basicsr.utils.registry import METRIC_REGISTRY
from torchvision.models.vgg import cfgs, make_layers

from seeclear_arch.metrics.lpips_metric import calculate_lpips, default_heads_path, get_lpips_network


def _package_lpips(ours, monkeypatch) -> lpips.LPIPS:
    """``lpips.LPIPS(net='vgg')`` with its own heads and our (random) trunk copied in; nothing downloaded."""
    trunk_only = SimpleNamespace(features=make_layers(cfgs['D']))  # no 120M-parameter classifier to initialise
    monkeypatch.setattr(lpips.pretrained_networks.tv, 'vgg16', lambda **kwargs: trunk_only)
    ref = lpips.LPIPS(pretrained=True, net='vgg', pnet_rand=True, verbose=False)
    for k, stage in enumerate(ours.slices):
        getattr(ref.net, f'slice{k + 1}').load_state_dict(stage.state_dict())
    return ref.eval()


def test_registered():
    assert METRIC_REGISTRY.get('calculate_lpips') is calculate_lpips


def test_heads_are_package_weights():
    net = get_lpips_network(random_trunk=True)
    heads = torch.load(default_heads_path(), map_location='cpu')
    for k, lin in enumerate(net.lins):
        assert torch.equal(lin.weight, heads[f'lin{k}.model.1.weight'])


def test_identical_images_zero(image_pair):
    assert calculate_lpips(image_pair[0], image_pair[0], 0, random_trunk=True) == pytest.approx(0, abs=1e-7)


def test_matches_package(image_pair, monkeypatch):
    img, img2 = image_pair
    value = calculate_lpips(img, img2, 0, random_trunk=True)
    ref = _package_lpips(get_lpips_network(random_trunk=True), monkeypatch)
    x, y = (lpips.im2tensor(np.ascontiguousarray(i[..., ::-1])) for i in image_pair)  # RGB in [-1, 1]
    with torch.no_grad():
        expected = ref(x, y).item()
    assert value > 0
    assert value == pytest.approx(expected, abs=1e-5, rel=1e-5)


def test_crop_border_and_chw(image_pair):
    img, img2 = image_pair
    cropped = calculate_lpips(img[4:-4, 4:-4], img2[4:-4, 4:-4], 0, random_trunk=True)
    assert calculate_lpips(img, img2, 4, random_trunk=True) == pytest.approx(cropped, abs=1e-6)
    chw = calculate_lpips(img.transpose(2, 0, 1), img2.transpose(2, 0, 1), 4, input_order='CHW', random_trunk=True)
    assert chw == pytest.approx(cropped, abs=1e-6)


def test_float_input_same_as_uint8(image_pair):
    img, img2 = image_pair
    as_float = calculate_lpips(img.astype(np.float32), img2.astype(np.float64), 0, random_trunk=True)
    assert as_float == pytest.approx(calculate_lpips(img, img2, 0, random_trunk=True), abs=1e-6)


def test_calculate_metric_with_opt(image_pair):
    opt = {'type': 'calculate_lpips', 'crop_border': 2, 'random_trunk': True}
    value = calculate_metric({'img': image_pair[0], 'img2': image_pair[1]}, opt)
    assert value == pytest.approx(calculate_lpips(*image_pair, 2, random_trunk=True))
    assert opt['type'] == 'calculate_lpips'
