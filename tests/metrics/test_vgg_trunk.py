import os

import numpy as np
import pytest
import torch
from torchvision.models import VGG16_Weights
from torchvision.models.vgg import cfgs, make_layers

from seeclear_arch.metrics import dists_metric, lpips_metric, vgg_trunk
from seeclear_arch.metrics.dists_metric import calculate_dists
from seeclear_arch.metrics.lpips_metric import calculate_lpips


def _save_fake_checkpoint(path) -> dict:
    """A torchvision-format VGG16 state dict (``features.*`` plus a classifier key) with random values."""
    torch.manual_seed(1)
    state = {f'features.{k}': v for k, v in make_layers(cfgs['D']).state_dict().items()}
    state['classifier.6.bias'] = torch.zeros(1000)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(state, path)
    return state


def test_file_name_is_torchvision_cache_name():
    assert os.path.basename(VGG16_Weights.IMAGENET1K_V1.url) == vgg_trunk.VGG16_FILE


@pytest.mark.parametrize('metric', [calculate_lpips, calculate_dists])
def test_missing_trunk_names_the_file(metric, image_pair, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        metric(*image_pair, crop_border=0)
    msg = str(err.value)
    assert vgg_trunk.VGG16_FILE in msg
    assert os.path.join(str(tmp_path / 'hub'), 'checkpoints', vgg_trunk.VGG16_FILE) in msg
    assert vgg_trunk.TRUNK_ENV_VAR in msg and 'trunk_path' in msg


def test_trunk_loaded_from_hub_cache_env_and_option(tmp_path, monkeypatch):
    hub_file = os.path.join(str(tmp_path / 'hub'), 'checkpoints', vgg_trunk.VGG16_FILE)
    state = _save_fake_checkpoint(hub_file)
    for source in ('hub', 'env', 'option'):
        other = str(tmp_path / source / 'vgg.pth')
        if source != 'hub':
            _save_fake_checkpoint(other)
        if source == 'env':
            monkeypatch.setenv(vgg_trunk.TRUNK_ENV_VAR, other)
        features = vgg_trunk.build_vgg16_features(other if source == 'option' else None)
        torch.testing.assert_close(features[28].weight, state['features.28.weight'])
        assert not any(p.requires_grad for p in features.parameters())


def test_random_trunk_is_deterministic_and_leaves_global_rng():
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    a = vgg_trunk.build_vgg16_features(random_trunk=True)
    assert torch.equal(torch.rand(1), expected)
    b = vgg_trunk.build_vgg16_features(random_trunk=True)
    torch.testing.assert_close(a[0].weight, b[0].weight, rtol=0, atol=0)


@pytest.mark.parametrize('module, metric, builder', [
    (lpips_metric, calculate_lpips, 'build_lpips_vgg'),
    (dists_metric, calculate_dists, 'build_dists_vgg'),
])
def test_network_built_once(module, metric, builder, image_pair, monkeypatch):
    calls = []
    original = getattr(module, builder)

    def counting(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(module, builder, counting)
    values = [metric(*image_pair, 0, random_trunk=True, device=dev) for dev in ['cpu', torch.device('cpu')] * 3]
    assert len(calls) == 1
    assert np.allclose(values, values[0])


def test_image_to_tensor_bgr_crop_and_chw():
    img = np.arange(6 * 6 * 3, dtype=np.uint8).reshape(6, 6, 3)
    x = vgg_trunk.image_to_tensor(img, crop_border=1)
    assert x.shape == (1, 3, 4, 4) and x.dtype == torch.float32
    torch.testing.assert_close(x[0, 0], torch.from_numpy(img[1:-1, 1:-1, 2] / 255.).float())
    y = vgg_trunk.image_to_tensor(img.transpose(2, 0, 1), crop_border=1, input_order='CHW')
    torch.testing.assert_close(x, y)
    gray = vgg_trunk.image_to_tensor(img[..., :1])
    assert gray.shape == (1, 3, 6, 6) and torch.equal(gray[0, 0], gray[0, 2])
