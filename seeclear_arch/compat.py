"""Every workaround for BasicSR 1.4.2 lives here, each with a test in tests/test_compat.py.

Import-time shim (``install``, runs before basicsr's own code):

1. ``torchvision.transforms.functional_tensor`` was removed in torchvision 0.17, but
   ``basicsr/data/degradations.py`` imports ``rgb_to_grayscale`` from it, so ``import basicsr``
   fails. We register an alias module before basicsr is imported.

Patches of basicsr's modules (``patch_basicsr``, runs once basicsr is imported; idempotent). Each
patched function keeps the original as ``__wrapped__``; 2-4 and 10 leave the GPU path unchanged.

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
6. Atomic checkpoints: ``BaseModel.save_network`` / ``save_training_state`` write in place, so a kill during a
   save leaves a truncated file that ``--auto_resume`` then loads. Ours write a temporary file, fsync and
   rename (``training_state.atomic_torch_save``).
7. Exact resume: the ``.state`` also carries every rank's RNG states, the data sampler's epoch and position
   and the model's training-time state (``train_state_dict()`` of the model and of its networks, when they
   define it); ``resume_training`` restores them (the RNG right before the first batch). ``load_resume_state``
   picks the newest complete pair (the ``.state`` and every network file it needs load), not the highest
   ``.state``, and removes temporary files of interrupted saves.
8. ``basicsr.train``'s ``EnlargedSampler`` and ``CPUPrefetcher``/``CUDAPrefetcher`` are replaced by subclasses
   that resume mid-epoch (``ResumableSampler`` skips the consumed indices) and count the consumed samples.
9. ``BaseModel.validation`` restores the RNG states afterwards, so validation does not shift training.
10. ``VideoBaseModel`` / ``VideoRecurrentModel.dist_validation`` allocate metric tensors on ``'cuda'``; off
    CUDA we allocate them on ``self.device`` first. They also squeeze the fed ``lq`` in place, which on CPU
    (where ``.to(device)`` returns the same tensor) corrupts ``self.lq``; off CUDA the batch is cloned.
11. ``BaseModel.print_network`` logs the whole module tree to the console and the log file; ours logs the
    one-line summary and writes the tree to the log file only.
12. ``--force_yml train:total_iter=N`` left the cosine ``periods`` at the yml's length; ``parse_options``
    now rescales them when they summed to the yml's ``total_iter`` (and ``periods`` is not forced too).
13. ``--force_yml`` values: ``_postprocess_yml_value`` reads only plain digits as numbers, so ``lr=4e-3`` or
    ``eta_min=-1`` stay strings and fail much later (``TypeError: '<=' not supported between 'float' and 'str'``
    inside Adam). Ours also reads signed and scientific-notation numbers.
"""
import difflib
import functools
import os
import re
import sys
import types
from os import path as osp

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
    """The resume state to load: ``path.resume_state``, or under ``auto_resume`` the newest complete pair
    (``find_resume_state``: a ``.state`` and its network files that all load; sets ``opt['path']['resume_state']``).
    Temporary files left by a process killed while saving are removed."""
    from seeclear_arch.training_state import find_resume_state, remove_stale_temporaries
    if not opt['auto_resume']:
        return opt['path'].get('resume_state') or None
    exp = osp.join('experiments', opt['name'])
    for folder in (osp.join(exp, 'training_states'), osp.join(exp, 'models')):
        for tmp in remove_stale_temporaries(folder):
            print(f'Removed the partial file {tmp} of an interrupted save.', flush=True)
    path, skipped = find_resume_state(opt, osp.join(exp, 'training_states'))
    for entry in skipped:
        print(f'auto_resume: skipping {entry}.', flush=True)
    if path is not None:
        opt['path']['resume_state'] = path
    return path


def make_load_resume_state(original):
    """Replace ``basicsr.train.load_resume_state``: pick the newest complete pair (``resume_state_path``) and
    load onto the current CUDA device, or onto the CPU on a machine without CUDA."""

    def load_resume_state(opt: dict):
        import torch
        from basicsr.utils import check_resume
        path = resume_state_path(opt)
        if path is None:
            return None
        if _cuda_usable():
            device_id = torch.cuda.current_device()
            state = torch.load(path, map_location=lambda storage, loc: storage.cuda(device_id))
        else:
            state = torch.load(path, map_location='cpu')
        check_resume(opt, state['iter'])
        return state

    return _mark(load_resume_state, original)


