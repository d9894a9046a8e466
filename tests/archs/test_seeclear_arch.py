import pytest
import torch
from basicsr.archs import build_network

from seeclear_arch.archs.denoiser import ClipChain
from seeclear_arch.archs.param_count import count_parameters_by_component
from tests.helpers import clip_inputs, tiny_opt, trained_like

SWITCHES = ('use_dwt', 'use_semantic', 'use_mfsa', 'use_incam', 'use_category')


def no_cross_frame(**kwargs) -> dict:
    return tiny_opt(use_mfsa=False, use_incam=False, use_category=False, **kwargs)


def test_builds_from_registry():
    net = build_network(tiny_opt())
    assert type(net).__name__ == 'SeeClearNet'


@pytest.mark.parametrize('m', range(1, 8))
@pytest.mark.parametrize('size', [(9, 13), (4, 6)])
def test_output_shapes(m, size):
    net = build_network(tiny_opt()).eval()
    x_t, y, lq, t = clip_inputs(m=m, h=size[0], w=size[1])
    with torch.no_grad():
        out = net(x_t, y, lq, t)
    assert out.shape == y.shape and torch.isfinite(out).all()


def test_output_shape_without_dwt_and_other_scale():
    net = build_network(tiny_opt(use_dwt=False)).eval()
    x_t, y, lq, t = clip_inputs(m=2, h=9, w=13, scale=2)
    with torch.no_grad():
        assert net(x_t, y, lq, t).shape == y.shape


def test_gradients_reach_every_trainable_parameter():
    """Trained on two consecutive clips (as SeeClearModel does), every parameter gets a gradient, M included.
    The CaTeGory query's zero-initialised output projection is perturbed first (as after some training)."""
    net = build_network(tiny_opt()).train()
    for level in net.decoder:
        torch.nn.init.normal_(level.category.cross.attn.proj.weight, std=0.1)
    x_t, y, lq, t = clip_inputs(b=2, m=2, h=16, w=16)  # rows: sequence 0 clips 0, 1; level 4 is 2x2
    chain = ClipChain(torch.randn_like(x_t), torch.ones(2), num_clips=2)
    net(x_t, y, lq, t.repeat(1), chain=chain).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_frozen_distiller_gets_no_gradient():
    net = build_network(tiny_opt(freeze_distiller=True)).train()
    assert not net.distiller.training
    x_t, y, lq, t = clip_inputs(b=2, m=2, h=8, w=8)  # two consecutive clips, so M is used too
    net(x_t, y, lq, t, chain=ClipChain(torch.randn_like(x_t), torch.ones(2), num_clips=2)).square().mean().backward()
    for name, p in net.named_parameters():
        if name.startswith('distiller.'):
            assert not p.requires_grad and p.grad is None
        else:
            assert p.grad is not None, name
    counts = count_parameters_by_component(net)
    assert counts['distiller']['trainable'] == 0 and counts['distiller']['frozen'] > 0


@pytest.mark.parametrize('switch, fragments', [
    ('use_semantic', ('distiller.', '.semantic.', 'token_proj.')),
    ('use_mfsa', ('.mfsa.',)),
    ('use_incam', ('.incam.',)),
    ('use_category', ('memory.', '.category.')),
])
def test_switch_removes_its_parameters(switch, fragments):
    extra = dict(use_incam=False, use_category=False) if switch == 'use_semantic' else {}  # Table 2 row 2 vs 1
    full = {n for n, _ in build_network(tiny_opt(**extra)).named_parameters()}
    ablated = {n for n, _ in build_network(tiny_opt(**{switch: False}, **extra)).named_parameters()}
    removed = full - ablated
    allowed = fragments + (('clip_tokens.',) if switch == 'use_category' else ())
    assert removed and all(any(f in '.' + n for f in allowed) for n in removed)
    assert not any(any(f in '.' + n for f in fragments) for n in ablated)


def test_clip_tokens_exist_only_with_incam_or_category():
    names = lambda **kw: {n for n, _ in build_network(tiny_opt(**kw)).named_parameters()}  # noqa: E731
    assert any('clip_tokens' in n for n in names(use_incam=False))
    assert not any('clip_tokens' in n for n in names(use_incam=False, use_category=False))


