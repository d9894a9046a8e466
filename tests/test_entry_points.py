"""The user-facing commands, each as a subprocess on a tiny generated dataset (CPU, seconds each)."""
import glob
import os
import re
import socket
import subprocess
import sys
from os import path as osp

import pytest

from tests.helpers import inference_options, make_dataset, run, train_options, write_yml

PY = sys.executable
VAL_LINE = re.compile(r'# psnr: ([\d.]+)((?:\t # seq\d: [\d.]+)+)')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    return make_dataset(str(tmp_path_factory.mktemp('tiny_data')), val_frames=[7, 4, 5])


def _last_validation(log_text: str) -> str:
    """Per-sequence PSNRs of the last validation in a log (``'\t # seq0: 5.16\t # seq1: ...'``)."""
    found = VAL_LINE.findall(log_text)
    assert found, log_text[-3000:]
    return found[-1][1]


def _log(exp_dir: str, prefix: str) -> str:
    logs = sorted(glob.glob(osp.join(exp_dir, f'{prefix}_*.log')))
    assert logs, os.listdir(exp_dir)
    with open(logs[-1]) as f:
        return f.read()


@pytest.mark.slow
def test_train_validate_resume_then_test(tmp_path, data_root, subprocess_env):
    cwd = str(tmp_path)
    yml = write_yml(train_options(data_root), osp.join(cwd, 'train.yml'))
    run([PY, '-m', 'seeclear_arch.train', '-opt', yml], cwd, subprocess_env)
    exp = osp.join(cwd, 'experiments', 'tiny')
    assert sorted(os.listdir(osp.join(exp, 'models'))) == ['net_g_2.pth', 'net_g_latest.pth']
    assert os.listdir(osp.join(exp, 'training_states')) == ['2.state']
    assert osp.isfile(osp.join(exp, 'visualization', 'tiny_val', 'seq0', '00000006_3.png'))  # 7 frames, m = 3

    run([PY, '-m', 'seeclear_arch.train', '-opt', yml, '--auto_resume', '--force_yml', 'train:total_iter=4'], cwd,
        subprocess_env)
    log = _log(exp, 'train')
    assert 'Resuming training from epoch: 0, iter: 2.' in log and 'iter:       3,' in log
    assert sorted(os.listdir(osp.join(exp, 'training_states'))) == ['2.state', '4.state']

    weights = osp.join(exp, 'models', 'net_g_latest.pth')
    test_yml = write_yml(inference_options(data_root, weights), osp.join(cwd, 'test.yml'))
    run([PY, '-m', 'seeclear_arch.test', '-opt', test_yml], cwd, subprocess_env)
    results = osp.join(cwd, 'results', 'tiny_test')
    assert len(os.listdir(osp.join(results, 'visualization', 'tiny_test_set', 'seq2'))) == 5
    assert osp.isfile(osp.join(results, 'visualization', 'tiny_test_set', 'seq0', '00000006_sr.png'))
    # same weights (params_ema), same seed: the test reproduces the final validation of training
    assert _last_validation(_log(results, 'test')) == _last_validation(log)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_gloo_two_processes(tmp_path, data_root, subprocess_env):
    cwd = str(tmp_path)
    opt = train_options(data_root, name='tiny_ddp', total_iter=2)
    opt['datasets']['train']['batch_size_per_gpu'] = 1
    yml = write_yml(opt, osp.join(cwd, 'ddp.yml'))
    run([PY, '-m', 'torch.distributed.run', '--nproc_per_node=2', f'--master_port={_free_port()}', '-m',
         'seeclear_arch.train', '-opt', yml, '--launcher', 'pytorch'], cwd, subprocess_env, timeout=300)
    exp = osp.join(cwd, 'experiments', 'tiny_ddp')
    log = _log(exp, 'train')
    assert 'World size (gpu number): 2' in log and 'iter:       2,' in log
    assert osp.isfile(osp.join(exp, 'training_states', '2.state'))
    ddp_values = _last_validation(log)  # 3 sequences split over 2 ranks, gathered on rank 0
    assert ddp_values.count('seq') == 3
    weights = osp.join(exp, 'models', 'net_g_latest.pth')
    test_yml = write_yml(inference_options(data_root, weights), osp.join(cwd, 'test.yml'))
    run([PY, '-m', 'seeclear_arch.test', '-opt', test_yml], cwd, subprocess_env)
    assert _last_validation(_log(osp.join(cwd, 'results', 'tiny_test'), 'test')) == ddp_values


