"""CaTeGory as in Algorithm 1: one fixed memory per clip, built once from the clip's final step, carried to the
next clip; an exact identity at initialisation; trained from consecutive clips."""
from typing import List

import torch
from basicsr.archs import build_network

from seeclear_arch.archs.denoiser import ClipChain
from seeclear_arch.diffusion import BlurringResShift
from seeclear_arch.sampling.engine import sample_sequence
from tests.helpers import clip_inputs, tiny_opt

PROCESS = BlurringResShift(num_timesteps=4, blur_sigma2=0.0)


class Spy:
    """Records every U-Net pass (its ``t``, whether it pooled features for M, the memory it queried) and every
    construction M (its inputs and output)."""

    def __init__(self, net):
        self.passes: List[dict] = []
        self.builds: List[dict] = []
        denoise, build = net._denoise, net.memory.build

        def spy_denoise(x_t, y, lq, t, cond, pool=False):
            self.passes.append(dict(t=float(t[0]), pool=pool, memory=cond.memory))
            return denoise(x_t, y, lq, t, cond, pool)

        def spy_build(memory, pooled, frames):
            out = build(memory, pooled, frames)
            self.builds.append(dict(memory=memory, out=out))
            return out

        net._denoise, net.memory.build = spy_denoise, spy_build


