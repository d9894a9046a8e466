import os

import pytest
import torch
from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

from seeclear_arch.metrics import optical_flow
from seeclear_arch.metrics.optical_flow import (
    build_raft,
    farneback_flow_fn,
    flow_warp,
    get_raft,
    non_occlusion_mask,
    raft_flow_fn,
    resolve_raft_path,
)


def _const_flow(b: int, h: int, w: int, dx: float, dy: float) -> torch.Tensor:
    flow = torch.zeros(b, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_file_names_are_torchvision_cache_names():
    assert optical_flow.raft_file_name('large') == os.path.basename(Raft_Large_Weights.C_T_SKHT_V2.url)
    assert optical_flow.raft_file_name('small') == os.path.basename(Raft_Small_Weights.C_T_V2.url)
    with pytest.raises(ValueError, match='tiny'):
        optical_flow.raft_file_name('tiny')


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        resolve_raft_path('large')
    msg = str(err.value)
    assert os.path.join(str(tmp_path / 'hub'), 'checkpoints', 'raft_large_C_T_SKHT_V2-ff5fadd5.pth') in msg
    assert optical_flow.RAFT_ENV_VAR in msg and '--raft-weights' in msg


def test_weights_from_hub_env_and_option(tmp_path, monkeypatch):
    state = build_raft('small', random_weights=True).state_dict()
    hub = os.path.join(str(tmp_path / 'hub'), 'checkpoints', optical_flow.raft_file_name('small'))
    os.makedirs(os.path.dirname(hub))
    torch.save(state, hub)
    other = str(tmp_path / 'raft.pth')
    torch.save(state, other)
    assert resolve_raft_path('small') == hub
    assert resolve_raft_path('small', other) == other
    monkeypatch.setenv(optical_flow.RAFT_ENV_VAR, other)
    assert resolve_raft_path('small') == other
    net = build_raft('small')
    key = next(iter(state))
    assert torch.equal(net.state_dict()[key], state[key])


def test_raft_plumbing_random_weights():
    net = get_raft('small', random_weights=True)
    assert get_raft('small', random_weights=True) is net  # cached
    x1, x2 = torch.rand(2, 3, 60, 130), torch.rand(2, 3, 60, 130)  # padded to 128 x 136, then cropped
    assert optical_flow.pad_for_raft(x1).shape == (2, 3, 128, 136)
    flow = raft_flow_fn(net, num_flow_updates=2)(x1, x2)
    assert flow.shape == (2, 2, 60, 130) and torch.isfinite(flow).all()
    with torch.no_grad():  # normalize=True is torchvision's [-1, 1] input; False feeds [0, 1] as is
        padded = [torch.nn.functional.pad(x, (0, 6, 0, 68), mode='replicate') for x in (x1, x2)]
        raw = net(padded[0], padded[1], num_flow_updates=2)[-1][..., :60, :130]
        normalized = net(padded[0] * 2 - 1, padded[1] * 2 - 1, num_flow_updates=2)[-1][..., :60, :130]
    torch.testing.assert_close(raft_flow_fn(net, 2, normalize=False)(x1, x2), raw)
    torch.testing.assert_close(flow, normalized)


def test_flow_warp_integer_shift_and_inside_mask():
    x = torch.rand(1, 3, 10, 12)
    out, inside = flow_warp(x, _const_flow(1, 10, 12, 2, -1))  # out(p) = x(p + (2, -1))
    torch.testing.assert_close(out[..., 1:, :-2], x[..., :-1, 2:])
    assert inside[0, 0, 1:, :-2].all() and not inside[0, 0, 0].any() and not inside[0, 0, :, -2:].any()


def test_non_occlusion_mask():
    fw, bw = _const_flow(1, 16, 16, 2, 0), _const_flow(1, 16, 16, -2, 0)
    assert non_occlusion_mask(fw, bw).all()
    assert not non_occlusion_mask(fw, fw).any()  # backward flow does not cancel the forward one
    step = fw.clone()
    step[..., 8:] = 5  # motion boundary at column 7 (forward difference)
    mask = non_occlusion_mask(step, -step)
    assert not mask[0, 0, :, 7].any() and mask[0, 0, :, :6].all()


def test_farneback_flow_fn_known_translation(make_texture):
    big = make_texture(64, 96, 0)
    a, b = (torch.from_numpy(big[8:56, x0:x0 + 48, ::-1].copy()).permute(2, 0, 1)[None].float() / 255
            for x0 in (24, 23))  # content moves 1 px right from a to b
    flow = farneback_flow_fn(a, b)
    assert flow.shape == (1, 2, 48, 48)
    assert flow[0, 0].median().item() == pytest.approx(1, abs=0.05)
    assert flow[0, 1].median().item() == pytest.approx(0, abs=0.05)