def patch_train_module(module) -> None:
    """Patch the names a copy of basicsr's ``train.py`` looks up: ``load_resume_state`` (2, 7), the train
    sampler and prefetchers (8) and ``parse_options`` (12)."""
    from seeclear_arch import training_state as ts
    _patch_attr(module, 'load_resume_state', make_load_resume_state)
    _patch_attr(module, 'parse_options', make_parse_options)
    module.EnlargedSampler = ts.ResumableSampler
    module.CPUPrefetcher = ts.CountingCPUPrefetcher
    module.CUDAPrefetcher = ts.CountingCUDAPrefetcher


def _patch_main_train_module() -> None:
    """Patch a ``__main__`` that is basicsr's own ``train.py``."""
    main = sys.modules.get('__main__')
    main_file = os.path.normpath(getattr(main, '__file__', '') or '')
    if getattr(main, 'load_resume_state', None) is None or not main_file.endswith(os.path.join('basicsr', 'train.py')):
        return
    patch_train_module(main)


def make_parse_options(original):
    """Wrap ``parse_options``: a ``__main__`` copy of basicsr's train.py gets patches 2 and 7-8, and an
    overridden ``train.total_iter`` rescales the scheduler's periods (12)."""

    def parse_options(root_path, is_train=True):
        opt, args = original(root_path, is_train)
        if is_train:
            _patch_main_train_module()
            rescale_periods_for_total_iter(opt, args)
        return opt, args

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


# 6-7. Atomic checkpoints carrying the full training state --------------------------------------

def _bare_cpu_state_dict(model, net) -> dict:
    state = model.get_bare_model(net).state_dict()
    return {(k[7:] if k.startswith('module.') else k): v.cpu() for k, v in state.items()}


def _save_with_retry(obj, path: str, what: str) -> None:
    """``atomic_torch_save`` with BasicSR's 3 attempts; a failure is logged and training goes on (the
    previous complete checkpoint stays valid for ``--auto_resume``)."""
    import time

    from basicsr.utils import get_root_logger

    from seeclear_arch.training_state import atomic_torch_save
    for attempt in range(3):
        try:
            atomic_torch_save(obj, path)
            return
        except OSError as err:
            get_root_logger().warning(f'Saving {what} to {path} failed ({err}), {2 - attempt} retries left.')
            time.sleep(1)
    get_root_logger().error(f'Could not save {what} to {path}; the previous checkpoint is kept.')


def make_save_network(original):
    """Replace ``BaseModel.save_network``: the same file and keys, written atomically."""

    def save_network(self, net, net_label, current_iter, param_key='params'):
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys.')
        name = f"{net_label}_{'latest' if current_iter == -1 else current_iter}.pth"
        save_dict = {k: _bare_cpu_state_dict(self, n) for n, k in zip(nets, keys)}
        _save_with_retry(save_dict, osp.join(self.opt['path']['models'], name), 'network')

    return _mark(master_only(save_network), original)


def model_train_state(model) -> dict:
    """Training-time state outside weights and optimizers: ``model.train_state_dict()`` and each network's
    ``train_state_dict()`` (``net_g``, ``net_g_ema``), for those that define it."""
    state = {'model': call_if_defined(model, 'train_state_dict'), 'networks': {}}
    for name in ('net_g', 'net_g_ema'):
        net = getattr(model, name, None)
        if net is not None:
            state['networks'][name] = call_if_defined(model.get_bare_model(net), 'train_state_dict')
    return state


def load_model_train_state(model, state: dict) -> None:
    if state.get('model') is not None:
        model.load_train_state_dict(state['model'])
    for name, net_state in state.get('networks', {}).items():
        if net_state is not None:
            model.get_bare_model(getattr(model, name)).load_train_state_dict(net_state)


def call_if_defined(obj, name: str):
    fn = getattr(obj, name, None)
    return fn() if callable(fn) else None


