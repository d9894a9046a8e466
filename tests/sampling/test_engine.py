"""The sampling engine with spatial tiles, precision and progress (seeclear_arch.sampling.engine)."""
import io

import pytest
import torch
import torch.nn.functional as F
from basicsr.archs import build_network

from seeclear_arch.diffusion import BlurringResShift
from seeclear_arch.sampling.engine import sample_clip, sample_sequence, sampling_options
from seeclear_arch.sampling.progress import SamplingProgress, pbar_option
from seeclear_arch.sampling.tiling import plan_tiles
from tests.helpers import tiny_opt

PROCESS = BlurringResShift(num_timesteps=3)  # patch-DCT blur on: tiles must respect its 8x8 HR patches


pytestmark = pytest.mark.usefixtures('one_thread')


def _smooth_video(n: int, h: int, w: int) -> torch.Tensor:
    """(1, n, 3, h, w): smooth colour ramps drifting over time."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing='ij')
    frames = [torch.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * torch.sin(3 * xx + 2 * yy + 0.3 * k)])
              for k in range(n)]
    return torch.stack(frames)[None]


def _run(net, lq, tile=0, overlap=4, clip_len=2, progress=None, dtype='float32'):
    def condition(x):
        up = F.interpolate(x.flatten(0, 1), scale_factor=4, mode='bicubic').clamp(0, 1)  # (B*n, 3, H, W)
        return up.unflatten(0, x.shape[:2])

    chunks = sample_sequence(net, PROCESS, lambda idx: lq[:, list(idx)], lq.shape[1], clip_len, condition, seed=3,
                             tile=tile, tile_overlap=overlap, progress=progress, dtype=dtype)
    return torch.cat([frames for _, frames in chunks], dim=1)


@pytest.fixture(scope='module')
def seeclear():
    torch.manual_seed(0)
    return build_network(tiny_opt()).eval()


@pytest.fixture(scope='module')
def conv():
    torch.manual_seed(0)
    return build_network({'type': 'SeeClearConvDenoiser', 'num_feat': 8, 'num_block': 1, 'num_timesteps': 3}).eval()


def test_a_tile_at_least_the_frame_is_bit_identical_to_untiled(seeclear):
    lq = torch.rand(1, 4, 3, 10, 14, generator=torch.Generator().manual_seed(0))
    untiled = _run(seeclear, lq)
    assert torch.equal(_run(seeclear, lq, tile=14), untiled) and torch.equal(_run(seeclear, lq, tile=64), untiled)
    tiled = _run(seeclear, lq, tile=8, overlap=2)
    assert not torch.equal(tiled, untiled) and float((tiled - untiled).abs().mean()) < 0.1  # another path


def test_tiles_change_the_output_only_near_tile_borders(conv):
    """A local network (receptive field 4 convs = 4 HR px) and a patch-local process (8x8 DCT): far from every
    tile's edge, the tiled output is the untiled one; near the edges it differs by a bounded amount."""
    lq = torch.rand(1, 2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    untiled, tiled = _run(conv, lq), _run(conv, lq, tile=32, overlap=8)
    diff = (tiled - untiled).abs().amax(dim=(0, 1, 2))  # (H, W)
    edges = sorted({e * 4 for t in plan_tiles((48, 48), 32, 8) for e in (t.top, t.bottom)} - {0, 192})
    assert edges == [64, 128]
    reach = 3 * (4 + 8)  # per step: the receptive field and the DCT patch
    near = torch.zeros(192, dtype=torch.bool)
    for e in edges:
        near[max(0, e - reach):e + reach] = True
    mask = near[:, None] | near[None, :]
    assert float(diff[~mask].max()) < 1e-5  # far from the edges: the untiled output
    assert 0 < float(diff.max()) < 0.02  # near them: another output, by a bounded amount


def _seam_ratio(out: torch.Tensor, edges_x, edges_y) -> float:
    """Mean |horizontal / vertical gradient| across tile-border lines over the same measure elsewhere."""
    gx = (out[..., :, 1:] - out[..., :, :-1]).abs().mean(dim=(0, 1, 2, 3))  # per column pair
    gy = (out[..., 1:, :] - out[..., :-1, :]).abs().mean(dim=(0, 1, 2, 4))  # per row pair
    at_x = torch.zeros_like(gx, dtype=torch.bool)
    at_y = torch.zeros_like(gy, dtype=torch.bool)
    for e in edges_x:
        at_x[e - 1] = True
    for e in edges_y:
        at_y[e - 1] = True
    border = torch.cat([gx[at_x], gy[at_y]]).mean()
    rest = torch.cat([gx[~at_x], gy[~at_y]]).mean()
    return float(border / rest)


def test_no_seam_on_a_smooth_video(conv):
    lq = _smooth_video(2, 40, 56)
    tiles = plan_tiles((40, 56), 24, 8)
    # every tile's edges inside the frame (where a hard paste would put a seam)
    ex = sorted({e * 4 for t in tiles for e in (t.left, t.right)} - {0, 224})
    ey = sorted({e * 4 for t in tiles for e in (t.top, t.bottom)} - {0, 160})
    ratio = _seam_ratio(_run(conv, lq, tile=24, overlap=8), ex, ey)
    assert _seam_ratio(_run(conv, lq), ex, ey) == pytest.approx(1, abs=0.2)  # the measure on the untiled output
    assert ratio < 1.2


def test_each_tile_carries_its_own_memory(seeclear):
    """The engine owns one memory per tile: clip 1 queries the learned memory everywhere, clip 2's tile k the memory
    that tile k built."""
    lq = torch.rand(1, 2, 3, 12, 16, generator=torch.Generator().manual_seed(2))
    y = F.interpolate(lq[0], scale_factor=4, mode='bicubic').clamp(0, 1)[None]
    tiles = plan_tiles((12, 16), 8, 2)
    memories = [None] * len(tiles)
    queried = []
    encode = seeclear.encode_condition

    def spy(lq_, y_, memory=None):
        queried.append(memory)
        return encode(lq_, y_, memory)

    seeclear.encode_condition = spy
    try:
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            sample_clip(seeclear, PROCESS, lq, y, gen, tiles=tiles, memories=memories)
            after_first = list(memories)
            sample_clip(seeclear, PROCESS, lq, y, gen, tiles=tiles, memories=memories)
    finally:
        del seeclear.encode_condition
    n = len(tiles)
    assert n > 1 and len(queried) == 2 * n and queried[:n] == [None] * n  # clip 1: all from the learned memory
    assert all(s is not None for s in after_first) and not torch.equal(after_first[0][0], after_first[1][0])
    assert all(q is s for q, s in zip(queried[n:], after_first))  # clip 2: tile k queries what tile k built


def test_bfloat16_autocasts_only_the_network(seeclear):
    lq = torch.rand(1, 2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    seen = {'net': [], 'x0': [], 'u': []}
    forward, p_step = seeclear.forward, PROCESS.p_step

    def spy_forward(*args, **kwargs):
        seen['net'].append(torch.is_autocast_enabled('cpu'))
        return forward(*args, **kwargs)

    def spy_step(x0_hat, u_t, *args, **kwargs):
        seen['x0'].append(x0_hat.dtype)
        seen['u'].append((u_t.dtype, torch.is_autocast_enabled('cpu')))
        return p_step(x0_hat, u_t, *args, **kwargs)

    seeclear.forward, PROCESS.p_step = spy_forward, spy_step
    try:
        bf16 = _run(seeclear, lq, dtype='bfloat16')
    finally:
        del seeclear.forward, PROCESS.p_step
    fp32 = _run(seeclear, lq)
    assert seen['net'] and all(seen['net'])
    assert set(seen['x0']) == {torch.float32} and set(seen['u']) == {(torch.float32, False)}
    assert bf16.dtype == torch.float32 and torch.isfinite(bf16).all()
    assert 0 < float((bf16 - fp32).abs().mean()) < 0.05
    with pytest.raises(ValueError, match='dtype'):
        _run(seeclear, lq, dtype='int8')


def test_sampling_options_read_val_and_name_bad_values():
    assert sampling_options({}) == {'seed': 0, 'num_steps': None, 'carry': True, 'tile': 0, 'tile_overlap': 8,
                                    'dtype': 'float32', 'noise_scale': 1.0, 'propagation': None}
    with pytest.raises(ValueError, match='noise_scale'):
        sampling_options({'noise_scale': -0.5})
    opts = sampling_options({'tile': 64, 'tile_overlap': 16, 'dtype': 'bfloat16', 'carry_memory': False})
    assert (opts['tile'], opts['tile_overlap'], opts['dtype'], opts['carry']) == (64, 16, 'bfloat16', False)
    with pytest.raises(ValueError, match='tile_overlap'):
        sampling_options({'tile': 8, 'tile_overlap': 8})
    with pytest.raises(ValueError, match='val.dtype'):
        sampling_options({'dtype': 'fp8'})


class _Count:
    def __init__(self):
        self.calls = []

    def start_clip(self, n):
        self.calls.append(('start', n))

    def step(self):
        self.calls.append('step')

    def end_clip(self, n):
        self.calls.append(('end', n))


def test_the_engine_reports_clips_and_steps(conv):
    count = _Count()
    _run(conv, torch.rand(1, 5, 3, 8, 8), progress=count)
    clip = [('start', 3), 'step', 'step', 'step']
    assert count.calls == clip + [('end', 2)] + clip + [('end', 2)] + clip + [('end', 1)]  # tail trimmed


def test_progress_bars_show_eta_on_a_terminal_only():
    out = io.StringIO()
    with SamplingProgress(4, 'demo', enabled=True, steps=True, file=out) as bar:
        bar.start_clip(2)
        bar.step()
        bar.step()
        bar.end_clip(2)
    assert 'demo' in out.getvalue() and '2/4' in out.getvalue() and '<' in out.getvalue()  # elapsed<remaining
    quiet = io.StringIO()  # not a TTY: nothing
    with SamplingProgress(4, 'demo', file=quiet) as bar:
        bar.end_clip(4)
    assert quiet.getvalue() == ''
    assert [pbar_option(v) for v in (None, False, True, 'steps')] == [None, None, 'clips', 'steps']
    with pytest.raises(ValueError, match='val.pbar'):
        pbar_option('yes')


def test_bfloat16_casts_the_weights_once_per_clip(seeclear, monkeypatch):
    """The clip-wide cast scope: the same frames as casting the weights at every step, with fewer casts."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from seeclear_arch.sampling import engine as sampling
    lq = torch.rand(1, 2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    weights = {id(p) for p in seeclear.parameters()}

    class WeightCasts(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket is torch.ops.aten._to_copy and id(args[0]) in weights:
                WeightCasts.count += 1
            return func(*args, **(kwargs or {}))

    counts, outs = [], []
    for scope in (sampling.clip_cast_scope, lambda device, dtype: sampling.contextlib.nullcontext()):
        monkeypatch.setattr(sampling, 'clip_cast_scope', scope)
        WeightCasts.count = 0
        with WeightCasts():
            outs.append(_run(seeclear, lq, dtype='bfloat16'))
        counts.append(WeightCasts.count)
    assert torch.equal(outs[0], outs[1])
    assert 0 < counts[0] < counts[1] / 2  # 3 steps per clip: most casts were cached


def _sequence(process, lq, net, noise_scale=1.0, seed=3, clips_per_chunk=0):
    def condition(x):
        return F.interpolate(x.flatten(0, 1), scale_factor=4, mode='bicubic').clamp(0, 1).unflatten(0, x.shape[:2])

    chunks = sample_sequence(net, process, lambda idx: lq[:, list(idx)], lq.shape[1], 2, condition, seed=seed,
                             noise_scale=noise_scale, clips_per_chunk=clips_per_chunk)
    return torch.cat([frames for _, frames in chunks], dim=1)


def test_default_noise_and_scale_are_the_paper_sampler_bit_for_bit(conv):
    lq = _smooth_video(4, 6, 8)
    iid = BlurringResShift(num_timesteps=3, noise='iid')
    assert torch.equal(_sequence(iid, lq, conv), _run(conv, lq))  # _run uses the default process and options


def test_shared_noise_repeats_over_frames_and_clips(conv):
    """With ``noise: shared`` a static video gives the same frames in every clip and every frame of a clip; with
    i.i.d. noise it does not. Chunking still gives the whole-sequence frames."""
    static = _smooth_video(1, 6, 8).expand(1, 6, 3, 6, 8).contiguous()
    shared = BlurringResShift(num_timesteps=3, noise='shared')
    out = _sequence(shared, static, conv)
    for k in range(1, 6):
        torch.testing.assert_close(out[:, k], out[:, 0], rtol=0, atol=1e-6)
    assert torch.equal(_sequence(shared, static, conv, clips_per_chunk=1), out)
    iid = _sequence(BlurringResShift(num_timesteps=3), static, conv)
    assert float((iid[:, 1] - iid[:, 0]).abs().max()) > 1e-3


def test_noise_scale_shrinks_the_seed_spread(conv):
    """Only the prior depends on the seed at ``noise_scale`` 0; the spread between seeds grows with the scale."""
    lq = _smooth_video(2, 6, 8)

    def spread(scale):
        return float((_sequence(PROCESS, lq, conv, scale, 1) - _sequence(PROCESS, lq, conv, scale, 2)).abs().mean())

    assert 0 < spread(0.0) < spread(0.5) < spread(1.0)


def test_resuming_from_a_chunk_state_gives_the_rest_of_the_uninterrupted_run(seeclear, tmp_path):
    """After a save/load round trip, the state after chunk k (per-tile memories, the propagation's last frame)
    restarts the sequence there bit for bit; the noise is seeded per clip."""
    from seeclear_arch.sampling.engine import sample_chunks
    from seeclear_arch.sampling.propagation import FlowPropagation

    lq = _smooth_video(7, 16, 16)

    def chunks(resume=None):
        def condition(x):
            return F.interpolate(x.flatten(0, 1), scale_factor=4, mode='bicubic').clamp(0, 1).unflatten(0, x.shape[:2])

        return list(sample_chunks(seeclear, BlurringResShift(num_timesteps=3, noise='iid'),
                                  lambda idx: lq[:, list(idx)], 7, 2, condition, seed=5, clips_per_chunk=1, tile=12,
                                  tile_overlap=4, propagation=FlowPropagation(0.5, threshold=255), resume=resume))

    whole = chunks()
    assert [c.start for c in whole] == [0, 2, 4, 6] and whole[-1].state.chunk == 4
    assert len(whole[0].state.memories) > 1 and all(m is not None for m in whole[0].state.memories)
    for k in (1, 2):
        torch.save(whole[k - 1].state, tmp_path / 'state.pt')
        rest = chunks(torch.load(tmp_path / 'state.pt', weights_only=False))
        assert [c.start for c in rest] == [c.start for c in whole[k:]]
        assert all(torch.equal(a.frames, b.frames) for a, b in zip(rest, whole[k:]))
    assert chunks(whole[-1].state) == []  # resumed after the last chunk: nothing left
