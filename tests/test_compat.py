"""Each BasicSR 1.4.2 workaround in seeclear_arch/compat.py: the original fails, the patched one works."""
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
from basicsr.archs import build_network
from basicsr.models.base_model import BaseModel
from basicsr.utils.registry import ARCH_REGISTRY, Registry
from torch import nn

from seeclear_arch import compat

NO_CUDA = not torch.cuda.is_available()
needs_no_cuda = pytest.mark.skipif(not NO_CUDA, reason='the unpatched path only fails without CUDA')


def test_patches_are_installed_once():
    compat.patch_basicsr()  # idempotent: no wrapper around a wrapper
    for fn in (basicsr.train.load_resume_state, dist_util._init_dist_pytorch, BaseModel.model_to_device, Registry.get):
        assert getattr(fn, '_seeclear_patched', False)
        assert not getattr(fn.__wrapped__, '_seeclear_patched', False)


def test_functional_tensor_alias_makes_basicsr_importable(subprocess_env):
    code = 'import basicsr'
    env = dict(subprocess_env, SEECLEAR_AUTOREGISTER='0')
    plain = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    if plain.returncode == 0:
        pytest.skip('this torchvision still ships transforms.functional_tensor')
    assert 'functional_tensor' in plain.stderr
    shimmed = 'from seeclear_arch import compat; compat.install(); ' + code
    assert subprocess.run([sys.executable, '-c', shimmed], env=env).returncode == 0


def _resume_opt(tmp_path, monkeypatch):
    state_dir = tmp_path / 'experiments' / 'exp' / 'training_states'
    state_dir.mkdir(parents=True)
    torch.save({'epoch': 0, 'iter': 2, 'optimizers': [], 'schedulers': []}, state_dir / '2.state')
    (tmp_path / 'experiments' / 'exp' / 'models').mkdir()
    torch.save({'params': {}}, tmp_path / 'experiments' / 'exp' / 'models' / 'net_g_2.pth')
    monkeypatch.chdir(tmp_path)
    models = str(tmp_path / 'experiments' / 'exp' / 'models')
    return {'name': 'exp', 'auto_resume': True, 'network_g': {}, 'path': {'resume_state': None, 'models': models}}


@needs_no_cuda
def test_cpu_resume(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError):
        basicsr.train.load_resume_state.__wrapped__(_resume_opt(tmp_path / 'a', monkeypatch))
    opt = _resume_opt(tmp_path / 'b', monkeypatch)
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
    parse = compat.make_parse_options(lambda root_path, is_train: ('opt', 'args'))
    assert parse('root', is_train=True) == ('opt', 'args')
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


def test_registry_error_suggests_close_names():
    with pytest.raises(KeyError) as plain:
        Registry.get.__wrapped__(ARCH_REGISTRY, 'SeeClearConvDenoisr')
    assert 'Did you mean' not in str(plain.value)
    with pytest.raises(KeyError, match='Did you mean: SeeClearConvDenoiser'):
        build_network({'type': 'SeeClearConvDenoisr'})
    assert ARCH_REGISTRY.get('SeeClearConvDenoiser').__name__ == 'SeeClearConvDenoiser'


def test_auto_resume_ignores_a_truncated_newest_state(tmp_path, monkeypatch):
    opt = _resume_opt(tmp_path, monkeypatch)
    (tmp_path / 'experiments' / 'exp' / 'training_states' / '4.state').write_bytes(b'PK\x03\x04 truncated')
    loaded = []
    with monkeypatch.context() as m:  # what BasicSR's own function would load (its CUDA mapping stubbed)
        m.setattr(torch.cuda, 'current_device', lambda: 0)
        m.setattr(torch, 'load', lambda path, **kwargs: loaded.append(path) or {'iter': 4})
        basicsr.train.load_resume_state.__wrapped__(dict(opt, path=dict(opt['path'])))
    assert loaded[0].endswith('4.state')  # the truncated one
    state = basicsr.train.load_resume_state(opt)
    assert state['iter'] == 2 and opt['path']['resume_state'].endswith('2.state')


def _failing_torch_save(obj, f, *args, **kwargs):
    """A write that dies halfway (disk full, killed): half the bytes, then an error."""
    import io
    buffer = io.BytesIO()
    _REAL_SAVE(obj, buffer)
    data = buffer.getvalue()[:100]
    if isinstance(f, (str, os.PathLike)):
        with open(f, 'wb') as out:
            out.write(data)
    else:
        f.write(data)
    raise OSError('No space left on device')


_REAL_SAVE = torch.save


def test_save_network_is_atomic(tmp_path, monkeypatch):
    model = BaseModel({'num_gpu': 0, 'is_train': True, 'dist': False, 'path': {'models': str(tmp_path)}})
    net = nn.Linear(2, 2)
    model.save_network(net, 'net_g', 5)
    monkeypatch.setattr(torch, 'save', _failing_torch_save)
    monkeypatch.setattr('time.sleep', lambda s: None)
    model.save_network(nn.Linear(2, 2), 'net_g', 5)  # fails: the previous file stays complete
    assert torch.equal(torch.load(tmp_path / 'net_g_5.pth', weights_only=True)['params']['weight'], net.weight)
    assert os.listdir(tmp_path) == ['net_g_5.pth']
    BaseModel.save_network.__wrapped__(model, nn.Linear(2, 2), 'net_g', 5)  # BasicSR's in-place write
    monkeypatch.setattr(torch, 'save', _REAL_SAVE)
    with pytest.raises(RuntimeError):
        torch.load(tmp_path / 'net_g_5.pth', weights_only=True)


class _RandomValidation(BaseModel):
    def nondist_validation(self, *args):
        torch.rand(5)


def test_validation_leaves_the_rng_alone():
    model = _RandomValidation({'num_gpu': 0, 'is_train': True, 'dist': False})
    before = torch.get_rng_state()
    BaseModel.validation.__wrapped__(model, None, 1, None)
    assert not torch.equal(torch.get_rng_state(), before)
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
    model = BaseModel({'num_gpu': 0, 'is_train': True, 'dist': False})
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
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'models'))
    import tiny_experiment as te
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
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'models'))
    import tiny_experiment as te
    yml = te.write_yml(te.train_options(str(tmp_path), total_iter=100, val=False), str(tmp_path / 'x.yml'))
    forced = ['train:optim_g:lr=4e-3', 'train:scheduler:eta_min=-1.5E-7', 'train:warmup_iter=-1', 'name=1e3run']
    monkeypatch.setattr(sys, 'argv', ['train', '-opt', yml, '--force_yml', *forced])
    import basicsr.utils.options as options
    plain = options._postprocess_yml_value.__wrapped__
    assert plain('4e-3') == '4e-3' and plain('-1') == '-1'  # what BasicSR 1.4.2 does on its own
    opt, _ = options.parse_options(str(tmp_path), True)
    assert opt['train']['optim_g']['lr'] == 4e-3 and opt['train']['scheduler']['eta_min'] == -1.5e-7
    assert opt['train']['warmup_iter'] == -1 and isinstance(opt['train']['warmup_iter'], int)
    assert opt['name'] == '1e3run'  # not a number: stays a string