def test_use_dwt_swaps_down_and_up_layers():
    net = build_network(tiny_opt())
    plain = build_network(tiny_opt(use_dwt=False))
    assert type(net.downs[0]).__name__ == 'WaveletDownsample' and type(plain.downs[0]).__name__ == 'ConvDownsample'
    assert {n for n, _ in net.named_parameters()} != {n for n, _ in plain.named_parameters()}


def test_incam_without_semantic_is_rejected():
    with pytest.raises(ValueError):
        build_network(tiny_opt(use_semantic=False))


def output_change(net, frame_in, frame_out, m=3):
    x_t, y, lq, t = clip_inputs(m=m, h=8, w=8)
    with torch.no_grad():
        base = net(x_t, y, lq, t)
        x_t2, y2, lq2 = x_t.clone(), y.clone(), lq.clone()
        x_t2[:, frame_in] += 1.0
        y2[:, frame_in] = y2[:, frame_in].flip(-1)
        lq2[:, frame_in] = lq2[:, frame_in].flip(-1)
        out = net(x_t2, y2, lq2, t)
    return (out[:, frame_out] - base[:, frame_out]).abs().max().item()


def test_mfsa_couples_frames():
    net = build_network(tiny_opt(use_incam=False, use_category=False)).eval()
    assert output_change(net, 0, 2) > 1e-6


def test_without_cross_frame_paths_frames_are_independent():
    net = build_network(no_cross_frame()).eval()
    assert output_change(net, 0, 2) < 1e-6
    assert output_change(net, 0, 0) > 1e-6


def test_distiller_runs_once_per_clip():
    net = build_network(tiny_opt()).eval()
    calls = []
    net.distiller.register_forward_hook(lambda *args: calls.append(1))
    x_t, y, lq, _ = clip_inputs(m=2, h=8, w=8)
    with torch.no_grad():
        cond = net.encode_condition(lq, y)
        for step in (5.0, 3.0, 1.0):
            net(x_t, y, lq, torch.tensor([step]), cond=cond)
    assert len(calls) == 1


def test_count_parameters_by_component_adds_up():
    net = build_network(tiny_opt())
    counts = count_parameters_by_component(net)
    assert set(counts) == {'condenser', 'incam', 'category', 'distiller', 'total'}
    parts = sum(v['total'] for k, v in counts.items() if k != 'total')
    assert parts == counts['total']['total'] == sum(p.numel() for p in net.parameters())


@pytest.mark.slow
def test_paper_scale_configuration_trains_and_samples(repo_root):
    """options/arch/seeclear_paper.yml (240M with a random-weight Mask2Former Swin-T distiller): one training
    forward/backward reaches every trainable parameter and none of the frozen distiller; eval hooks run."""
    import copy
    import os

    import yaml
    with open(os.path.join(repo_root, 'options', 'arch', 'seeclear_paper.yml')) as f:
        opt = copy.deepcopy(yaml.safe_load(f)['network_g'])
    distiller = opt['distiller']
    distiller.pop('model_id', None)
    distiller['config'] = {}  # the architecture of the named checkpoint, random weights (no download)
    net = build_network(opt).train()
    x_t, y, lq, t = clip_inputs(m=2, h=16, w=24)
    net(x_t, y, lq, t).mean().backward()
    # one clip: M (CaTeGory's construction) only runs on consecutive clips; tests/archs/test_category.py covers it
    in_m = lambda name: name.startswith('memory.') and name not in ('memory.semantics', 'memory.textures')  # noqa: E731
    assert all(p.grad is not None for n, p in net.named_parameters() if p.requires_grad and not in_m(n))
    assert all(not p.requires_grad for p in net.distiller.parameters())
    net.eval()
    with torch.no_grad():
        cond = net.encode_condition(lq, y)
        first, memory = net.final_step(x_t, y, lq, t, cond)
        assert torch.isfinite(net(x_t, y, lq, t, net.encode_condition(lq, y, memory))).all()
        assert torch.isfinite(first).all()


