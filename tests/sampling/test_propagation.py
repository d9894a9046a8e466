"""Flow-guided propagation of the sampled frames (``val.propagation``, seeclear_arch/sampling/propagation.py)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from basicsr.archs import build_network

from seeclear_arch.diffusion import BlurringResShift
from seeclear_arch.metrics.flow_metric import forward_backward_flows, make_flow_fn, warp_error_per_pair
from seeclear_arch.sampling.engine import sample_sequence, sampling_options
from seeclear_arch.sampling.propagation import FlowPropagation, propagation_options
from tests.helpers import panning, textured

pytestmark = pytest.mark.usefixtures('one_thread')


def _clip(frames) -> torch.Tensor:
    """BGR uint8 frames -> (1, n, 3, H, W) RGB in [0, 1]."""
    return torch.stack([torch.from_numpy(f[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255 for f in frames])[None]


def _flicker(clean: torch.Tensor, seed: int, amp: float = 6 / 255) -> torch.Tensor:
    """``clean`` with independent uniform noise of +-``amp`` on every frame: an output that shimmers."""
    g = torch.Generator().manual_seed(seed)
    return (clean + (torch.rand(clean.shape, generator=g) * 2 - 1) * amp).clamp(0, 1)


def _warp_error(frames: torch.Tensor, reference: torch.Tensor) -> float:
    """Lai et al.'s E_warp of ``frames`` (1, n, ...) along the flows of ``reference`` (the metric's Farneback)."""
    fw, bw = forward_backward_flows(make_flow_fn('farneback'), reference[0])
    return float(warp_error_per_pair(frames[0], fw, bw).mean())


def test_propagation_steadies_a_shimmering_pan_and_moves_it_closer_to_the_clean_frames():
    clean = _clip(panning(8, seed=1, h=48, w=48, step=2))
    out = _flicker(clean, seed=0)
    fused, _ = FlowPropagation(0.5).apply(out, clean)
    assert torch.equal(fused[:, 0], out[:, 0])  # nothing before the first frame
    assert _warp_error(fused, clean) < 0.6 * _warp_error(out, clean)
    assert F.mse_loss(fused, clean) < 0.8 * F.mse_loss(out, clean)  # the noise averages out along the motion


def test_strength_scales_the_pull_toward_the_warped_previous_frame():
    clean = _clip(panning(6, seed=2, h=40, w=40, step=1))
    out = _flicker(clean, seed=3)
    errors = [_warp_error(FlowPropagation(a).apply(out, clean)[0], clean) for a in (0.0, 0.3, 0.6)]
    assert errors[0] == pytest.approx(_warp_error(out, clean))  # strength 0: the frames as they are
    assert errors[0] > errors[1] > errors[2]


def test_pixels_whose_condition_disagrees_are_left_alone():
    """A cut to the negative of a static scene: the previous condition warped to the new frame differs by more than
    the threshold everywhere but where the texture is mid-grey."""
    texture = textured(40, 40, seed=4)
    clean = _clip([texture] * 3 + [255 - texture] * 3)
    out = _flicker(clean, seed=6)

    def blended(frames, t):
        return float((frames[:, t] != out[:, t]).float().mean())

    fused, _ = FlowPropagation(0.5, threshold=16).apply(out, clean)
    assert blended(fused, 3) < 0.03  # the first frame after the cut is (almost) not blended with the old scene
    assert blended(fused, 4) > 0.9 and blended(fused, 1) > 0.9  # the static frames on either side are
    loose, _ = FlowPropagation(0.5, threshold=255).apply(out, clean)
    assert blended(loose, 3) > 0.5  # without the photometric check, the flow check alone lets most of it through


def test_the_state_carries_the_recursion_across_calls():
    clean = _clip(panning(7, seed=7, h=32, w=32, step=1))
    out = _flicker(clean, seed=8)
    prop = FlowPropagation(0.4)
    whole, _ = prop.apply(out, clean)
    head, state = prop.apply(out[:, :3], clean[:, :3])
    tail, _ = prop.apply(out[:, 3:], clean[:, 3:], state)
    assert torch.equal(torch.cat([head, tail], dim=1), whole)
    restarted, _ = prop.apply(out[:, 3:], clean[:, 3:])
    assert not torch.equal(restarted, tail)


def test_options_are_off_by_default_and_bad_values_are_named():
    assert propagation_options({}) is None and propagation_options({'propagation': 0}) is None
    assert sampling_options({})['propagation'] is None
    prop = sampling_options({'propagation': 0.3, 'propagation_threshold': 8})['propagation']
    assert (prop.strength, prop.threshold, prop.flow) == (0.3, 8.0, 'farneback')
    with pytest.raises(ValueError, match=r'val.propagation \(the strength\)'):
        propagation_options({'propagation': 1.5})
    with pytest.raises(ValueError, match='val.propagation_threshold'):
        propagation_options({'propagation': 0.3, 'propagation_threshold': 0})
    with pytest.raises(ValueError, match='val.propagation_flow'):
        propagation_options({'propagation': 0.3, 'propagation_flow': 'lk'})


def _sequence(net, lq, propagation=None, clips_per_chunk=0):
    def condition(x):
        return F.interpolate(x.flatten(0, 1), scale_factor=4, mode='bicubic').clamp(0, 1).unflatten(0, x.shape[:2])

    process = BlurringResShift(num_timesteps=3)
    chunks = sample_sequence(net, process, lambda idx: lq[:, list(idx)], lq.shape[1], 2, condition, seed=1,
                             clips_per_chunk=clips_per_chunk, propagation=propagation)
    return torch.cat([frames for _, frames in chunks], dim=1)


def test_the_engine_propagates_across_clips_and_chunks_and_steadies_a_static_video():
    """i.i.d. noise makes each frame of a static video a different draw; propagation pulls them together, the same
    way whether the sequence is sampled at once or clip by clip, and leaves the first frame as sampled."""
    torch.manual_seed(0)
    net = build_network({'type': 'SeeClearConvDenoiser', 'num_feat': 8, 'num_block': 1, 'num_timesteps': 3}).eval()
    frame = _clip([np.ascontiguousarray(textured(24, 24, seed=9)[::4, ::4])])
    lq = frame.expand(1, 5, *frame.shape[2:]).contiguous()
    plain = _sequence(net, lq)
    prop = FlowPropagation(0.5)
    fused = _sequence(net, lq, prop)
    assert torch.equal(fused[:, 0], plain[:, 0])
    assert torch.equal(_sequence(net, lq, prop, clips_per_chunk=1), fused)

    def change(x):
        return float((x[:, 1:] - x[:, :-1]).abs().mean())

    assert change(fused) < 0.7 * change(plain)
