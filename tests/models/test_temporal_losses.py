"""The temporal training losses: ``temporal_difference`` and Lai et al.'s flow-warped ``WarpConsistency``."""
import pytest
import torch
from basicsr.losses import build_loss

from seeclear_arch.metrics.flow_metric import warp_error_per_pair
from seeclear_arch.metrics.optical_flow import farneback_flow_fn, flow_warp, non_occlusion_mask
from seeclear_arch.models.temporal_losses import WarpConsistency, pair_flows, temporal_difference


def moving_clips(rows: int = 2, frames: int = 4, size: int = 48, seed: int = 0) -> torch.Tensor:
    """``(rows, frames, 3, size, size)`` clips of a smooth texture moving one pixel left and up per frame."""
    g = torch.Generator().manual_seed(seed)
    texture = torch.nn.functional.avg_pool2d(torch.rand(rows, 3, size + frames + 4, size + frames + 4, generator=g),
                                             5, stride=1)
    return torch.stack([texture[:, :, k:k + size, k:k + size] for k in range(frames)], dim=1)


def test_temporal_difference_is_the_frame_to_frame_change():
    frames = torch.arange(4.).view(1, 4, 1, 1, 1)
    assert temporal_difference(frames).flatten().tolist() == [1.0, 1.0, 1.0]


def test_pair_flows_follow_the_motion_of_each_pair():
    gt = moving_clips()
    fw, bw = pair_flows(farneback_flow_fn, gt)
    assert fw.shape == bw.shape == (2 * 3, 2, 48, 48)
    centre = (slice(None), slice(None), slice(12, 36), slice(12, 36))
    # frame t+1 at p is frame t at p + (1, 1): content at p in frame t is at p - (1, 1) in frame t+1
    assert fw[centre].mean(dim=(0, 2, 3)).tolist() == pytest.approx([-1.0, -1.0], abs=0.15)
    assert bw[centre].mean(dim=(0, 2, 3)).tolist() == pytest.approx([1.0, 1.0], abs=0.15)


def test_with_mse_the_loss_is_the_e_warp_numerator_over_all_pixels():
    """MSE of the masked pairs = sum_p M ||x_t - W(x_{t+1})||^2 / (pairs * 3 * H * W): the metric's E_warp,
    re-weighted by each pair's visible area (the metric divides by it)."""
    gt = moving_clips()
    pred = (gt + 0.05 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    loss = WarpConsistency(build_loss({'type': 'MSELoss', 'loss_weight': 1.0}))(pred, gt)
    fw, bw = pair_flows(farneback_flow_fn, gt)
    frames = pred.flatten(0, 1)
    numerator = 0.0
    for r in range(2):
        rows = slice(3 * r, 3 * r + 3)
        e_warp = warp_error_per_pair(pred[r], fw[rows], bw[rows])
        _, inside = flow_warp(gt[r, 1:], fw[rows])
        visible = (non_occlusion_mask(fw[rows], bw[rows]) * inside).sum(dim=(1, 2, 3))
        numerator += float((e_warp * 3 * visible).sum())
    assert float(loss) == pytest.approx(numerator / (6 * frames[0].numel()), rel=1e-4)


def test_a_flickering_prediction_costs_more_than_a_steady_one_and_gradients_reach_it():
    gt = moving_clips()
    loss = WarpConsistency(build_loss({'type': 'CharbonnierLoss', 'loss_weight': 1.0, 'eps': 1e-12}))
    flicker = (gt + torch.tensor([0.0, 0.1, -0.1, 0.1]).view(1, 4, 1, 1, 1)).requires_grad_()
    assert float(loss(gt, gt)) < 0.1 * float(loss(flicker.detach(), gt))
    loss(flicker, gt).backward()
    assert flicker.grad is not None and flicker.grad.abs().sum() > 0


def test_an_unknown_flow_is_a_clear_error():
    with pytest.raises(ValueError, match="farneback"):
        WarpConsistency(build_loss({'type': 'MSELoss'}), flow='pwc')