def test_zero_init_branches_make_the_full_net_the_dwt_only_baseline_at_init():
    """With ``zero_init_branches`` every semantic branch (G(P), the cross-attentions, InCAM's activation, MFSA) and
    CaTeGory start as exact identities: the fresh full net computes what its weights compute as Table 2 row 1."""
    torch.manual_seed(0)
    full = build_network(tiny_opt(zero_init_branches=True)).eval()
    baseline = build_network(tiny_opt(use_semantic=False, use_mfsa=False, use_incam=False,
                                      use_category=False)).eval()
    missing, unexpected = baseline.load_state_dict(full.state_dict(), strict=False)
    assert not missing and unexpected
    x_t, y, lq, t = clip_inputs(m=3, h=9, w=13)
    with torch.no_grad():
        assert torch.equal(full(x_t, y, lq, t), baseline(x_t, y, lq, t))
        default = build_network(tiny_opt()).eval()
        default.load_state_dict(full.state_dict())
        assert torch.equal(default(x_t, y, lq, t), baseline(x_t, y, lq, t))  # same weights: no hidden switch
    torch.manual_seed(0)
    assert not torch.equal(build_network(tiny_opt()).eval()(x_t, y, lq, t), baseline(x_t, y, lq, t))


# ------------------------------------------------------------------------ the per-clip condition (ClipCondition)
ROWS = {'full': {}, 'no_semantic': dict(use_semantic=False, use_incam=False, use_category=False),
        'no_incam': dict(use_incam=False), 'no_category': dict(use_category=False), 'no_mfsa': dict(use_mfsa=False),
        'no_dwt': dict(use_dwt=False), 'clip_token_keys': dict(incam_tokens='clip'),
        'category_in_middle': dict(category_in_middle=True)}


def sample_two_clips(net, precompute: bool, tile: int = 0) -> torch.Tensor:
    """Two carried clips of 2 frames (12x16 LR, 3 steps), the per-clip parts cached or recomputed every step."""
    import functools

    from seeclear_arch.diffusion import BlurringResShift
    from seeclear_arch.sampling.engine import sample_sequence
    lq = torch.rand(1, 4, 3, 12, 16, generator=torch.Generator().manual_seed(4))
    up = torch.nn.functional.interpolate(lq[0], scale_factor=4, mode='bicubic').clamp(0, 1)[None]
    net.encode_condition = functools.partial(type(net).encode_condition, net, precompute=precompute)
    try:
        chunks = sample_sequence(net, BlurringResShift(num_timesteps=3), lambda idx: lq[:, list(idx)], 4, 2,
                                 lambda x: up[:, :x.shape[1]], seed=1, tile=tile, tile_overlap=4)
        return torch.cat([frames for _, frames in chunks], dim=1)
    finally:
        del net.encode_condition


@pytest.mark.parametrize('row', ROWS)
@pytest.mark.parametrize('tile', [0, 8])
def test_cached_clip_condition_samples_exactly_the_uncached_path(row, tile, one_thread):
    """encode_condition prepares the LR chain, G(P) and every cross-attention's keys/values once per clip; sampling
    with them is bit-identical to recomputing them at every step (float32), for every ablation row and with tiles."""
    net = trained_like(**ROWS[row])
    cached = sample_two_clips(net, precompute=True, tile=tile)
    assert torch.equal(cached, sample_two_clips(net, precompute=False, tile=tile))


def test_per_clip_parts_run_once_per_clip(one_thread):
    net = trained_like()
    calls = {'generator': 0, 'lq_down': 0, 'to_kv': 0}
    net.middle[0].semantic.generator.register_forward_hook(lambda *a: calls.__setitem__('generator',
                                                                                         calls['generator'] + 1))
    net.lq_downs[0].register_forward_hook(lambda *a: calls.__setitem__('lq_down', calls['lq_down'] + 1))
    net.decoder[0].category.cross.attn.to_kv.register_forward_hook(lambda *a: calls.__setitem__('to_kv',
                                                                                                calls['to_kv'] + 1))
    sample_two_clips(net, precompute=True)
    assert calls == {'generator': 2, 'lq_down': 2, 'to_kv': 2}  # 2 clips of 3 steps: once per clip
    calls.update(generator=0, lq_down=0, to_kv=0)
    sample_two_clips(net, precompute=False)
    assert calls == {'generator': 6, 'lq_down': 6, 'to_kv': 6}


