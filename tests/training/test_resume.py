"""Atomic checkpoints and exact-resume choices (seeclear_arch.training.resume), in scope."""
import os

import basicsr.train
import pytest
import torch
from basicsr.models.base_model import BaseModel
from torch import nn

from seeclear_arch.compat import scope
from tests.helpers import resume_experiment

NO_CUDA = not torch.cuda.is_available()
needs_no_cuda = pytest.mark.skipif(not NO_CUDA, reason='the unpatched path only fails without CUDA')
IN_SCOPE = {scope.YML_KEY: True}  # a plain BaseModel opted in to SeeClear's additions


def test_auto_resume_ignores_a_truncated_newest_state(tmp_path, monkeypatch):
    opt = dict(resume_experiment(tmp_path, monkeypatch), **IN_SCOPE)
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
    model = BaseModel({'num_gpu': 0, 'is_train': True, 'dist': False, 'path': {'models': str(tmp_path)}, **IN_SCOPE})
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