FAKE_BASICSR_TRAIN = '''from os import path as osp

from basicsr.train import train_pipeline

if __name__ == '__main__':
    root_path = osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))
    train_pipeline(root_path)
'''


def _one_iter_yml(data_root: str, path: str, name: str) -> str:
    opt = train_options(data_root, name=name, total_iter=1, val=False)
    opt['logger']['save_checkpoint_freq'] = 1
    return write_yml(opt, path)


FAKE_BASICSR_TEST = FAKE_BASICSR_TRAIN.replace('train', 'test')


@pytest.mark.slow
def test_basicsr_checkout_train_and_test_py_find_seeclear(tmp_path, data_root, subprocess_env):
    """A BasicSR checkout's own scripts (no edit) train and test SeeClear through the auto-registration."""
    checkout = tmp_path / 'BasicSR'
    (checkout / 'basicsr').mkdir(parents=True)
    (checkout / 'basicsr' / 'train.py').write_text(FAKE_BASICSR_TRAIN)
    (checkout / 'basicsr' / 'test.py').write_text(FAKE_BASICSR_TEST)
    yml = _one_iter_yml(data_root, str(tmp_path / 'one.yml'), 'checkout')
    run([PY, 'basicsr/train.py', '-opt', yml], str(checkout), subprocess_env)
    log = _log(str(checkout / 'experiments' / 'checkout'), 'train')
    assert 'Model [SeeClearModel] is created.' in log
    weights = str(checkout / 'experiments' / 'checkout' / 'models' / 'net_g_latest.pth')
    test_yml = write_yml(inference_options(data_root, weights), str(tmp_path / 'test.yml'))
    run([PY, 'basicsr/test.py', '-opt', test_yml], str(checkout), subprocess_env)
    results = checkout / 'results' / 'tiny_test'
    assert 'Model [SeeClearModel] is created.' in _log(str(results), 'test')
    assert len(os.listdir(results / 'visualization' / 'tiny_test_set' / 'seq0')) == 7


def _basicsr_symlink_root(tmp_path) -> str:
    """A root whose ``basicsr`` links to the installed one, so ``python -m basicsr.train`` writes there."""
    import basicsr
    root = tmp_path / 'site'
    root.mkdir()
    os.symlink(osp.dirname(basicsr.__file__), root / 'basicsr')
    return str(root)


@pytest.mark.slow
def test_python_m_basicsr_train_and_cpu_resume(tmp_path, data_root, subprocess_env):
    root = _basicsr_symlink_root(tmp_path)
    env = dict(subprocess_env, PYTHONPATH=root + os.pathsep + subprocess_env['PYTHONPATH'])
    yml = _one_iter_yml(data_root, str(tmp_path / 'one.yml'), 'm_basicsr')
    run([PY, '-m', 'basicsr.train', '-opt', yml], root, env)
    # basicsr/train.py runs as __main__ with its own load_resume_state: resuming on CPU needs compat's patch
    run([PY, '-m', 'basicsr.train', '-opt', yml, '--auto_resume', '--force_yml', 'train:total_iter=2'], root, env)
    log = _log(osp.join(root, 'experiments', 'm_basicsr'), 'train')
    assert 'Model [SeeClearModel] is created.' in log
    assert 'Resuming training from epoch: 0, iter: 1.' in log


@pytest.mark.slow
@pytest.mark.parametrize('switch, expected', [('0', 'False False'), ('1', 'True True')])
def test_autoregister_switch(subprocess_env, switch, expected):
    alias = ('import sys, types; from torchvision.transforms import functional as F; '  # compat.install(), by hand
             'm = types.ModuleType("torchvision.transforms.functional_tensor"); '
             'm.rgb_to_grayscale = F.rgb_to_grayscale; sys.modules.setdefault(m.__name__, m); ')
    code = alias + ('import basicsr; from basicsr.utils.registry import MODEL_REGISTRY; '
                    'print("SeeClearModel" in MODEL_REGISTRY, "seeclear_arch" in sys.modules)')
    env = dict(subprocess_env, SEECLEAR_AUTOREGISTER=switch)
    proc = subprocess.run([PY, '-c', code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == expected


def test_console_scripts_are_declared(repo_root):
    with open(osp.join(repo_root, 'setup.py')) as f:
        setup_py = f.read()
    assert "'seeclear-train=seeclear_arch.train:main'" in setup_py
    assert "'seeclear-test=seeclear_arch.test:main'" in setup_py
