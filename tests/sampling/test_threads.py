"""The thread policy of the commands (seeclear_arch.sampling.threads): idle cores, an explicit choice wins, and
OpenMP threads that wait sleep instead of spinning, in SeeClear's own commands only."""
import logging
import subprocess
import sys

import pytest
import torch

from seeclear_arch.sampling import threads


@pytest.mark.parametrize('cores, busy, expected', [(2, None, 2), (2, 0.0, 2), (2, 0.2, 2), (2, 1.0, 1), (2, 1.9, 1),
                                                   (2, 3.0, 1), (4, 1.5, 2), (16, 0.5, 15)])
def test_choose_threads_takes_the_idle_cores(cores, busy, expected):
    assert threads.choose_threads(cores, busy) == expected


def test_only_the_cores_this_process_may_use_count():
    # 4 dedicated cores on a node where other jobs keep 60 of 64 busy: ours are idle
    assert threads.choose_threads(4, busy=0.0, allowed=4) == 4
    assert threads.choose_threads(2, busy=1.0, allowed=4) == 2  # torch uses 2 of 4 allowed, 3 are idle


def test_an_explicit_choice_wins_and_a_bad_one_names_the_variable(monkeypatch):
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert threads.explicit_threads() == 3
    monkeypatch.setenv(threads.THREADS_ENV, '1')
    assert threads.explicit_threads() == 1
    monkeypatch.delenv(threads.THREADS_ENV)
    monkeypatch.setenv('OMP_NUM_THREADS', '4,2')  # OpenMP's nested list: the first level
    assert threads.explicit_threads() == 4
    monkeypatch.setenv('OMP_NUM_THREADS', 'abc')  # not ours to refuse: ignored
    assert threads.explicit_threads() is None
    monkeypatch.setenv(threads.THREADS_ENV, 'two')
    with pytest.raises(ValueError, match='SEECLEAR_THREADS must be a positive integer'):
        threads.explicit_threads()


def test_apply_uses_the_idle_cores_and_warns_on_a_busy_machine(monkeypatch):
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(threads, 'busy_cores', lambda interval=0.2: 1.0)
    monkeypatch.setattr(threads, 'allowed_cores', lambda: 2)
    logger, warnings = logging.getLogger('seeclear_test_threads'), []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger.addHandler(handler)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert threads.apply(logger=logger) == 1 and torch.get_num_threads() == 1
        assert any('keep 1.0 of 2 cores busy: using 1 thread(s)' in w for w in warnings)
        assert threads.apply(requested=2) == 2 and torch.get_num_threads() == 2  # --threads wins
    finally:
        torch.set_num_threads(before)
        logger.removeHandler(handler)


def test_busy_cores_reads_proc_stat():
    busy = threads.busy_cores(0.05)
    assert busy is None or 0 <= busy <= len(threads._cpu_times() or [0]) + 0.01


def test_only_seeclear_commands_are_seeclear_commands():
    assert threads.is_seeclear_command(['python', '-m', 'seeclear_arch.train', '-opt', 'x.yml'], ['train.py'])
    assert threads.is_seeclear_command(['/venv/bin/python', '/venv/bin/seeclear-infer'], ['/venv/bin/seeclear-infer'])
    assert not threads.is_seeclear_command(['python', '-m', 'basicsr.train', '-opt', 'x.yml'], ['train.py'])
    assert not threads.is_seeclear_command(['python', 'my_script.py'], ['my_script.py'])


@pytest.mark.slow
def test_a_seeclear_command_waits_passively_and_another_program_keeps_its_policy(subprocess_env):
    env = {k: v for k, v in subprocess_env.items() if k not in ('OMP_WAIT_POLICY', threads.THREADS_ENV)}
    command = subprocess.run([sys.executable, '-m', 'seeclear_arch.sampling.threads'], env=env,
                             capture_output=True, text=True, timeout=120)
    assert command.returncode == 0, command.stderr
    assert 'OMP_WAIT_POLICY=PASSIVE' in command.stdout and 'explicit=1 threads=1' in command.stdout
    other = subprocess.run([sys.executable, '-c', 'import os, seeclear_arch; print(os.environ.get("OMP_WAIT_POLICY"))'],
                           env=env, capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip().splitlines()[-1] == 'None'
