"""Kill a tiny SeeClear training run with SIGKILL at random moments, resume it each time, and check the result.

    python -m benchmarks.fault_injection_resume --kills 10 --iters 40 --workdir /tmp/seeclear_faults

1. A reference run trains a tiny ``SeeClearConvDenoiser`` experiment (the test suite's generated data, batch 1,
   a checkpoint every 3 iterations, EMA on) for ``--iters`` iterations without interruption.
2. The same experiment is started with ``--auto_resume`` and killed with SIGKILL ``--kills`` times: every
   other kill lands while a checkpoint file is being written (``SEECLEAR_FAULT_SAVE_SLEEP`` makes each write
   pause halfway; the kill comes when a temporary file appears, at the first save after a random iteration),
   the others 1-8 iterations after the resume point. After each kill, every ``.pth`` and ``.state``
   under its final name must load.
3. A last ``--auto_resume`` run finishes training; its ``net_g_latest.pth`` (``params`` and ``params_ema``) must
   equal the reference run's bit for bit.

Exit status 0 when all checks pass. Needs the package importable (run from the repository root).
"""
import argparse
import glob
import os
import random
import re
import signal
import subprocess
import sys
import time
from os import path as osp
from typing import Dict, List, Optional, Tuple

import torch

from tests import helpers as te  # the tests' tiny generated experiment

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

NAME = 'fault_tiny'
ITER_RE = re.compile(r'iter:\s+(\d+),')
START_RE = re.compile(r'Start training from epoch: \d+, iter: (\d+)')


def write_options(root: str, iters: int) -> str:
    opt = te.train_options(osp.join(root, 'data'), name=NAME, total_iter=iters, val=False)
    opt['datasets']['train']['batch_size_per_gpu'] = 1  # 4 iterations per epoch: resumes land mid-epoch
    opt['logger']['save_checkpoint_freq'] = 3
    return te.write_yml(opt, osp.join(root, 'train.yml'))


def launch(yml: str, cwd: str, log: str, save_sleep: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.setdefault('OMP_NUM_THREADS', '1')
    if save_sleep > 0:
        env['SEECLEAR_FAULT_SAVE_SLEEP'] = str(save_sleep)
    cmd = [sys.executable, '-m', 'seeclear_arch.train', '-opt', yml, '--auto_resume']
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=open(log, 'w'), stderr=subprocess.STDOUT)


def exp_dir(cwd: str) -> str:
    return osp.join(cwd, 'experiments', NAME)


def _log_iters(log: str) -> Tuple[Optional[int], int]:
    with open(log, 'r', errors='replace') as f:
        text = f.read()
    start = START_RE.search(text)
    iters = [int(v) for v in ITER_RE.findall(text)]
    return (int(start.group(1)) if start else None), (max(iters) if iters else 0)


def _saving(cwd: str) -> bool:
    return bool(glob.glob(osp.join(exp_dir(cwd), '*', '.*.tmp-*')))


def kill_when(proc: subprocess.Popen, cwd: str, log: str, mode: str, rng: random.Random,
              total: int, timeout: float = 300) -> Optional[str]:
    """SIGKILL ``proc`` at a random iteration after its resume point (``mode='iter'``), or during the first
    checkpoint write from that iteration on (``'save'``); returns where it was killed, or None when it finished
    first."""
    target, deadline = None, time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        start, seen = _log_iters(log)
        if start is not None and target is None:
            target = min(start + rng.randint(1, 8), total - 1) if start + 1 <= total - 1 else total
        if mode == 'save' and target is not None and seen >= target and _saving(cwd):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return f'during a checkpoint write at iter {seen} (resumed from {start})'
        if mode == 'iter' and target is not None and seen >= target:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return f'at iter {seen} (resumed from {start})'
        time.sleep(0.005)
    if proc.poll() is None:
        proc.kill()
        raise RuntimeError(f'run did not finish within {timeout} s; see {log}')
    return None


def check_files_load(cwd: str) -> List[str]:
    """Every checkpoint file under its final name loads; returns the ones that do not."""
    bad = []
    for path in glob.glob(osp.join(exp_dir(cwd), 'models', '*.pth')) + \
            glob.glob(osp.join(exp_dir(cwd), 'training_states', '*.state')):
        try:
            torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:  # noqa: BLE001  (report any failure)
            bad.append(f'{path}: {err}')
    return bad


def final_weights(cwd: str) -> Dict[str, Dict[str, torch.Tensor]]:
    return torch.load(osp.join(exp_dir(cwd), 'models', 'net_g_latest.pth'), map_location='cpu', weights_only=True)


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].keys() == b[k].keys() and all(torch.equal(a[k][n], b[k][n]) for n in a[k]) for k in a)


def run_to_end(yml: str, cwd: str, log: str) -> None:
    proc = launch(yml, cwd, log, 0)
    if proc.wait(timeout=600) != 0:
        raise RuntimeError(f'training exited {proc.returncode}; see {log}')


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kills', type=int, default=10)
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--save-sleep', type=float, default=0.3, help='pause (s) inside every checkpoint write')
    parser.add_argument('--workdir', required=True)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    te.make_dataset(osp.join(args.workdir, 'data'))
    yml = write_options(args.workdir, args.iters)
    ref, faulty = osp.join(args.workdir, 'reference'), osp.join(args.workdir, 'faulty')
    for d in (ref, faulty):
        os.makedirs(d, exist_ok=True)
    run_to_end(yml, ref, osp.join(ref, 'run.log'))
    failures = []
    for k in range(args.kills):
        log = osp.join(faulty, f'run{k}.log')
        mode = 'save' if k % 2 == 0 else 'iter'
        where = kill_when(launch(yml, faulty, log, args.save_sleep), faulty, log, mode, rng, args.iters)
        print(f'kill {k + 1}/{args.kills}: ' + (where or 'not killed: the run finished first'), flush=True)
        bad = check_files_load(faulty)
        failures += bad
        if where is None:
            break
    run_to_end(yml, faulty, osp.join(faulty, 'final.log'))
    print(f'final run resumed from iter {_log_iters(osp.join(faulty, "final.log"))[0]}', flush=True)
    failures += check_files_load(faulty)
    if not weights_equal(final_weights(ref), final_weights(faulty)):
        failures.append('final weights differ from the uninterrupted run')
    print('FAIL:\n  ' + '\n  '.join(failures) if failures else
          'PASS: no corrupt checkpoint after any kill; final params and params_ema equal the uninterrupted run.')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
