"""Every workaround for BasicSR 1.4.2 lives here, each with a test in tests/test_compat.py.

Import-time shim (``install``, runs before basicsr's own code):

1. ``torchvision.transforms.functional_tensor`` was removed in torchvision 0.17, but
   ``basicsr/data/degradations.py`` imports ``rgb_to_grayscale`` from it, so ``import basicsr``
   fails. We register an alias module before basicsr is imported.

Patches of basicsr's modules (``patch_basicsr``, runs once basicsr is imported; idempotent). Each
patched function keeps the original as ``__wrapped__``; the GPU path is unchanged in every case.

2. CPU resume: ``basicsr.train.load_resume_state`` maps the state onto
   ``torch.cuda.current_device()``, which raises without CUDA. Without CUDA we load onto the CPU.
   ``python -m basicsr.train`` and a checkout's ``python basicsr/train.py`` run that file as
   ``__main__`` with its own copy of the function; the ``parse_options`` wrapper (which that
   ``__main__`` imports after our patch) patches the ``__main__`` copy too.
3. ``init_dist(launcher='pytorch')`` hard-codes nccl and calls ``torch.cuda.set_device(rank %
   device_count())`` (a division by zero without GPUs). Without CUDA we initialise gloo instead.
4. ``BaseModel.model_to_device`` wraps DDP with ``device_ids=[torch.cuda.current_device()]``; on a
   CPU device we wrap without ``device_ids`` (CPU DDP over gloo).
5. ``Registry.get`` raises a bare ``KeyError`` for a misspelt ``type:``; ours lists close names.
"""
import difflib
import functools
import os
import sys
import types

_PATCHED_FLAG = '_seeclear_patched'


def install_functional_tensor_alias() -> None:
    """Provide ``torchvision.transforms.functional_tensor`` if this torchvision lacks it."""
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401  (old torchvision)
        return
    except ImportError:
        pass
    from torchvision.transforms import functional as F
    alias = types.ModuleType(name)
    alias.rgb_to_grayscale = F.rgb_to_grayscale
    sys.modules[name] = alias


def install() -> None:
    """Install all import-time shims (idempotent)."""
    install_functional_tensor_alias()


def _cuda_usable() -> bool:
    import torch
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def _mark(wrapper, original):
    """Mark a wrapper as ours (``__wrapped__`` is the original) and return it."""
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, _PATCHED_FLAG, True)
    return wrapper


def _is_patched(fn) -> bool:
    return getattr(fn, _PATCHED_FLAG, False)


# 2. CPU resume --------------------------------------------------------------------------------

def resume_state_path(opt: dict):
    """The resume state BasicSR's ``load_resume_state`` would pick (same rules; sets
    ``opt['path']['resume_state']`` under ``auto_resume``)."""
    from os import path as osp

    from basicsr.utils import scandir
    if not opt['auto_resume']:
        return opt['path'].get('resume_state') or None
    state_path = osp.join('experiments', opt['name'], 'training_states')
    if not osp.isdir(state_path):
        return None
    states = [float(v.split('.state')[0]) for v in scandir(state_path, suffix='state', recursive=False)]
    if not states:
        return None
    opt['path']['resume_state'] = osp.join(state_path, f'{max(states):.0f}.state')
    return opt['path']['resume_state']


def make_load_resume_state(original):
    """Wrap ``basicsr.train.load_resume_state``: on a machine without CUDA, load onto the CPU."""

    def load_resume_state(opt: dict):
        if _cuda_usable():
            return original(opt)
        import torch
        from basicsr.utils import check_resume
        path = resume_state_path(opt)
        if path is None:
            return None
        state = torch.load(path, map_location='cpu')
        check_resume(opt, state['iter'])
        return state

    return _mark(load_resume_state, original)


def _patch_main_train_module() -> None:
    """Patch ``load_resume_state`` of a ``__main__`` that is basicsr's own ``train.py``."""
    main = sys.modules.get('__main__')
    fn = getattr(main, 'load_resume_state', None)
    main_file = os.path.normpath(getattr(main, '__file__', '') or '')
    if fn is None or _is_patched(fn) or not main_file.endswith(os.path.join('basicsr', 'train.py')):
        return
    main.load_resume_state = make_load_resume_state(fn)


def make_parse_options(original):
    """Wrap ``parse_options`` so a ``__main__`` copy of basicsr's train.py gets the CPU resume fix."""

    def parse_options(root_path, is_train=True):
        result = original(root_path, is_train)
        if is_train:
            _patch_main_train_module()
        return result

    return _mark(parse_options, original)


# 3. init_dist without GPUs --------------------------------------------------------------------

def make_init_dist_pytorch(original):
    """Wrap ``basicsr.utils.dist_util._init_dist_pytorch``: gloo and no ``set_device`` without CUDA."""

    def _init_dist_pytorch(backend, **kwargs):
        if _cuda_usable():
            return original(backend, **kwargs)
        import torch.distributed as dist
        dist.init_process_group(backend='gloo', **kwargs)

    return _mark(_init_dist_pytorch, original)


# 4. DDP on CPU --------------------------------------------------------------------------------

def make_model_to_device(original):
    """Wrap ``BaseModel.model_to_device``: CPU DDP takes no ``device_ids``."""

    def model_to_device(self, net):
        if not (self.opt['dist'] and self.device.type == 'cpu'):
            return original(self, net)
        from torch.nn.parallel import DistributedDataParallel
        find_unused = self.opt.get('find_unused_parameters', False)
        return DistributedDataParallel(net.to(self.device), find_unused_parameters=find_unused)

    return _mark(model_to_device, original)


# 5. Registry suggestions ----------------------------------------------------------------------

def make_registry_get(original):
    """Wrap ``Registry.get``: a missing name raises ``KeyError`` listing the closest names."""

    def get(self, name, suffix='basicsr'):
        try:
            return original(self, name, suffix)
        except KeyError:
            close = difflib.get_close_matches(str(name), [str(k) for k in self.keys()], n=5, cutoff=0.5)
            hint = f' Did you mean: {", ".join(close)}?' if close else ''
            raise KeyError(f"No object named '{name}' found in '{self._name}' registry!{hint}") from None

    return _mark(get, original)


def _patch_attr(owner, name: str, factory) -> None:
    current = getattr(owner, name)
    if not _is_patched(current):
        setattr(owner, name, factory(current))


def patch_basicsr() -> None:
    """Apply patches 2-5 to the imported basicsr modules (idempotent)."""
    import basicsr.train
    import basicsr.utils.dist_util
    import basicsr.utils.options
    from basicsr.models.base_model import BaseModel
    from basicsr.utils.registry import Registry

    _patch_attr(basicsr.train, 'load_resume_state', make_load_resume_state)
    _patch_attr(basicsr.utils.options, 'parse_options', make_parse_options)
    _patch_attr(basicsr.utils.dist_util, '_init_dist_pytorch', make_init_dist_pytorch)
    _patch_attr(BaseModel, 'model_to_device', make_model_to_device)
    _patch_attr(Registry, 'get', make_registry_get)
