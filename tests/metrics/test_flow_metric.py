import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_metric

from seeclear_arch.metrics.flow_metric import (
    calculate_ewarp,
    calculate_tof_raft,
    forward_backward_flows,
    frames_to_tensor,
    tof_per_pair,
    warp_error_per_pair,
)
from seeclear_arch.metrics.optical_flow import farneback_flow_fn
from seeclear_arch.metrics.temporal_metric import is_per_sequence

RAFT = dict(raft_model='small', random_weights=True, num_flow_updates=2)


def _panning(big: np.ndarray, num: int, step: int, h: int = 48, w: int = 48) -> list:
    """Frames of a window moving left over ``big``: content moves ``step`` px right per frame."""
    x0 = 8 + step * num
    return [big[8:8 + h, x0 - step * t:x0 - step * t + w] for t in range(num)]


def _true_flows(num: int, h: int, w: int, step: int):
    """Exact forward (+step, 0) and backward (-step, 0) flows of ``_panning``."""
    fw = torch.zeros(num - 1, 2, h, w)
    fw[:, 0] = step
    return fw, -fw


def test_registered_per_sequence():
    for name in ('calculate_tof_raft', 'calculate_ewarp'):
        assert is_per_sequence(name)


def test_ewarp_zero_for_translation_warped_by_true_flow(make_texture):
    frames = frames_to_tensor(_panning(make_texture(64, 96, 0), 5, 3))
    fw, bw = _true_flows(5, 48, 48, 3)
    assert warp_error_per_pair(frames, fw, bw).abs().max().item() < 1e-10
    assert warp_error_per_pair(frames, torch.zeros_like(fw), torch.zeros_like(bw)).min().item() > 1e-3


def test_ewarp_hand_computed(make_texture):
    frames = frames_to_tensor(_panning(make_texture(64, 96, 0), 3, 2))
    fw, bw = _true_flows(3, 48, 48, 2)
    brighter = frames.clone()
    brighter[1] = brighter[1] + 0.1  # pair 0 sees -0.1 everywhere, pair 1 sees +0.1
    torch.testing.assert_close(warp_error_per_pair(brighter, fw, bw), torch.tensor([0.01, 0.01]))
    occluded = warp_error_per_pair(brighter, fw, fw)  # inconsistent flows: no reliable pixel, counts as 0
    assert torch.equal(occluded, torch.zeros(2))


def test_ewarp_farneback_identical_translation(make_texture):
    gt = _panning(make_texture(64, 120, 0), 4, 1)
    value = calculate_ewarp(gt, gt, flow='farneback', scale=1000)
    fw, bw = forward_backward_flows(farneback_flow_fn, frames_to_tensor(gt))
    assert fw[:, 0].median().item() == pytest.approx(1, abs=0.1)
    assert value == pytest.approx(1000 * warp_error_per_pair(frames_to_tensor(gt), fw, bw).mean().item())
    assert 0 <= value < 1  # near-exact flow: tiny error in [0, 1] units x1000
    noisy = [np.clip(f.astype(np.int16) + np.random.default_rng(i).integers(-20, 21, f.shape), 0, 255).astype(np.uint8)
             for i, f in enumerate(gt)]
    assert calculate_ewarp(noisy, gt, flow='farneback', scale=1000) > value + 1


def test_tof_raft_plumbing(make_texture):
    big = make_texture(140, 200, 0)
    gt = _panning(big, 3, 1, 128, 128)
    sr = _panning(big, 3, 3, 128, 128)
    assert calculate_tof_raft(gt, gt, **RAFT) == 0
    value = calculate_tof_raft(sr, gt, **RAFT)
    assert value > 0
    assert calculate_tof_raft(sr, gt, scale=10, **RAFT) == pytest.approx(10 * value, rel=1e-6)
    flow_fn = lambda a, b: a[:, :2] - b[:, :2]  # noqa: E731  a stand-in flow to check the definition
    x, y = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    expected = ((x[1:, :2] - x[:-1, :2]) - (y[1:, :2] - y[:-1, :2])).abs().mean(dim=(1, 2, 3))
    torch.testing.assert_close(tof_per_pair(flow_fn, x, y, batch_size=2), expected)


def test_ewarp_raft_and_calculate_metric(make_texture):
    gt = _panning(make_texture(140, 200, 0), 3, 1, 128, 128)
    opt = {'type': 'calculate_ewarp', 'crop_border': 2, **RAFT}
    value = calculate_metric({'img': gt, 'img2': gt}, opt)
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(calculate_ewarp(gt, gt, crop_border=2, **RAFT))


def test_sequence_errors(make_texture):
    frames = [make_texture(16, 16, s) for s in range(3)]
    with pytest.raises(ValueError, match='length'):
        calculate_ewarp(frames, frames[:2], flow='farneback')
    with pytest.raises(ValueError, match="'raft' or 'farneback'"):
        calculate_ewarp(frames, frames, flow='pwc')
