"""Mixed precision training (``train.precision``) and ``train.grad_checkpoint`` in SeeClearModel, on CPU."""
import glob
from os import path as osp
from typing import List

import numpy as np
import pytest
import torch
import yaml
from basicsr.models import build_model

from seeclear_arch.sampling.precision import MixedPrecision
from tests.helpers import SCALE, make_dataset, model_options, tiny_opt


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('precision'))
    make_dataset(osp.join(root, 'data'))
    return root


def _model(root: str, **train):
    opt = model_options(root, **train)
    opt['network_g'] = tiny_opt()
    return build_model(opt)


def _batch() -> dict:
    generator = torch.Generator().manual_seed(0)
    return {'lq': torch.rand(2, 3, 3, 8, 8, generator=generator),
            'gt': torch.rand(2, 3, 3, 8 * SCALE, 8 * SCALE, generator=generator)}


def _record_dtypes(model) -> List[torch.dtype]:
    """Output dtypes of the network's convolutions, and the dtype of the network's ``x_t`` input first."""
    dtypes = []
    net = model.get_bare_model(model.net_g)
    net.register_forward_pre_hook(lambda module, args: dtypes.append(args[0].dtype))
    net.head.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    return dtypes


def test_bf16_training_step_runs_in_bf16_and_keeps_fp32_state(root):
    model = _model(root, precision='bf16')
    dtypes = _record_dtypes(model)
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.feed_data(_batch())
    model.optimize_parameters(1)
    assert dtypes == [torch.float32, torch.bfloat16]  # q_sample in float32, the network under bf16 autocast
    assert model.output.dtype == torch.float32 and np.isfinite(model.log_dict['l_pix'])
    assert model.log_dict['l_skipped_nonfinite'] == 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    assert all(p.dtype == torch.float32 for p in (*model.net_g.parameters(), *model.net_g_ema.parameters()))
    states = [v for s in model.optimizer_g.state.values() for v in s.values() if torch.is_tensor(v) and v.numel() > 1]
    assert states and all(v.dtype == torch.float32 for v in states)


def test_fp32_is_the_default_and_runs_without_autocast(root):
    model = _model(root)
    dtypes = _record_dtypes(model)
    model.feed_data(_batch())
    model.optimize_parameters(1)
    assert model.precision.precision == 'fp32' and dtypes == [torch.float32, torch.float32]


def test_fp16_overflow_is_skipped_counted_and_lowers_the_scale(root):
    model = _model(root, precision='fp16')
    scaler = model.precision.scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 120)  # overflows float16
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.feed_data(_batch())
    model.optimize_parameters(1)
    assert model.log_dict['l_skipped_nonfinite'] == 1 and np.isfinite(model.log_dict['l_pix'])
    assert all(torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    assert scaler.get_scale() == 2.0 ** 119
    scaler.update(new_scale=256.0)
    model.optimize_parameters(2)
    assert model.log_dict['l_skipped_nonfinite'] == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))


def test_unknown_precision_is_a_clear_error(root):
    with pytest.raises(ValueError, match=r"train.precision must be one of \('fp32', 'bf16', 'fp16'\), got 'half'"):
        _model(root, precision='half')


def test_train_grad_checkpoint_switches_the_network(root):
    model = _model(root, grad_checkpoint=True)
    assert model.get_bare_model(model.net_g).grad_checkpoint
    default = _model(root)
    assert not default.get_bare_model(default.net_g).grad_checkpoint


def test_train_grad_checkpoint_needs_a_network_that_supports_it(root):
    with pytest.raises(ValueError, match='SeeClearConvDenoiser.*no set_grad_checkpoint'):
        build_model(model_options(root, grad_checkpoint=True))


def test_scaler_state_round_trips_and_ignores_other_precisions():
    saved = MixedPrecision('fp16')
    saved.scaler = torch.amp.GradScaler('cpu', init_scale=1024.0)
    restored = MixedPrecision('fp16')
    restored.load_state_dict(saved.state_dict())
    assert restored.scaler.get_scale() == 1024.0
    MixedPrecision('bf16').load_state_dict(saved.state_dict())  # precision changed between runs: nothing to load
    assert MixedPrecision('bf16').state_dict() == {'precision': 'bf16', 'scaler': None}


TRAIN_OPTIONS = sorted(glob.glob(osp.join(osp.dirname(__file__), '..', '..', 'options', 'train_*.yml')))


@pytest.mark.parametrize('path', TRAIN_OPTIONS, ids=osp.basename)
def test_training_option_files_set_a_valid_precision(path):
    with open(path) as f:
        train = yaml.safe_load(f)['train']
    assert MixedPrecision.from_opt(train, torch.device('cpu')).precision == train['precision']
    assert isinstance(train['grad_checkpoint'], bool)


@pytest.mark.parametrize('fast', [True, False])
def test_low_precision_on_a_cpu_without_native_support_warns_naming_the_option(monkeypatch, fast):
    """bf16/fp16 autocast on a CPU without AVX-512 BF16/FP16 or AMX runs on reference kernels: say so, name the
    option, and keep going (it is only slow)."""
    import warnings

    from seeclear_arch.sampling import precision
    from seeclear_arch.sampling.engine import network_autocast
    assert precision.cpu_has_fast(torch.float32)
    monkeypatch.setattr(precision, 'cpu_has_fast', lambda dtype: fast)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        MixedPrecision('bf16', 'cpu')
        with network_autocast(torch.device('cpu'), 'bfloat16'):
            pass
        MixedPrecision('fp32', 'cpu')
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if fast:
        assert messages == []
    else:
        assert len(messages) == 2 and 'train.precision=bf16' in messages[0] and '--dtype bfloat16' in messages[1]
