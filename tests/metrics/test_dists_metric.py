from types import SimpleNamespace

import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_metric
from basicsr.utils.registry import METRIC_REGISTRY
from DISTS_pytorch import DISTS_pt
from torchvision.models.vgg import cfgs, make_layers

from seeclear_arch.metrics import vgg_trunk
from seeclear_arch.metrics.dists_metric import L2Pooling, build_dists_vgg, calculate_dists, default_dists_weights_path


@pytest.fixture
def package_dists(monkeypatch):
    """``DISTS_pytorch.DISTS`` built without its VGG16 download (random torchvision VGG16 patched in)."""
    trunk_only = SimpleNamespace(features=make_layers(cfgs['D']))  # no 120M-parameter classifier to initialise
    monkeypatch.setattr(DISTS_pt.models, 'vgg16', lambda **kwargs: trunk_only)
    return DISTS_pt.DISTS(load_weights=False).eval()


def test_registered():
    assert METRIC_REGISTRY.get('calculate_dists') is calculate_dists


def test_state_dict_matches_package_and_weights(package_dists):
    ours = build_dists_vgg(random_trunk=True)
    assert set(ours.state_dict()) == set(package_dists.state_dict())
    weights = torch.load(default_dists_weights_path(), map_location='cpu')
    assert torch.equal(ours.alpha, weights['alpha']) and torch.equal(ours.beta, weights['beta'])


def test_l2pooling_matches_package():
    x = torch.rand(1, 8, 12, 12)
    torch.testing.assert_close(L2Pooling(8)(x), DISTS_pt.L2pooling(channels=8)(x))


def test_matches_package(package_dists, image_pair):
    value = calculate_dists(*image_pair, 0, random_trunk=True)
    ours = vgg_trunk.get_network('dists_vgg', build_dists_vgg, random_trunk=True)
    package_dists.load_state_dict(ours.state_dict())
    x, y = (torch.from_numpy(np.ascontiguousarray(i[..., ::-1]) / 255.).float().permute(2, 0, 1)[None]
            for i in image_pair)
    expected = package_dists(x, y).item()
    assert value > 0
    assert value == pytest.approx(expected, abs=1e-5, rel=1e-5)


def test_identical_images_zero(image_pair):
    assert calculate_dists(image_pair[0], image_pair[0], 0, random_trunk=True) == pytest.approx(0, abs=1e-5)


def test_calculate_metric_with_opt(image_pair):
    opt = {'type': 'calculate_dists', 'crop_border': 2, 'random_trunk': True}
    value = calculate_metric({'img': image_pair[0], 'img2': image_pair[1]}, opt)
    assert value == pytest.approx(calculate_dists(*image_pair, 2, random_trunk=True))
