"""The global workarounds (seeclear_arch.compat.shim, .cpu, the CPU resume): the original fails, ours works."""
import os
import socket
import subprocess
import sys
import types

import basicsr.train
import basicsr.utils.dist_util as dist_util
import pytest
import torch
import torch.distributed as dist
from basicsr.models.base_model import BaseModel
from basicsr.utils.registry import Registry
from torch import nn

from seeclear_arch import compat
from seeclear_arch.compat import fixes, scope
from tests.helpers import resume_experiment

NO_CUDA = not torch.cuda.is_available()
needs_no_cuda = pytest.mark.skipif(not NO_CUDA, reason='the unpatched path only fails without CUDA')
IN_SCOPE = {scope.YML_KEY: True}  # a plain BaseModel opted in to SeeClear's additions


def test_patches_are_installed_once():
    compat.patch_basicsr()  # idempotent: no wrapper around a wrapper
    import basicsr.test
    for fn in (basicsr.train.load_resume_state, dist_util._init_dist_pytorch, BaseModel.model_to_device, Registry.get,
               basicsr.test.parse_options, basicsr.train.parse_options):
        assert getattr(fn, '_seeclear_patched', False)
        assert not getattr(fn.__wrapped__, '_seeclear_patched', False)


@pytest.mark.slow
def test_functional_tensor_alias_makes_basicsr_importable(subprocess_env):
    code = 'import basicsr'
    env = dict(subprocess_env, SEECLEAR_AUTOREGISTER='0')
    plain = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    if plain.returncode == 0:
        pytest.skip('this torchvision still ships transforms.functional_tensor')
    assert 'functional_tensor' in plain.stderr
    shimmed = 'from seeclear_arch import compat; compat.install(); ' + code
    assert subprocess.run([sys.executable, '-c', shimmed], env=env).returncode == 0


@needs_no_cuda
def test_cpu_resume(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError):
        basicsr.train.load_resume_state.__wrapped__(resume_experiment(tmp_path / 'a', monkeypatch))
    opt = resume_experiment(tmp_path / 'b', monkeypatch)
    state = basicsr.train.load_resume_state(opt)
    assert state['iter'] == 2
    assert opt['path']['resume_state'].endswith('2.state')
    assert opt['path']['pretrain_network_g'].endswith('net_g_2.pth')


def test_cpu_resume_patch_reaches_a_main_copy_of_basicsr_train(monkeypatch):
    """``python -m basicsr.train`` runs train.py as ``__main__`` with its own ``load_resume_state``."""

    def load_resume_state(opt):
        raise RuntimeError('unpatched')

    main = types.ModuleType('__main__')
    main.__file__ = os.path.join('somewhere', 'basicsr', 'train.py')
    main.load_resume_state = load_resume_state
    monkeypatch.setitem(sys.modules, '__main__', main)
    parse = fixes.make_parse_options(lambda root_path, is_train: ({}, None))
    assert parse('root', is_train=True) == ({}, None)
    assert main.load_resume_state.__wrapped__ is load_resume_state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def dist_env(monkeypatch):
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@needs_no_cuda
def test_init_dist_uses_gloo_without_cuda(dist_env):
    with pytest.raises((ZeroDivisionError, RuntimeError)):
        dist_util._init_dist_pytorch.__wrapped__('nccl')  # rank % device_count() == rank % 0
    dist_util._init_dist_pytorch('nccl')
    assert dist.is_initialized() and dist.get_backend() == 'gloo'


@needs_no_cuda
def test_model_to_device_wraps_cpu_ddp(dist_env):
    dist_util._init_dist_pytorch('nccl')
    model = BaseModel({'num_gpu': 0, 'is_train': True, 'dist': True})
    with pytest.raises(RuntimeError):
        BaseModel.model_to_device.__wrapped__(model, nn.Linear(2, 2))  # device_ids=[torch.cuda.current_device()]
    net = model.model_to_device(nn.Linear(2, 2))
    assert isinstance(net, nn.parallel.DistributedDataParallel)
    assert net(torch.ones(1, 2)).shape == (1, 2)