def sample(net, num_frames=6, clip_len=2, carry=True):
    lq = torch.rand(1, num_frames, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    up = torch.nn.functional.interpolate(lq[0], scale_factor=4, mode='bicubic').clamp(0, 1)[None]
    chunks = sample_sequence(net, PROCESS, lambda idx: lq[:, list(idx)], num_frames, clip_len,
                             lambda x: up[:, :x.shape[1]], seed=0, carry=carry)
    return torch.cat([f for _, f in chunks], dim=1)


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_the_memory_is_fixed_within_a_clip_and_built_once_per_clip():
    net = build_network(tiny_opt()).eval()
    spy = Spy(net)
    sample(net, num_frames=6, clip_len=2)  # 3 clips of 4 steps
    assert len(spy.passes) == 12 and len(spy.builds) == 3
    for clip in range(3):
        passes = spy.passes[4 * clip:4 * clip + 4]
        assert [p['t'] for p in passes] == [4.0, 3.0, 2.0, 1.0]
        assert [p['pool'] for p in passes] == [False, False, False, True]  # M's features: the final step only
        assert all(same(p['memory'], passes[0]['memory']) for p in passes)  # one memory for every step


def test_clip_two_queries_the_memory_built_from_clip_one_final_step():
    net = build_network(tiny_opt()).eval()
    spy = Spy(net)
    sample(net, num_frames=6, clip_len=2)
    learned = net.memory.learned(1)
    assert same(spy.passes[0]['memory'], learned)  # a sequence starts from (C_bar, T_bar)
    assert same(spy.builds[0]['memory'], learned)
    assert same(spy.passes[4]['memory'], spy.builds[0]['out'])  # clip 2 queries M(C_1, T_1, feats of clip 1)
    assert same(spy.builds[1]['memory'], spy.builds[0]['out'])
    assert same(spy.passes[8]['memory'], spy.builds[1]['out'])


def test_carry_false_restarts_every_clip_from_the_learned_memory():
    net = build_network(tiny_opt()).eval()
    spy = Spy(net)
    sample(net, num_frames=6, clip_len=2, carry=False)
    assert all(same(p['memory'], net.memory.learned(1)) for p in spy.passes)


def test_forward_and_final_step_are_pure():
    """The network holds no memory: ``final_step`` returns the next memory and changes nothing; calls repeat."""
    net = build_network(tiny_opt()).eval()
    x_t, y, lq, t = clip_inputs(m=2, h=8, w=8)
    with torch.no_grad():
        cond = net.encode_condition(lq, y)
        first = net(x_t, y, lq, t, cond)
        x0, update = net.final_step(x_t, y, lq, t, cond)
        assert torch.equal(x0, first) and torch.equal(net(x_t, y, lq, t, cond), first)
        assert same(net.final_step(x_t, y, lq, t, cond)[1], update)
        assert same(net.encode_condition(lq, y).memory, net.memory.learned(1))


def _randomise_queries(net):
    for level in net.decoder:
        torch.nn.init.normal_(level.category.cross.attn.proj.weight, std=0.5)


def test_a_carried_memory_changes_the_output_once_the_query_is_trained():
    net = build_network(tiny_opt()).eval()
    _randomise_queries(net)
    x_t, y, lq, t = clip_inputs(m=2, h=8, w=8)
    with torch.no_grad():
        first = net(x_t, y, lq, t)
        update = net.final_step(x_t, y, lq, t, net.encode_condition(lq, y))[1]
        assert not torch.allclose(net(x_t, y, lq, t, net.encode_condition(lq, y, update)), first)
        assert torch.equal(net(x_t, y, lq, t), first)  # without a memory passed in: the learned one


def test_sampling_a_sequence_leaves_no_state_in_the_network():
    """After the engine has carried the memory through a sequence, a training-style forward (no condition passed)
    still queries the learned memory: nothing leaks from sampling into training."""
    net = build_network(tiny_opt()).eval()
    _randomise_queries(net)
    x_t, y, lq, t = clip_inputs(m=2, h=8, w=8)
    with torch.no_grad():
        before = net(x_t, y, lq, t)
        sample(net, num_frames=6, clip_len=2)
        assert torch.equal(net(x_t, y, lq, t), before)


def test_category_is_an_exact_identity_at_initialisation():
    """Stage 1 trains the condenser with CaTeGory frozen: a fresh net with use_category computes exactly what the
    same weights compute without it."""
    torch.manual_seed(0)
    with_memory = build_network(tiny_opt()).eval()
    without = build_network(tiny_opt(use_category=False)).eval()
    missing, unexpected = without.load_state_dict(with_memory.state_dict(), strict=False)
    assert not missing and unexpected and all('memory.' in k or '.category.' in k for k in unexpected)
    x_t, y, lq, t = clip_inputs(m=3, h=9, w=13)
    with torch.no_grad():
        assert torch.equal(with_memory(x_t, y, lq, t), without(x_t, y, lq, t))
        update = with_memory.final_step(x_t, y, lq, t, with_memory.encode_condition(lq, y))[1]
        carried = with_memory.encode_condition(lq, y, update)
        assert torch.equal(with_memory(x_t, y, lq, t, carried), without(x_t, y, lq, t))  # carried memory too


def test_a_two_clip_training_step_sends_gradients_to_m_and_the_queries():
    net = build_network(tiny_opt()).train()
    _randomise_queries(net)
    x_t, y, lq, _ = clip_inputs(b=2, m=2, h=8, w=8)
    chain = ClipChain(torch.randn_like(x_t), torch.ones(2), num_clips=2)
    net(x_t, y, lq, torch.tensor([3.0, 2.0]), chain=chain).square().mean().backward()
    for name, param in net.named_parameters():
        if name.startswith('memory.') or '.category.' in name:
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_chain_memory_is_learned_for_first_clips_and_built_for_the_next():
    net = build_network(tiny_opt()).eval()
    spy = Spy(net)
    x_t, y, lq, _ = clip_inputs(b=6, m=2, h=8, w=8)  # two sequences of three clips
    chain = ClipChain(torch.randn_like(x_t), torch.ones(6), num_clips=3)
    with torch.no_grad():
        sem, tex = net.chain_memory(chain, y, lq)
    assert sem.shape[0] == 6 and len(spy.builds) == 2
    assert [p['t'] for p in spy.passes] == [1.0, 1.0] and all(p['pool'] for p in spy.passes)
    for seq in range(2):
        torch.testing.assert_close(sem[3 * seq], net.memory.semantics)
        torch.testing.assert_close(sem[3 * seq + 1], spy.builds[0]['out'][0][seq])
        torch.testing.assert_close(tex[3 * seq + 2], spy.builds[1]['out'][1][seq])


def test_memory_stays_bounded_over_many_carried_clips():
    """A 100-frame sequence is 20 clips of 5: the carried memory must not grow along the chain."""
    net = build_network(tiny_opt()).eval()
    x_t, y, lq, t = clip_inputs(m=2, h=8, w=8)
    norms, memory = [], None
    with torch.no_grad():
        for _ in range(30):
            out, memory = net.final_step(x_t * 3, y, lq, t, net.encode_condition(lq, y, memory))
            norms.append(memory[1].norm().item())
    assert torch.isfinite(out).all()
    assert max(norms) < 2 * norms[0]


def test_sampling_without_category_has_nothing_to_carry():
    """Without CaTeGory, carrying the memory or not samples the same frames, bit for bit; with it, it does not."""
    net = build_network(tiny_opt(use_category=False)).eval()
    out = sample(net, num_frames=3, clip_len=2, carry=True)
    assert out.shape == (1, 3, 3, 32, 32) and torch.equal(out, sample(net, num_frames=3, clip_len=2, carry=False))
    with_memory = build_network(tiny_opt()).eval()
    for level in with_memory.decoder:  # as after training: the zero-initialised query output is not zero
        torch.nn.init.normal_(level.category.cross.attn.proj.weight, std=0.5)
    carried = sample(with_memory, num_frames=3, clip_len=2, carry=True)
    assert not torch.equal(carried, sample(with_memory, num_frames=3, clip_len=2, carry=False))
