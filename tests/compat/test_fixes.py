"""SeeClear's additions to BasicSR (seeclear_arch.compat.fixes), in scope: the original misbehaves, ours does not."""
import os
import sys

import pytest
import torch
from basicsr.archs import build_network
from basicsr.models.base_model import BaseModel
from basicsr.utils.registry import ARCH_REGISTRY, Registry
from torch import nn

from seeclear_arch.compat import scope

NO_CUDA = not torch.cuda.is_available()
needs_no_cuda = pytest.mark.skipif(not NO_CUDA, reason='the unpatched path only fails without CUDA')
IN_SCOPE = {scope.YML_KEY: True}  # a plain BaseModel opted in to SeeClear's additions


def test_registry_error_suggests_close_names():
    with pytest.raises(KeyError) as plain:
        Registry.get.__wrapped__(ARCH_REGISTRY, 'SeeClearConvDenoisr')
    assert 'Did you mean' not in str(plain.value)
    with pytest.raises(KeyError, match='Did you mean: SeeClearConvDenoiser'):
        build_network({'type': 'SeeClearConvDenoisr'})
    assert ARCH_REGISTRY.get('SeeClearConvDenoiser').__name__ == 'SeeClearConvDenoiser'


def test_registry_hints_stay_out_of_a_plain_experiment():
    with pytest.raises(KeyError) as plain:
        build_network({'type': 'MSRResNt'})
    assert 'Did you mean' not in str(plain.value)  # BasicSR's own message
    with scope.activated(), pytest.raises(KeyError, match='Did you mean: MSRResNet'):
        build_network({'type': 'MSRResNt'})


class _RandomValidation(BaseModel):
    def nondist_validation(self, *args):
        torch.rand(5)


def test_validation_leaves_the_rng_alone():
    model = _RandomValidation({'num_gpu': 0, 'is_train': True, 'dist': False, **IN_SCOPE})
    before = torch.get_rng_state()
    BaseModel.validation.__wrapped__(model, None, 1, None)
    assert not torch.equal(torch.get_rng_state(), before)
    before = torch.get_rng_state()
    _RandomValidation({'num_gpu': 0, 'is_train': True, 'dist': False}).validation(None, 1, None)
    assert not torch.equal(torch.get_rng_state(), before)  # out of scope: BasicSR's behaviour
    before = torch.get_rng_state()
    model.validation(None, 1, None)
    assert torch.equal(torch.get_rng_state(), before)


def test_network_tree_goes_to_the_log_file_only(tmp_path):
    import logging
    logger = logging.getLogger('basicsr')
    stream, file_log = [], str(tmp_path / 'train.log')
    console = logging.Handler()
    console.emit = lambda record: stream.append(record.getMessage())
    to_file = logging.FileHandler(file_log)
    logger.addHandler(console)
    logger.addHandler(to_file)
    level = logger.level
    logger.setLevel(logging.INFO)  # as train_pipeline's get_root_logger(log_file=...) sets it
    model = BaseModel({'num_gpu': 0, 'is_train': True, 'dist': False, **IN_SCOPE})
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    try:
        BaseModel.print_network.__wrapped__(model, net)
        assert any('(0): Linear' in m for m in stream)
        stream.clear()
        model.print_network(net)
    finally:
        logger.removeHandler(console)
        logger.removeHandler(to_file)
        logger.setLevel(level)
        to_file.close()
    assert len(stream) == 1 and 'parameters: 6' in stream[0]
    assert open(file_log).read().count('(0): Linear') == 2  # once per call


def test_total_iter_override_rescales_cosine_periods(tmp_path, monkeypatch):
    from tests import helpers as te
    opt = te.train_options(str(tmp_path), total_iter=100, val=False)
    opt['train']['scheduler']['periods'] = [40, 60]
    yml = te.write_yml(opt, str(tmp_path / 'x.yml'))
    monkeypatch.setattr(sys, 'argv', ['train', '-opt', yml, '--force_yml', 'train:total_iter=10'])
    import basicsr.utils.options as options
    plain, _ = options.parse_options.__wrapped__(str(tmp_path), True)
    assert plain['train']['scheduler']['periods'] == [40, 60]
    patched, _ = options.parse_options(str(tmp_path), True)
    assert patched['train']['total_iter'] == 10 and patched['train']['scheduler']['periods'] == [4, 6]


def test_tensorboard_logger_is_installed(tmp_path):
    from basicsr.utils import init_tb_logger
    writer = init_tb_logger(str(tmp_path / 'tb'))
    writer.add_scalar('l_pix', 0.5, 1)
    writer.close()
    assert os.listdir(tmp_path / 'tb')


def test_force_yml_reads_scientific_and_signed_numbers(tmp_path, monkeypatch):
    from tests import helpers as te
    yml = te.write_yml(te.train_options(str(tmp_path), total_iter=100, val=False), str(tmp_path / 'x.yml'))
    forced = ['train:optim_g:lr=4e-3', 'train:scheduler:eta_min=-1.5E-7', 'train:warmup_iter=-1', 'name=1e3run']
    monkeypatch.setattr(sys, 'argv', ['train', '-opt', yml, '--force_yml', *forced])
    import basicsr.utils.options as options
    plain = options._postprocess_yml_value
    assert plain('4e-3') == '4e-3' and plain('-1') == '-1'  # what BasicSR 1.4.2 does on its own
    opt, _ = options.parse_options(str(tmp_path), True)
    assert opt['train']['optim_g']['lr'] == 4e-3 and opt['train']['scheduler']['eta_min'] == -1.5e-7
    assert opt['train']['warmup_iter'] == -1 and isinstance(opt['train']['warmup_iter'], int)
    assert opt['name'] == '1e3run'  # not a number: stays a string
