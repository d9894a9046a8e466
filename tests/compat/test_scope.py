"""A plugin is a guest (seeclear_arch.compat.scope): with SeeClear installed, a plain BasicSR experiment trains to
the same weights and writes the same files as without it; SeeClear's additions reach only experiments in scope."""
import glob
import os
import re
import subprocess
import sys
from os import path as osp

import cv2
import numpy as np
import pytest
import torch
import yaml

from seeclear_arch.compat import scope

# ``compat.install()`` by hand: without it basicsr 1.4.2 does not import with this torchvision at all
ALIAS = ('import sys, types; from torchvision.transforms import functional as F; '
         'm = types.ModuleType("torchvision.transforms.functional_tensor"); '
         'm.rgb_to_grayscale = F.rgb_to_grayscale; sys.modules.setdefault(m.__name__, m); ')
TRAIN = ALIAS + ('import os; sys.argv = ["train.py", "-opt", sys.argv[1]]; from basicsr.train import train_pipeline; '
                 'train_pipeline(os.getcwd()); print("seeclear_arch" in sys.modules)')


def _plain_yml(root: str) -> str:
    """An SRModel + MSRResNet experiment on two generated image pairs, 4 iterations, checkpoints at 2 and 4."""
    rng = np.random.default_rng(0)
    for folder in ('gt', 'lq'):
        os.makedirs(osp.join(root, folder))
    for k in range(2):
        gt = cv2.GaussianBlur(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(osp.join(root, 'gt', f'{k}.png'), gt)
        cv2.imwrite(osp.join(root, 'lq', f'{k}.png'), cv2.resize(gt, (16, 16), interpolation=cv2.INTER_AREA))
    opt = {
        'name': 'plain', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'train': {
            'name': 'pairs', 'type': 'PairedImageDataset', 'dataroot_gt': osp.join(root, 'gt'),
            'dataroot_lq': osp.join(root, 'lq'), 'filename_tmpl': '{}', 'io_backend': {'type': 'disk'},
            'gt_size': 32, 'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
            'dataset_enlarge_ratio': 2, 'prefetch_mode': None}},
        'network_g': {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1,
                      'upscale': 4},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'total_iter': 4, 'warmup_iter': -1,
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [3], 'gamma': 0.5},
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False, 'wandb': None},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }
    path = osp.join(root, 'plain.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f)
    return path


def _train(tmp_path, subprocess_env, autoregister: str) -> str:
    root = str(tmp_path / f'autoregister{autoregister}')
    os.makedirs(root)
    yml = _plain_yml(root)
    env = dict(subprocess_env, SEECLEAR_AUTOREGISTER=autoregister)
    env.pop(scope.FIXES_ENV, None)
    proc = subprocess.run([sys.executable, '-c', TRAIN, yml], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == ('True' if autoregister == '1' else 'False')
    return osp.join(root, 'experiments', 'plain')


def _same(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _files(exp: str):
    names = sorted(osp.relpath(p, exp) for p in glob.glob(osp.join(exp, '**', '*'), recursive=True))
    return [re.sub(r'\d{8}_\d{6}', 'TIME', n) for n in names]


def _log_facts(exp: str):
    """The log lines that do not depend on the clock: the network summary and the losses."""
    (log,) = glob.glob(osp.join(exp, 'train_plain_*.log'))
    with open(log) as f:
        text = f.read()
    return re.findall(r'Network: .*', text), re.findall(r'l_pix: \S+', text)


@pytest.mark.slow
def test_a_plain_basicsr_experiment_is_untouched_by_the_plugin(tmp_path, subprocess_env):
    without = _train(tmp_path, subprocess_env, '0')
    with_plugin = _train(tmp_path, subprocess_env, '1')
    assert _files(with_plugin) == _files(without)
    checkpoints = sorted(glob.glob(osp.join(without, 'models', '*.pth')) +
                         glob.glob(osp.join(without, 'training_states', '*.state')))
    assert len(checkpoints) == 5  # net_g_2/4/latest, 2.state, 4.state
    for path in checkpoints:
        other = osp.join(with_plugin, osp.relpath(path, without))
        a, b = torch.load(path, weights_only=False), torch.load(other, weights_only=False)
        assert _same(a, b), path  # same weights, same optimizer state, and no extra keys (rng, data, ...)
    networks, losses = _log_facts(without)
    assert _log_facts(with_plugin) == (networks, losses) and len(losses) == 4


@pytest.mark.parametrize('opt, expected', [
    ({'model_type': 'SRModel', 'network_g': {'type': 'MSRResNet'}}, False),
    ({'model_type': 'SeeClearModel', 'network_g': {'type': 'SeeClearConvDenoiser'}}, True),
    ({'model_type': 'VideoRecurrentModel', 'network_g': {'type': 'SeeClearNet'}}, True),  # the swap
    ({'model_type': 'SRModel', 'network_g': {'type': 'MSRResNet'}, scope.YML_KEY: True}, True),  # opted in
])
def test_what_is_in_scope(opt, expected, monkeypatch):
    monkeypatch.delenv(scope.FIXES_ENV, raising=False)
    assert scope.in_scope(opt) is expected
    monkeypatch.setenv(scope.FIXES_ENV, '1')
    assert scope.in_scope(opt) is True
