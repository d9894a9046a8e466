"""seeclear_arch/training/state.py: RNG capture, resumable sampler, atomic writes, complete checkpoint pairs."""
import os
import random
import signal
import subprocess
import sys
import time
from os import path as osp

import numpy as np
import pytest
import torch
from basicsr.data.data_sampler import EnlargedSampler
from torch.utils.data import DataLoader

from seeclear_arch.training import state as ts

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FAULT_SCRIPT = osp.join(REPO, 'benchmarks', 'fault_injection_resume.py')


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_state_round_trip():
    state = ts.capture_rng_state()
    first = _draws()
    _draws()
    ts.restore_rng_state(state)
    assert _draws() == first


def test_resumable_sampler_and_counting_prefetcher_continue_mid_epoch():
    data = list(range(10))
    sampler = ts.ResumableSampler(data, 1, 0)
    sampler.set_epoch(3)
    assert list(sampler) == list(EnlargedSampler(data, 1, 0).__iter__.__func__(sampler))  # same permutation
    full = list(sampler)
    loader = DataLoader(data, batch_size=2, sampler=sampler, drop_last=True)
    pre = ts.CountingCPUPrefetcher(loader)
    pre.reset()
    consumed = [pre.next().tolist() for _ in range(2)]
    saved = ts.PROGRESS.state_dict()
    assert saved == {'epoch': 3, 'position': 4} and sum(consumed, []) == full[:4]
    ts.PROGRESS.pending_position = saved
    pre.reset()
    assert pre.next().tolist() == full[4:6]
    ts.PROGRESS.reset_all()


@pytest.mark.slow
def test_atomic_save_killed_midway_keeps_the_old_file(tmp_path):
    path = str(tmp_path / 'net_g_3.pth')
    ts.atomic_torch_save({'params': torch.zeros(3)}, path)
    code = ('import torch; from seeclear_arch.training.state import atomic_torch_save; '
            f'atomic_torch_save({{"params": torch.ones(100000)}}, {path!r})')
    env = dict(os.environ, SEECLEAR_FAULT_SAVE_SLEEP='30', PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, '-c', code], env=env)
    deadline = time.time() + 60
    while not any('.tmp-' in n for n in os.listdir(tmp_path)) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert torch.equal(torch.load(path, weights_only=True)['params'], torch.zeros(3))
    assert len(ts.remove_stale_temporaries(str(tmp_path))) == 1
    assert os.listdir(tmp_path) == ['net_g_3.pth']


def _pair(root, it: int, truncate: str = '') -> None:
    torch.save({'iter': it, 'optimizers': []}, osp.join(root, 'training_states', f'{it}.state'))
    torch.save({'params': {'w': torch.ones(1000)}}, osp.join(root, 'models', f'net_g_{it}.pth'))
    if truncate:
        target = osp.join(root, *(('training_states', f'{it}.state') if truncate == 'state'
                                  else ('models', f'net_g_{it}.pth')))
        with open(target, 'r+b') as f:
            f.truncate(os.path.getsize(target) // 2)


@pytest.mark.parametrize('bad', ['state', 'net'])
def test_find_resume_state_takes_the_newest_complete_pair(tmp_path, bad):
    for sub in ('training_states', 'models'):
        (tmp_path / sub).mkdir()
    _pair(str(tmp_path), 2)
    _pair(str(tmp_path), 4, truncate=bad)
    opt = {'network_g': {}, 'path': {'models': str(tmp_path / 'models')}}
    path, skipped = ts.find_resume_state(opt, str(tmp_path / 'training_states'))
    assert path.endswith('2.state') and len(skipped) == 1 and '4.state' in skipped[0]


@pytest.mark.slow
def test_fault_injection_two_kills_resume_bit_exact(tmp_path):
    """SIGKILL during a checkpoint write and at a random iteration; the final weights equal an uninterrupted run."""
    proc = subprocess.run([sys.executable, FAULT_SCRIPT, '--kills', '2', '--iters', '12', '--workdir', str(tmp_path)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'during a checkpoint write' in proc.stdout and 'PASS' in proc.stdout
