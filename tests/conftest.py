import os
import random
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

import torch  # noqa: E402

import seeclear_arch  # noqa: E402,F401  (registers everything)
from seeclear_arch.sampling import threads  # noqa: E402

# the commands' policy (seeclear_arch.sampling.threads): the cores other processes leave idle, at most 2
_ALLOWED = threads.allowed_cores()
torch.set_num_threads(threads.explicit_threads()
                      or threads.choose_threads(min(2, _ALLOWED), threads.busy_cores(), _ALLOWED))


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a subprocess or paper-scale test; `pytest -m "not slow"` leaves them '
                                       'out for daily work, CI runs everything')


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op thread for a module of tiny ops: they gain nothing from two, and two stall on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def repo_root() -> str:
    return REPO


@pytest.fixture
def subprocess_env() -> dict:
    """Environment for subprocess tests: the repo copy of seeclear_arch wins over an installed one."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    env[threads.THREADS_ENV] = env['OMP_NUM_THREADS']  # a subprocess runs one thread unless a test says otherwise
    return env
