"""Where the paper contradicts itself (docs/formulation.md D5, D6): InCAM's tokens (Eq. 12 vs Alg. 1 l. 28/36) and
where CaTeGory is queried (Alg. 1 l. 38 vs App. C), each reading a switch; the default computes what it did before."""
import pytest
import torch
from basicsr.archs import build_network

from seeclear_arch.archs.denoiser import ClipChain
from tests.helpers import clip_inputs, tiny_opt, trained_like


def test_the_default_reading_computes_what_it_computed_before_the_options_existed(repo_root):
    """``reference/seeclearnet_tiny_default.pt`` was written by the code before ``incam_tokens`` and
    ``category_in_middle`` existed (commit 920d646), from the same seeds (bit-identical on the machine that wrote
    it; a tolerance for other CPUs' kernels)."""
    import os
    torch.manual_seed(0)
    net = build_network(tiny_opt()).eval()
    for level in net.decoder:
        torch.nn.init.normal_(level.category.cross.attn.proj.weight, std=0.5)
    torch.manual_seed(1)
    x_t, y, lq, t = clip_inputs(b=1, m=2, h=6, w=7)
    with torch.no_grad():
        out = net(x_t, y, lq, t)
    reference = torch.load(os.path.join(repo_root, 'tests', 'archs', 'reference', 'seeclearnet_tiny_default.pt'))
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)


def test_incam_cross_attends_to_frame_tokens_by_default_and_to_clip_tokens_as_in_algorithm_1():
    """``incam_tokens``: Eq. 12's frame tokens ``O_i`` (default) or Algorithm 1's clip tokens ``O_c``, the same for
    every frame of the clip."""
    seen = {}
    for reading in ('frame', 'clip'):
        net = build_network(tiny_opt(num_clip_tokens=5, incam_tokens=reading)).eval()
        keys = []
        to_kv = net.middle[0].semantic.cross.attn.to_kv
        to_kv.register_forward_hook(lambda mod, args, out, keys=keys: keys.append(args[0]))
        x_t, y, lq, t = clip_inputs(b=2, m=3)
        with torch.no_grad():
            cond = net.encode_condition(lq, y)
        seen[reading] = (keys[0], cond)
    frame_keys, frame_cond = seen['frame']
    clip_keys, clip_cond = seen['clip']
    assert torch.equal(frame_keys, frame_cond.tokens)  # (2 clips x 3 frames, 3 distiller tokens, 16)
    assert clip_keys.shape == (6, 5, 16)  # each clip's 5 clip tokens, once per frame of that clip
    assert torch.equal(clip_keys, clip_cond.clip_tokens.repeat_interleave(3, dim=0))
    assert not torch.equal(clip_keys[:3], clip_keys[3:])


def test_clip_token_keys_need_the_clip_tokens_even_without_incam_and_category():
    net = build_network(tiny_opt(use_incam=False, use_category=False, incam_tokens='clip')).eval()
    assert net.clip_tokens is not None
    x_t, y, lq, t = clip_inputs(m=2)
    with torch.no_grad():
        assert net(x_t, y, lq, t).shape == y.shape


def test_category_in_middle_is_an_exact_identity_at_init_and_does_not_feed_the_memory():
    """``category_in_middle``: the middle blocks query CaTeGory (Appendix C); zero-initialised like the decoder's
    queries, so the same weights compute exactly what the default (Algorithm 1) net computes; M still pools the
    4 decoder levels only."""
    torch.manual_seed(0)
    default = build_network(tiny_opt()).eval()
    middle = build_network(tiny_opt(category_in_middle=True)).eval()
    extra = set(middle.state_dict()) - set(default.state_dict())
    assert extra and all(k.startswith('middle.') and '.category.' in k for k in extra)
    assert set(default.state_dict()) <= set(middle.state_dict())
    middle.load_state_dict(default.state_dict(), strict=False)
    x_t, y, lq, t = clip_inputs(m=2)
    with torch.no_grad():
        cond = middle.encode_condition(lq, y)
        out, pooled = middle._denoise(x_t, y, lq, t, cond, pool=True)
        assert torch.equal(out, default(x_t, y, lq, t))
        assert len(pooled) == len(middle.decoder)
        torch.nn.init.normal_(middle.middle[0].category.cross.attn.proj.weight, std=0.5)
        assert not torch.equal(middle(x_t, y, lq, t), out)


@pytest.mark.parametrize('reading', [dict(incam_tokens='clip'), dict(category_in_middle=True)])
def test_the_other_reading_trains_every_parameter(reading):
    net = trained_like(**reading).train()
    x_t, y, lq, t = clip_inputs(b=2, m=2, h=16, w=16)
    chain = ClipChain(torch.randn_like(x_t), torch.ones(2), num_clips=2)
    net(x_t, y, lq, t.repeat(1), chain=chain).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_unknown_readings_are_clear_errors():
    with pytest.raises(ValueError, match='incam_tokens'):
        build_network(tiny_opt(incam_tokens='instance'))
    with pytest.raises(ValueError, match='category_in_middle needs use_category'):
        build_network(tiny_opt(use_category=False, category_in_middle=True))
    with pytest.raises(ValueError, match='needs use_semantic'):
        build_network(tiny_opt(use_semantic=False, use_incam=False, use_category=False, incam_tokens='clip'))