def test_cached_condition_drops_the_segmentation_features_it_has_used():
    """P_i is read only to prepare G(P): the cached condition does not keep it (the engine holds one per tile)."""
    net = build_network(tiny_opt()).eval()
    x_t, y, lq, _ = clip_inputs(m=2, h=8, w=8)
    with torch.no_grad():
        cached, uncached = net.encode_condition(lq, y), net.encode_condition(lq, y, precompute=False)
    assert cached.seg is None and cached.levels is not None and uncached.seg is not None


def test_training_forward_builds_the_cache_with_the_same_outputs_and_gradients():
    """forward(cond=None) (training, the chained memory included) equals the U-Net pass on an uncached condition,
    gradients included: the cache is built inside forward, so the graph is the same."""
    net = trained_like().train()
    x_t, y, lq, t = clip_inputs(b=2, m=2, h=8, w=8)
    chain = ClipChain(torch.randn(x_t.shape, generator=torch.Generator().manual_seed(2)), torch.ones(2), num_clips=2)
    t = torch.tensor([3.0, 1.0])

    def grads(out):
        net.zero_grad()
        out.square().mean().backward()
        return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}

    out = net(x_t, y, lq, t, chain=chain)
    ref = net._denoise(x_t, y, lq, t, net.encode_condition(lq, y, net.chain_memory(chain, y, lq), precompute=False))[0]
    assert torch.equal(out, ref)
    cached, uncached = grads(out), grads(ref)
    assert cached.keys() == uncached.keys() and all(torch.equal(cached[n], uncached[n]) for n in cached)


def test_condition_of_another_frame_size_is_rejected():
    net = build_network(tiny_opt()).eval()
    x_t, y, lq, t = clip_inputs(m=2, h=8, w=8)
    _, y2, lq2, _ = clip_inputs(m=2, h=8, w=12)
    with torch.no_grad(), pytest.raises(ValueError, match='encoded for'):
        net(x_t, y, lq, t, net.encode_condition(lq2, y2))


def test_bf16_autocast_step_does_all_matrix_work_in_bf16():
    """Under bf16 autocast a sampler step has no float32 island: every matmul, convolution and attention (SDPA's
    fused kernel; its math fallback would upcast) produces bf16."""
    from torch.utils._python_dispatch import TorchDispatchMode
    matrix = ('mm', 'bmm', 'addmm', 'baddbmm', 'convolution', '_scaled_dot_product_flash_attention_for_cpu')

    class MatrixDtypes(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket.__name__ in matrix:
                self.seen.append((func.overloadpacket.__name__, (out[0] if isinstance(out, tuple) else out).dtype))
            return out

    net = trained_like().eval()
    x_t, y, lq, t = clip_inputs(m=2, h=16, w=16)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        cond = net.encode_condition(lq, y)
        with MatrixDtypes() as mode:
            net(x_t, y, lq, t, cond)
    assert {name for name, _ in mode.seen} >= {'addmm', 'convolution', '_scaled_dot_product_flash_attention_for_cpu'}
    assert [s for s in mode.seen if s[1] != torch.bfloat16] == []


@pytest.mark.parametrize('row', ['full', 'no_dwt'])
def test_channels_last_u_net_samples_what_the_nchw_one_does(row, one_thread):
    """``channels_last`` (the default) only changes the memory layout: every basic unit sees channels-last features,
    and the sampled frames equal the contiguous-NCHW network's up to float rounding."""
    torch.manual_seed(0)
    net = trained_like(**ROWS[row])
    nchw = trained_like(**ROWS[row], channels_last=False)
    nchw.load_state_dict(net.state_dict())
    layouts = []
    for unit in (*net.encoder[0], *net.decoder[-1].units):
        unit.register_forward_pre_hook(lambda mod, args: layouts.append(
            args[0].is_contiguous(memory_format=torch.channels_last)))
    frames = sample_two_clips(net, precompute=True)
    assert layouts and all(layouts)
    torch.testing.assert_close(frames, sample_two_clips(nchw, precompute=True), atol=1e-5, rtol=0)


def test_channels_last_u_net_stores_its_conv_weights_channels_last(one_thread):
    """With ``channels_last`` the U-Net's convolution weights are stored in the layout of its features (the
    distiller keeps its own), so a step copies no weight into another layout, in float32 or under bf16 autocast."""
    torch.manual_seed(0)
    net = trained_like()
    distiller = set(net.distiller.modules())
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs if c not in distiller)
    assert all(c.weight.is_contiguous() for c in convs if c in distiller)
    weight_shapes = {tuple(c.weight.shape) for c in convs if c not in distiller}
    x_t, y, lq, t = clip_inputs()
    for dtype in (torch.float32, torch.bfloat16):
        with torch.no_grad(), torch.autocast('cpu', dtype=dtype, enabled=dtype != torch.float32):
            cond = net.encode_condition(lq, y)
            net(x_t, y, lq, t, cond)  # casts the weights to bf16 once (autocast's cache); those copies are not it
            with torch.profiler.profile(record_shapes=True) as prof:
                net(x_t, y, lq, t, cond)
        copies = [e.input_shapes[0] for e in prof.events() if e.name == 'aten::copy_']
        assert [s for s in copies if tuple(s) in weight_shapes] == []


