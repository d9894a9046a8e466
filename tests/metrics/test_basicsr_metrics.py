"""BasicSR's own PSNR/SSIM/NIQE, as the options files reference them, work offline next to ours."""
import os

import basicsr.metrics
import numpy as np
import pytest
from basicsr.metrics import calculate_metric
from basicsr.utils.registry import METRIC_REGISTRY

OURS = ('calculate_lpips', 'calculate_dists', 'calculate_tlp', 'calculate_tof', 'calculate_tof_raft', 'calculate_ewarp')


def test_all_names_registered():
    names = set(METRIC_REGISTRY.keys())
    assert set(OURS) <= names
    assert {'calculate_psnr', 'calculate_ssim', 'calculate_niqe'} <= names


def test_psnr_ssim_y_channel_from_opt(image_pair):
    img, img2 = image_pair
    data = {'img': img, 'img2': img2}
    psnr_y = calculate_metric(data, {'type': 'calculate_psnr', 'crop_border': 2, 'test_y_channel': True})
    psnr_rgb = calculate_metric(data, {'type': 'calculate_psnr', 'crop_border': 2, 'test_y_channel': False})
    ssim_y = calculate_metric(data, {'type': 'calculate_ssim', 'crop_border': 2, 'test_y_channel': True})
    assert np.isfinite(psnr_y) and psnr_y != psnr_rgb and 0 < ssim_y < 1


def test_niqe_runs_offline(make_texture):
    params = os.path.join(os.path.dirname(basicsr.metrics.__file__), 'niqe_pris_params.npz')
    assert os.path.isfile(params)
    img = make_texture(96, 96, 0)
    value = calculate_metric({'img': img, 'img2': img}, {'type': 'calculate_niqe', 'crop_border': 0})
    assert np.isfinite(value) and value > 0


@pytest.mark.parametrize('name', OURS)
def test_signature_takes_basicsr_keywords(name):
    import inspect
    params = inspect.signature(METRIC_REGISTRY.get(name)).parameters
    assert list(params)[:3] == ['img', 'img2', 'crop_border'] and 'input_order' in params
