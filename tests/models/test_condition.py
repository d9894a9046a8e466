"""SeeClear*: a frozen base network (``network_base``) or a precomputed condition as ``y`` (models/condition.py)."""
from os import path as osp

import pytest
import torch
from basicsr.models import build_model

from seeclear_arch.models.condition import bicubic_upsample
from tests.helpers import SCALE, model_options


def _base_model(root, base_opt, base_mode, tmp_path):
    from basicsr.archs import build_network
    weights = osp.join(str(tmp_path), 'base.pth')
    torch.save({'params': build_network(base_opt).state_dict()}, weights)
    opt = model_options(root)
    opt.update(network_base=base_opt, base_mode=base_mode)
    opt['path'].update(pretrain_network_base=weights, strict_load_base=True, param_key_base='params')
    return build_model(opt)


@pytest.mark.parametrize('base_opt, base_mode, lr_size', [
    ({'type': 'BasicVSR', 'num_feat': 4, 'num_block': 1, 'spynet_path': None}, 'sequence', 64),
    ({'type': 'EDVR', 'num_feat': 8, 'num_frame': 3, 'deformable_groups': 1, 'num_extract_block': 1,
      'num_reconstruct_block': 1}, 'sliding', 16),
    ({'type': 'MSRResNet', 'num_feat': 4, 'num_block': 1, 'upscale': 4}, 'image', 16),  # a BasicSR image SR arch
])
def test_frozen_base_network_gives_the_condition(root, tmp_path, base_opt, base_mode, lr_size):
    model = _base_model(root, base_opt, base_mode, tmp_path)
    assert not any(p.requires_grad for p in model.net_base.parameters()) and not model.net_base.training
    lq = torch.rand(1, 4, 3, lr_size, lr_size)
    y = model.condition(lq)
    assert y.shape == (1, 4, 3, lr_size * SCALE, lr_size * SCALE)
    assert 0 <= y.min() and y.max() <= 1
    assert not torch.allclose(y, bicubic_upsample(lq, SCALE), atol=1e-3)  # the base net, not bicubic


def test_image_base_runs_on_each_frame_at_the_sampling_dtype(root, tmp_path):
    model = _base_model(root, {'type': 'MSRResNet', 'num_feat': 4, 'num_block': 1, 'upscale': 4}, 'image', tmp_path)
    lq = torch.rand(2, 3, 3, 8, 8)
    y = model.condition(lq)
    with torch.no_grad():
        for i in range(3):
            torch.testing.assert_close(y[:, i], model.net_base(lq[:, i]).clamp(0, 1))
    dtypes = []
    model.net_base.register_forward_hook(lambda mod, args, out: dtypes.append(out.dtype))
    model.opt['val'].update(dtype='bfloat16')
    model.feed_data({'lq': lq[:1]})
    model.test()
    assert dtypes == [torch.bfloat16] * 3 and model.output.dtype == torch.float32


def test_a_base_with_its_own_weights_needs_no_path(root, caplog):
    opt = model_options(root)
    opt.update(network_base={'type': 'DATLight', 'upscale': 4}, base_mode='image')
    model = build_model(opt)
    assert 'random weights' not in caplog.text
    y = model.condition(torch.rand(1, 2, 3, 8, 8))
    assert y.shape == (1, 2, 3, 32, 32) and 0 <= y.min() and y.max() <= 1


def test_training_uses_the_precomputed_condition_when_given(root):
    model = build_model(model_options(root))
    seen = []
    model.get_bare_model(model.net_g).register_forward_hook(lambda mod, args, out: seen.append(args[1]))
    lq, gt = torch.rand(1, 6, 3, 8, 8), torch.rand(1, 6, 3, 32, 32)
    cond = torch.rand(1, 6, 3, 32, 32)
    model.feed_data({'lq': lq, 'gt': gt, 'cond': cond})
    model.optimize_parameters(1)
    y = model.diffusion.to_range(model.clip_rows(cond))
    torch.testing.assert_close(seen[-1], y)
    model.feed_data({'lq': lq, 'gt': gt})
    model.optimize_parameters(2)
    torch.testing.assert_close(seen[-1], model.diffusion.to_range(model.clip_rows(bicubic_upsample(lq, SCALE))))


def test_missing_base_weights_name_the_resume_option(root, tmp_path):
    opt = model_options(root)
    opt.update(network_base={'type': 'SeeClearConvDenoiser', 'num_feat': 4}, base_mode='sequence')
    opt['path']['pretrain_network_base'] = osp.join(str(tmp_path), 'missing.pth')
    with pytest.raises(FileNotFoundError, match='ignore_resume_networks'):
        build_model(opt)


def test_unknown_base_mode_is_an_error(root):
    opt = model_options(root)
    opt.update(network_base={'type': 'SeeClearConvDenoiser', 'num_feat': 4}, base_mode='slide')
    with pytest.raises(ValueError, match='base_mode'):
        build_model(opt)
