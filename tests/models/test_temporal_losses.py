"""The temporal training losses: ``temporal_difference`` and Lai et al.'s flow-warped ``WarpConsistency``."""
import pytest
import torch
from basicsr.losses import build_loss
from basicsr.models import build_model

from seeclear_arch.metrics.flow_metric import warp_error_per_pair
from seeclear_arch.metrics.optical_flow import farneback_flow_fn, flow_warp, non_occlusion_mask
from seeclear_arch.models.temporal_losses import WarpConsistency, pair_flows, temporal_difference
from tests.helpers import model_options


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


# ------------------------------------------------------------------- the losses in SeeClearModel's training step
def _one_training_step(root, lq: torch.Tensor, gt: torch.Tensor, **train_opt):
    """A model built with ``train_opt`` added to the tiny experiment's ``train`` section, after one seeded step:
    the model and its parameters."""
    torch.manual_seed(0)
    opt = model_options(root)
    opt['train'].update(train_opt)
    model = build_model(opt)
    model.feed_data({'lq': lq, 'gt': gt})
    torch.manual_seed(1)
    model.optimize_parameters(1)
    return model, [p.detach().clone() for p in model.net_g.parameters()]


def test_temporal_loss_is_off_by_default_and_penalises_flicker_when_set(root):
    """``train.temporal_opt``: Charbonnier between the frame-to-frame differences of x0_hat and of the GT; a model
    without it trains exactly as before."""
    from seeclear_arch.models.seeclear_model import temporal_difference
    lq, gt = torch.rand(1, 6, 3, 8, 8), torch.rand(1, 6, 3, 32, 32)
    plain, plain_params = _one_training_step(root, lq, gt)
    assert 'l_temporal' not in plain.log_dict and plain.cri_temporal is None
    model, params = _one_training_step(root, lq, gt, temporal_opt={'type': 'CharbonnierLoss', 'loss_weight': 1.0,
                                                                   'eps': 1e-12})
    expected = (temporal_difference(model.output) - temporal_difference(model.clip_rows(gt))).pow(2)
    assert model.log_dict['l_temporal'] == pytest.approx(float((expected + 1e-12).sqrt().mean()), rel=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(params, plain_params))


def test_warp_loss_is_off_by_default_and_added_when_set(root):
    """``train.warp_opt``: Lai et al.'s loss of the predicted x0 along the GT flow is logged and trained; a model
    without it trains exactly as before."""
    from basicsr.losses import build_loss

    from seeclear_arch.models.temporal_losses import WarpConsistency
    lq = torch.rand(1, 6, 3, 8, 8)
    texture = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 44, 44), 5, stride=1)  # smooth, 40 x 40
    gt = torch.stack([texture[0, :, k:k + 32, k:k + 32] for k in range(6)])[None]  # moving diagonally
    plain, plain_params = _one_training_step(root, lq, gt)
    assert 'l_warp' not in plain.log_dict and plain.cri_warp is None
    warp = {'type': 'MSELoss', 'loss_weight': 1.0}
    model, params = _one_training_step(root, lq, gt, warp_opt=warp)
    expected = WarpConsistency(build_loss(dict(warp)))(model.output.detach(), model.clip_rows(gt))
    assert model.log_dict['l_warp'] == pytest.approx(float(expected), rel=1e-5) and float(expected) > 0
    assert any(not torch.equal(a, b) for a, b in zip(params, plain_params))


def test_warp_loss_on_the_residual_keeps_what_the_network_adds_consistent(root):
    """``train.warp_on: residual``: the warp loss acts on ``x0_hat - y`` (what the network adds to its condition), not
    on ``x0_hat``; it trains other weights than the output form, and an unknown target names the option."""
    from basicsr.losses import build_loss

    from seeclear_arch.models.temporal_losses import WarpConsistency
    lq = torch.rand(1, 6, 3, 8, 8)
    texture = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 44, 44), 5, stride=1)
    gt = torch.stack([texture[0, :, k:k + 32, k:k + 32] for k in range(6)])[None]
    warp = {'type': 'MSELoss', 'loss_weight': 1.0}
    on_output, output_params = _one_training_step(root, lq, gt, warp_opt=warp)
    model, params = _one_training_step(root, lq, gt, warp_opt=warp, warp_on='residual')
    cond = model.clip_rows(model.condition(lq))
    loss = WarpConsistency(build_loss(dict(warp)))
    expected = loss(model.output.detach() - cond, model.clip_rows(gt))
    assert model.log_dict['l_warp'] == pytest.approx(float(expected), rel=1e-5)
    assert float(expected) != pytest.approx(float(on_output.log_dict['l_warp']), rel=1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(params, output_params))
    with pytest.raises(ValueError, match=r"train\.warp_on must be one of .*'flow'"):
        _one_training_step(root, lq, gt, warp_opt=warp, warp_on='flow')
    with pytest.raises(ValueError, match=r'train\.warp_on is set, but train\.warp_opt'):
        _one_training_step(root, lq, gt, warp_on='residual')
