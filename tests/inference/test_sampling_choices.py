"""``--propagation`` / ``val.propagation`` and ``--preset`` / ``val.preset`` in user-video inference (tiny model)."""
import os
import sys
from os import path as osp

import cv2
import pytest
import torch

from seeclear_arch.inference import cli as infer_cli
from seeclear_arch.inference.video import build_inference_model, load_inference_options, load_sequence, super_resolve

pytestmark = pytest.mark.usefixtures('one_thread')


def _sr(model, seq, chunk=0, **kwargs) -> torch.Tensor:
    return torch.cat([frames for _, frames in super_resolve(model, seq, chunk, **kwargs)], dim=0)


def test_propagation_from_the_argument_or_val_and_independent_of_chunks(tiny):
    model = build_inference_model(load_inference_options(tiny['opt']))
    seq = load_sequence(tiny['folder'], max_frames=6)
    plain = _sr(model, seq)
    fused = _sr(model, seq, propagation=0.5)
    assert torch.equal(fused[0], plain[0]) and not torch.equal(fused[1:], plain[1:])
    assert torch.equal(_sr(model, seq, chunk=3, propagation=0.5), fused)  # the state is carried across chunks
    model.opt['val']['propagation'] = 0.5
    try:
        assert torch.equal(_sr(model, seq), fused)
        assert torch.equal(_sr(model, seq, propagation=0), plain)  # the argument wins over the yml
    finally:
        del model.opt['val']['propagation']


def test_cli_propagation_and_preset_reach_the_sampler(tiny, tmp_path, monkeypatch):
    """The CLI's frames equal ``super_resolve`` with the same options, and differ from the yml's without them."""
    model = build_inference_model(load_inference_options(tiny['opt']))
    seq = load_sequence(tiny['folder'], max_frames=3)
    expected = _sr(model, seq, propagation=0.3, num_steps=1)
    plain = _sr(model, seq)
    out = str(tmp_path / 'cli')
    monkeypatch.setattr(sys, 'argv', ['seeclear-infer', '-opt', tiny['yml'], '--input', tiny['folder'], '--output',
                                      out, '--max-frames', '3', '--propagation', '0.3', '--preset', 'fast',
                                      '--quiet'])
    infer_cli.main()
    assert sorted(os.listdir(out)) == [f'{i:08d}.png' for i in range(3)]
    written = torch.stack([torch.from_numpy(cv2.imread(osp.join(out, f'{i:08d}.png'))[:, :, ::-1].copy())
                           .permute(2, 0, 1) for i in range(3)]).float() / 255
    assert (written - expected).abs().max() <= 0.5 / 255 + 1e-6  # the PNGs are the frames, rounded
    assert (written - plain).abs().max() > 2 / 255
    monkeypatch.setattr(sys, 'argv', ['seeclear-infer', '-opt', tiny['yml'], '--input', tiny['folder'], '--output',
                                      out, '--propagation', '2'])
    with pytest.raises(SystemExit, match=r'val.propagation \(the strength\) must be in \[0, 1\]'):
        infer_cli.main()


def test_inference_preset_below_explicit_arguments(tiny):
    model = build_inference_model(load_inference_options(tiny['opt']))  # T = 4, val.num_steps = 2
    seq = load_sequence(tiny['folder'], max_frames=3)

    def sr(**kwargs):
        return torch.cat([frames for _, frames in super_resolve(model, seq, 0, **kwargs)])

    one = sr(num_steps=1)
    assert not torch.equal(sr(), one)  # the yml: 2 steps
    assert torch.equal(sr(preset='balanced'), sr(num_steps=4))
    assert torch.equal(sr(preset='paper', num_steps=1), one)  # an explicit --num-steps wins over the preset
    model.opt['val']['preset'] = 'paper'
    try:
        assert torch.equal(sr(), sr(num_steps=4))  # val.preset: paper is all T = 4 steps, whatever val.num_steps
    finally:
        del model.opt['val']['preset']