def _all_ranks_rng_states() -> list:
    """Every rank's RNG state (a collective under DDP; a one-element list otherwise)."""
    import torch.distributed as dist

    from seeclear_arch.training_state import capture_rng_state
    state = capture_rng_state()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [state]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, state)
    return gathered


def make_save_training_state(original):
    """Replace ``BaseModel.save_training_state``: BasicSR's keys plus ``rng`` (every rank's generators),
    ``data`` (sampler epoch and position) and ``train_state`` (``model_train_state``), written atomically.
    Runs on every rank (the RNG gather is a collective); rank 0 writes."""

    def save_training_state(self, epoch, current_iter):
        from basicsr.utils.dist_util import get_dist_info

        from seeclear_arch.training_state import PROGRESS
        if current_iter == -1:
            return
        rng = _all_ranks_rng_states()
        if get_dist_info()[0] != 0:
            return
        state = {'epoch': epoch, 'iter': current_iter, 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers], 'rng': rng,
                 'data': PROGRESS.state_dict(), 'train_state': model_train_state(self)}
        path = osp.join(self.opt['path']['training_states'], f'{current_iter}.state')
        _save_with_retry(state, path, 'training state')

    return _mark(save_training_state, original)


def make_resume_training(original):
    """Wrap ``BaseModel.resume_training``: also restore the model's training state and queue this rank's RNG
    state and the data position for the first batch after the resume (``training_state.PROGRESS``)."""

    def resume_training(self, resume_state):
        from basicsr.utils import get_root_logger
        from basicsr.utils.dist_util import get_dist_info

        from seeclear_arch.training_state import PROGRESS
        original(self, resume_state)
        load_model_train_state(self, resume_state.get('train_state') or {})
        rank, world_size = get_dist_info()
        rng = resume_state.get('rng')
        if rng is not None and len(rng) == world_size:
            PROGRESS.pending_rng = rng[rank]
        elif rng is not None:
            get_root_logger().warning(f'The resume state holds RNG states of {len(rng)} processes, this run has '
                                      f'{world_size}: random streams restart, the resume is not exact.')
        PROGRESS.pending_position = resume_state.get('data')

    return _mark(resume_training, original)


# 9. Validation leaves the training RNG streams alone ---------------------------------------------

def make_validation(original):
    """Wrap ``BaseModel.validation``: restore every RNG state afterwards, so whether and when validation runs
    does not change the training that follows (and a resumed run matches an uninterrupted one)."""

    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        from seeclear_arch.training_state import capture_rng_state, restore_rng_state
        state = capture_rng_state()
        try:
            return original(self, dataloader, current_iter, tb_logger, save_img)
        finally:
            restore_rng_state(state)

    return _mark(validation, original)


# 10. BasicSR's video validation on CPU --------------------------------------------------------------

def make_video_dist_validation(original):
    """Wrap ``VideoBaseModel``/``VideoRecurrentModel.dist_validation``, which allocate ``metric_results`` on
    ``'cuda'``: off CUDA, allocate them on ``self.device`` first (the original then skips its allocation)."""

    def dist_validation(self, dataloader, current_iter, tb_logger, save_img):
        from collections import Counter

        import torch
        metrics = (self.opt.get('val') or {}).get('metrics')
        if self.device.type != 'cuda' and metrics is not None and not hasattr(self, 'metric_results'):
            counts = Counter(dataloader.dataset.data_info['folder'])
            self.metric_results = {folder: torch.zeros(n, len(metrics), dtype=torch.float32, device=self.device)
                                   for folder, n in counts.items()}
        if self.device.type == 'cuda':
            return original(self, dataloader, current_iter, tb_logger, save_img)
        feed_data = self.feed_data  # on CPU ``.to(device)`` aliases the batch, which the loop squeezes in place
        self.feed_data = lambda data: feed_data({k: v.clone() if torch.is_tensor(v) else v for k, v in data.items()})
        try:
            return original(self, dataloader, current_iter, tb_logger, save_img)
        finally:
            del self.feed_data

    return _mark(dist_validation, original)


# 11. The network summary: one line on the console, the structure once in the log file ---------------

