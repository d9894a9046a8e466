"""Activation checkpointing of SeeClearNet (``grad_checkpoint``): same outputs and gradients, less saved memory."""
import copy
from typing import Dict, Tuple

import pytest
import torch
from basicsr.archs import build_network

from seeclear_arch.archs.blocks import CondenserUnit
from seeclear_arch.archs.checkpointing import checkpoint_block
from seeclear_arch.archs.denoiser import ClipChain
from tests.helpers import clip_inputs, tiny_opt


def _net(**kwargs) -> torch.nn.Module:
    net = build_network(tiny_opt(**kwargs)).train()
    for level in (*net.middle, *net.decoder):  # as after some training: the zero-initialised CaTeGory output is not 0
        if level.category is not None:
            torch.nn.init.normal_(level.category.cross.attn.proj.weight, std=0.1)
    return net


def _train_pass(net: torch.nn.Module, enabled: bool) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], int]:
    """Two consecutive clips per sequence (the chained memory included): output, gradients, bytes autograd saved
    outside the checkpointed blocks."""
    net = copy.deepcopy(net)
    net.set_grad_checkpoint(enabled)
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    x_t, y, lq, t = clip_inputs(b=2, m=2, h=16, w=16)
    chain = ClipChain(torch.randn(x_t.shape, generator=generator), torch.ones(2), num_clips=2)
    saved = []

    def pack(tensor):
        saved.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = net(x_t, y, lq, torch.tensor([3.0, 1.0]), chain=chain)
    out.square().mean().backward()
    grads = {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}
    return out.detach(), grads, sum(saved)


@pytest.mark.parametrize('reading', [{}, dict(incam_tokens='clip'), dict(category_in_middle=True)])
def test_checkpointing_gives_identical_outputs_and_gradients(reading):
    net = _net(**reading)
    out, grads, saved = _train_pass(net, enabled=False)
    out_ckpt, grads_ckpt, saved_ckpt = _train_pass(net, enabled=True)
    assert torch.equal(out, out_ckpt)
    assert grads.keys() == grads_ckpt.keys() and len(grads) == sum(p.requires_grad for p in net.parameters())
    assert all(torch.equal(grads[name], grads_ckpt[name]) for name in grads)
    assert saved_ckpt < saved / 2  # the checkpointed blocks keep only their inputs


def _count_unit_calls(net: torch.nn.Module) -> list:
    calls = []
    for module in net.modules():
        if isinstance(module, CondenserUnit):
            module.register_forward_pre_hook(lambda *args: calls.append(1))
    return calls


def test_checkpointed_units_run_again_in_backward_only_when_training_with_grads():
    net = _net()
    net.set_grad_checkpoint(True)
    calls = _count_unit_calls(net)
    num_units = sum(isinstance(m, CondenserUnit) for m in net.modules())
    x_t, y, lq, t = clip_inputs(m=2, h=8, w=8)
    out = net(x_t, y, lq, t)
    assert len(calls) == num_units
    out.mean().backward()
    assert len(calls) == 2 * num_units  # recomputed during the backward pass
    calls.clear()
    with torch.no_grad():
        net(x_t, y, lq, t)
    net.eval()(x_t, y, lq, t).mean().backward()
    assert len(calls) == 2 * num_units  # no recomputation without grads or in eval mode


def test_grad_checkpoint_is_a_constructor_option():
    net = build_network(tiny_opt(grad_checkpoint=True))
    assert net.grad_checkpoint and all(level.grad_checkpoint for level in (*net.middle, *net.decoder))
    net.set_grad_checkpoint(False)
    assert not any(level.grad_checkpoint for level in (*net.middle, *net.decoder))


def test_checkpoint_block_is_a_plain_call_when_disabled():
    layer = torch.nn.Linear(2, 2)
    x = torch.randn(3, 2, requires_grad=True)
    assert torch.equal(checkpoint_block(False, layer, x), layer(x))
    assert checkpoint_block(False, layer, x).grad_fn.name() == layer(x).grad_fn.name()
