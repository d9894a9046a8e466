"""Metric names and the CPU metrics of ``seeclear_arch.evaluation.cli`` against hand-computed / BasicSR values."""
import math

import numpy as np
import pytest
from basicsr.metrics import calculate_niqe, calculate_ssim

from seeclear_arch.evaluation.metrics import SPECS, cpu_frame_metrics, resolve_metric_names
from seeclear_arch.metrics.temporal_metric import calculate_tof
from tests.helpers import noisy, panning, textured


def test_metric_names_and_flow_fallback():
    assert resolve_metric_names(['PSNR', ' tof', 'ewarp', 'psnr']) == ['psnr', 'tof', 'ewarp']
    assert resolve_metric_names(['tof', 'ewarp', 'tlp'], flow='farneback') == ['tof_farneback', 'ewarp_farneback',
                                                                                'tlp']
    assert SPECS['tof'].label != SPECS['tof_farneback'].label and SPECS['ewarp'].label != SPECS['ewarp_farneback'].label
    assert (SPECS['tlp'].scale, SPECS['tof'].scale, SPECS['ewarp'].scale) == (1000, 10, 1000)
    with pytest.raises(ValueError, match='Unknown metric'):
        resolve_metric_names(['fid'])


def test_psnr_hand_computed_and_ssim_niqe_reference():
    gt = [textured(96, 96, s) // 2 + 64 for s in range(2)]  # no clipping when shifted by 5
    sr = [g + 5 for g in gt]
    out = cpu_frame_metrics(['psnr', 'ssim', 'niqe'], sr, gt, crop_border=0, y_channel=False)
    assert out['psnr'] == pytest.approx([10 * math.log10(255 ** 2 / 25)] * 2)
    assert out['ssim'] == pytest.approx([calculate_ssim(s, g, 0) for s, g in zip(sr, gt)])
    assert out['niqe'] == pytest.approx([calculate_niqe(s, 0) for s in sr])
    y = cpu_frame_metrics(['psnr'], sr, gt, crop_border=4, y_channel=True)['psnr']
    assert y[0] != pytest.approx(out['psnr'][0]) and np.isfinite(y[0])


def test_tof_farneback_per_pair_and_identity():
    gt = panning(4, 0, 48, 48)
    sr = noisy(gt, 1)
    out = cpu_frame_metrics(['tof_farneback'], sr, gt, 0, False)['tof_farneback']
    assert len(out) == 3 and np.mean(out) == pytest.approx(calculate_tof(sr, gt, scale=10))
    assert cpu_frame_metrics(['tof_farneback'], gt, gt, 0, False)['tof_farneback'] == [0, 0, 0]
