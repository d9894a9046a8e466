import numpy as np
import pytest
from basicsr.metrics import calculate_metric
from basicsr.utils.registry import METRIC_REGISTRY

from seeclear_arch.metrics.lpips_metric import calculate_lpips
from seeclear_arch.metrics.temporal_metric import (
    calculate_tlp,
    calculate_tof,
    farneback_flow,
    is_per_sequence,
    to_gray_uint8,
)


def _panning(big: np.ndarray, num: int, step: int, size: int = 48) -> list:
    """Frames of a window moving left over ``big``, so content moves ``step`` px right per frame."""
    x0 = 8 + step * num
    return [big[8:8 + size, x0 - step * t:x0 - step * t + size] for t in range(num)]


@pytest.fixture
def sequences(make_texture):
    """(SR, GT) lists of 4 different 32x32 frames."""
    sr = [make_texture(32, 32, seed) for seed in range(4)]
    gt = [make_texture(32, 32, seed) for seed in range(10, 14)]
    return sr, gt


def test_registered_and_per_sequence():
    for name in ('calculate_tlp', 'calculate_tof'):
        assert METRIC_REGISTRY.get(name).per_sequence is True and is_per_sequence(name)
    for name in ('calculate_lpips', 'calculate_dists', 'calculate_psnr', 'calculate_niqe'):
        assert not is_per_sequence(name)


def test_tlp_matches_manual(sequences):
    sr, gt = sequences
    manual = np.mean([abs(calculate_lpips(gt[t - 1], gt[t], 0, random_trunk=True)
                          - calculate_lpips(sr[t - 1], sr[t], 0, random_trunk=True)) for t in range(1, 4)])
    assert manual > 0
    assert calculate_tlp(sr, gt, random_trunk=True) == pytest.approx(manual, abs=1e-6)
    assert calculate_tlp(sr, gt, random_trunk=True, scale=100) == pytest.approx(100 * manual, abs=1e-4)
    assert calculate_tlp(gt, gt, random_trunk=True) == 0


def test_tof_identical_is_zero(sequences):
    assert calculate_tof(sequences[1], sequences[1]) == 0


def test_tof_known_translation(make_texture):
    big = make_texture(64, 96, 0)
    flow = farneback_flow(to_gray_uint8(big[8:56, 24:72]), to_gray_uint8(big[8:56, 23:71]))  # content moves 1 px right
    assert np.median(flow[..., 0]) == pytest.approx(1, abs=0.05)
    assert np.median(flow[..., 1]) == pytest.approx(0, abs=0.05)
    still = [big[8:56, 8:56]] * 4
    assert calculate_tof(_panning(big, 4, 1), still) == pytest.approx(1, abs=0.15)
    assert calculate_tof(_panning(big, 4, 1), _panning(big, 4, 1)) == 0
    assert calculate_tof(_panning(big, 4, 2), _panning(big, 4, 1), scale=10) == pytest.approx(10, abs=1.5)


def test_tof_crop_border_and_float(sequences):
    sr, gt = sequences
    cropped = calculate_tof([f[3:-3, 3:-3] for f in sr], [f[3:-3, 3:-3] for f in gt])
    assert calculate_tof(sr, gt, crop_border=3) == pytest.approx(cropped)
    assert calculate_tof([f.astype(np.float32) for f in sr], gt, crop_border=3) == pytest.approx(cropped)


def test_calculate_metric_with_sequences(sequences):
    data = {'img': np.stack(sequences[0]), 'img2': sequences[1]}
    assert calculate_metric(data, {'type': 'calculate_tof', 'crop_border': 0}) == calculate_tof(*sequences)
    tlp = calculate_metric(data, {'type': 'calculate_tlp', 'crop_border': 0, 'random_trunk': True})
    assert tlp == pytest.approx(calculate_tlp(*sequences, random_trunk=True))


@pytest.mark.parametrize('metric', [calculate_tlp, calculate_tof])
def test_sequence_errors(metric, sequences):
    sr, gt = sequences
    with pytest.raises(ValueError, match='length'):
        metric(sr, gt[:3], random_trunk=True)
    with pytest.raises(ValueError, match='at least 2'):
        metric(sr[:1], gt[:1], random_trunk=True)