def _augment(x: torch.Tensor, hflip: int, vflip: int, rot90: int) -> torch.Tensor:
    """BasicSR's ``augment`` on (..., H, W) tensors: horizontal flip, vertical flip, then transpose."""
    x = x.flip(-1) if hflip else x
    x = x.flip(-2) if vflip else x
    return x.transpose(-2, -1) if rot90 else x


@pytest.mark.parametrize('flips', [(0, 0, 0), (1, 0, 1), (0, 1, 1)])
def test_whole_frame_semantics_are_the_test_time_features_at_the_crop(flips):
    """A frozen distiller run on whole frames gives, for a training crop, the tokens and the level-1 seg features
    that whole-frame sampling uses, at the crop's region and flipped like it."""
    torch.manual_seed(0)
    net = build_network(tiny_opt(freeze_distiller=True)).eval()
    lq_whole = torch.rand(2, 3, 3, 12, 16)
    crop = torch.tensor([[2, 5, 8, 8], [4, 0, 8, 8]])
    tokens, seg = net.whole_frame_semantics(lq_whole, crop, torch.tensor([flips, flips]))
    hr = (48, 64)
    with torch.no_grad():
        whole = net.encode_condition(lq_whole, torch.rand(2, 3, 3, *hr), precompute=False)
        level1 = net._to_level_grid(whole.seg, hr, net._level_size(hr))[..., :12, :16]  # what sampling uses
        torch.testing.assert_close(net.token_proj(tokens), whole.tokens, rtol=0, atol=0)
    for i, (top, left, h, w) in enumerate(crop.tolist()):
        expected = _augment(level1[i * 3:(i + 1) * 3, :, top:top + h, left:left + w], *flips)
        torch.testing.assert_close(seg[i * 3:(i + 1) * 3], expected, rtol=0, atol=1e-6)


def test_forward_with_semantics_does_not_run_the_distiller_on_the_crop():
    torch.manual_seed(0)
    net = build_network(tiny_opt(freeze_distiller=True))
    x_t, y, lq, t = clip_inputs(b=2, m=3, h=8, w=8)
    semantics = net.whole_frame_semantics(torch.rand(2, 3, 3, 12, 16), torch.tensor([[0, 0, 8, 8], [4, 8, 8, 8]]),
                                          torch.zeros(2, 3, dtype=torch.long))
    calls = []
    net.distiller.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape))
    chain = ClipChain(torch.randn_like(x_t), t, 2)  # two clips of one sequence
    out = net(x_t, y, lq, t, chain=chain, semantics=semantics)
    assert out.shape == y.shape and calls == []
    net(x_t, y, lq, t)
    assert calls == [(6, 3, 8, 8)]  # without semantics: the distiller sees the crops


def test_whole_frame_semantics_need_a_frozen_distiller():
    with pytest.raises(ValueError, match='frozen distiller'):
        build_network(tiny_opt()).whole_frame_semantics(torch.rand(1, 3, 3, 8, 8), torch.tensor([[0, 0, 8, 8]]),
                                                        torch.zeros(1, 3, dtype=torch.long))