def make_print_network(original):
    """Replace ``BaseModel.print_network``: the class and parameter count are logged as before; the full
    module tree (over a thousand lines for SeeClearNet) goes to the log file only, not to the console."""

    def print_network(self, net):
        import logging

        from basicsr.utils import get_root_logger
        bare = self.get_bare_model(net)
        cls = f'{net.__class__.__name__} - {bare.__class__.__name__}' if bare is not net else type(net).__name__
        logger = get_root_logger()
        logger.info(f'Network: {cls}, with parameters: {sum(p.numel() for p in bare.parameters()):,d} '
                    '(structure in the log file)')
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, str(bare), None, None)
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)

    return _mark(master_only(print_network), original)


# 12. --force_yml train:total_iter=N rescales the cosine periods ---------------------------------------

def rescale_periods_for_total_iter(opt: dict, args) -> None:
    """When ``--force_yml`` sets ``train:total_iter`` but not the scheduler's ``periods``, and the yml's periods
    summed to its ``total_iter``, scale the periods to the new total (the last one takes the rounding)."""
    import yaml
    forced = [e.split('=')[0].strip() for e in (getattr(args, 'force_yml', None) or [])]
    if 'train:total_iter' not in forced or any(k.startswith('train:scheduler:periods') for k in forced):
        return
    sched = opt['train'].get('scheduler') or {}
    periods = sched.get('periods')
    with open(args.opt, 'r') as f:
        old_total = int(((yaml.safe_load(f) or {}).get('train') or {}).get('total_iter') or 0)
    new_total = int(opt['train']['total_iter'])
    if not periods or sum(periods) != old_total or old_total == new_total:
        return
    scaled = [max(1, round(p * new_total / old_total)) for p in periods[:-1]]
    sched['periods'] = scaled + [max(1, new_total - sum(scaled))]
    print(f'train.total_iter {old_total} -> {new_total}: scheduler periods {periods} -> {sched["periods"]}.',
          flush=True)


# 13. --force_yml numbers in scientific notation ----------------------------------------------------------

_NUMBER = re.compile(r'[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?')
_INTEGER = re.compile(r'[+-]?\d+')


def make_postprocess_yml_value(original):
    """Wrap ``_postprocess_yml_value``: a value that is still a string but spells a number becomes one."""

    def postprocess_yml_value(value):
        out = original(value)
        if isinstance(out, str) and _NUMBER.fullmatch(out.strip()):
            return int(out) if _INTEGER.fullmatch(out.strip()) else float(out)
        return out

    return _mark(postprocess_yml_value, original)


def master_only(fn):
    from basicsr.utils.dist_util import master_only as basicsr_master_only
    return basicsr_master_only(fn)


def _patch_attr(owner, name: str, factory) -> None:
    current = getattr(owner, name, None)
    if current is not None and not _is_patched(current):
        setattr(owner, name, factory(current))


def patch_basicsr() -> None:
    """Apply patches 2-13 to the imported basicsr modules (idempotent)."""
    import basicsr.train
    import basicsr.utils.dist_util
    import basicsr.utils.options
    from basicsr.models.base_model import BaseModel
    from basicsr.models.video_base_model import VideoBaseModel
    from basicsr.models.video_recurrent_model import VideoRecurrentModel
    from basicsr.utils.registry import Registry

    patch_train_module(basicsr.train)
    _patch_attr(basicsr.utils.options, 'parse_options', make_parse_options)
    _patch_attr(basicsr.utils.options, '_postprocess_yml_value', make_postprocess_yml_value)
    for name, factory in (('save_network', make_save_network), ('save_training_state', make_save_training_state),
                          ('resume_training', make_resume_training), ('validation', make_validation),
                          ('print_network', make_print_network)):
        _patch_attr(BaseModel, name, factory)
    for cls in (VideoBaseModel, VideoRecurrentModel):
        if 'dist_validation' in vars(cls):
            _patch_attr(cls, 'dist_validation', make_video_dist_validation)
    _patch_attr(basicsr.utils.dist_util, '_init_dist_pytorch', make_init_dist_pytorch)
    _patch_attr(BaseModel, 'model_to_device', make_model_to_device)
    _patch_attr(Registry, 'get', make_registry_get)
