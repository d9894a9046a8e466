"""Atomic checkpoints and exact resume for BasicSR's training loop (tests/training/test_resume.py).

In scope (``seeclear_arch.compat.scope``: SeeClear's experiments, or opted in):

6. Atomic checkpoints: ``BaseModel.save_network`` / ``save_training_state`` write in place, so a kill during a save
   leaves a truncated file that ``--auto_resume`` then loads. Ours write a temporary file, fsync and rename
   (``state.atomic_torch_save``).
7. Exact resume: the ``.state`` also carries every rank's RNG states, the data sampler's epoch and position and the
   model's training-time state (``train_state_dict()`` of the model and of its networks, when they define it);
   ``resume_training`` restores them (the RNG right before the first batch). ``load_resume_state`` picks the newest
   complete pair (the ``.state`` and every network file it needs load), not the highest ``.state``, and removes
   temporary files of interrupted saves.
8. ``basicsr.train``'s ``EnlargedSampler`` and ``CPUPrefetcher``/``CUDAPrefetcher`` become subclasses that resume
   mid-epoch (``ResumableSampler`` skips the consumed indices) and count the consumed samples.

Global (2, CPU resume): BasicSR's ``load_resume_state`` maps the state onto ``torch.cuda.current_device()``, which
raises without CUDA; off CUDA every experiment's state loads onto the CPU (BasicSR's choice of state otherwise).
``python -m basicsr.train`` and a checkout's ``python basicsr/train.py`` run that file as ``__main__`` with its own
copies of these names; the ``parse_options`` wrapper (``compat.fixes``) patches the ``__main__`` copy too.
"""
import glob
from os import path as osp

from seeclear_arch.compat import scope
from seeclear_arch.compat.patching import cuda_usable, mark, master_only, patch_attr


def resume_state_path(opt: dict):
    """The resume state to load: ``path.resume_state``, or under ``auto_resume`` the newest complete pair
    (``find_resume_state``: a ``.state`` and its network files that all load; sets ``opt['path']['resume_state']``).
    Temporary files left by a process killed while saving are removed."""
    from seeclear_arch.training.state import find_resume_state, remove_stale_temporaries
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


def basicsr_resume_state_path(opt: dict):
    """BasicSR 1.4.2's own choice: ``path.resume_state``, or under ``auto_resume`` the highest ``<iter>.state``."""
    if not opt['auto_resume']:
        return opt['path'].get('resume_state') or None
    folder = osp.join('experiments', opt['name'], 'training_states')
    states = [float(osp.basename(p)[:-len('.state')]) for p in glob.glob(osp.join(folder, '*.state'))]
    if not states:
        return None
    path = osp.join(folder, f'{max(states):.0f}.state')
    opt['path']['resume_state'] = path
    return path


def make_load_resume_state(original):
    """Replace ``basicsr.train.load_resume_state``: in scope, the newest complete pair (``resume_state_path``);
    loaded onto the current CUDA device, or onto the CPU on a machine without CUDA (every experiment)."""

    def load_resume_state(opt: dict):
        import torch
        from basicsr.utils import check_resume
        in_scope = scope.in_scope(opt)
        if not in_scope and cuda_usable():
            return original(opt)
        path = resume_state_path(opt) if in_scope else basicsr_resume_state_path(opt)
        if path is None:
            return None
        if cuda_usable():
            device_id = torch.cuda.current_device()
            state = torch.load(path, map_location=lambda storage, loc: storage.cuda(device_id))
        else:
            state = torch.load(path, map_location='cpu')
        check_resume(opt, state['iter'])
        return state

    return mark(load_resume_state, original)


def in_scope_class(fixed, original):
    """A stand-in for BasicSR's class ``original`` in ``basicsr.train``: builds ``fixed`` while this process's
    experiment is in scope (``scope.active``), else ``original``."""

    def build(*args, **kwargs):
        return (fixed if scope.active() else original)(*args, **kwargs)

    build.__wrapped__ = original
    return build


def patch_train_module(module) -> None:
    """Patch the names a copy of basicsr's ``train.py`` looks up: ``load_resume_state`` (2, 7), the train sampler
    and prefetchers (8) and ``parse_options`` (record the experiment; 12-13 in ``compat.fixes``)."""
    from seeclear_arch.compat.fixes import make_parse_options
    from seeclear_arch.training import state as ts
    patch_attr(module, 'load_resume_state', make_load_resume_state)
    patch_attr(module, 'parse_options', make_parse_options)
    for name, fixed in (('EnlargedSampler', ts.ResumableSampler), ('CPUPrefetcher', ts.CountingCPUPrefetcher),
                        ('CUDAPrefetcher', ts.CountingCUDAPrefetcher)):
        current = getattr(module, name, None)
        if current is not None and getattr(current, '__wrapped__', None) is None:
            setattr(module, name, in_scope_class(fixed, current))


def _bare_cpu_state_dict(model, net) -> dict:
    state = model.get_bare_model(net).state_dict()
    return {(k[7:] if k.startswith('module.') else k): v.cpu() for k, v in state.items()}


def _save_with_retry(obj, path: str, what: str) -> None:
    """``atomic_torch_save`` with BasicSR's 3 attempts; a failure is logged and training goes on (the
    previous complete checkpoint stays valid for ``--auto_resume``)."""
    import time

    from basicsr.utils import get_root_logger

    from seeclear_arch.training.state import atomic_torch_save
    for attempt in range(3):
        try:
            atomic_torch_save(obj, path)
            return
        except OSError as err:
            get_root_logger().warning(f'Saving {what} to {path} failed ({err}), {2 - attempt} retries left.')
            time.sleep(1)
    get_root_logger().error(f'Could not save {what} to {path}; the previous checkpoint is kept.')


def make_save_network(original):
    """Replace ``BaseModel.save_network``: in scope, the same file and keys, written atomically."""

    def save_network(self, net, net_label, current_iter, param_key='params'):
        if not scope.in_scope(self.opt):
            return original(self, net, net_label, current_iter, param_key)
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys.')
        name = f"{net_label}_{'latest' if current_iter == -1 else current_iter}.pth"
        save_dict = {k: _bare_cpu_state_dict(self, n) for n, k in zip(nets, keys)}
        _save_with_retry(save_dict, osp.join(self.opt['path']['models'], name), 'network')

    return mark(master_only(save_network), original)


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

    from seeclear_arch.training.state import capture_rng_state
    state = capture_rng_state()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [state]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, state)
    return gathered


def make_save_training_state(original):
    """Replace ``BaseModel.save_training_state``: in scope, BasicSR's keys plus ``rng`` (every rank's generators),
    ``data`` (sampler epoch and position) and ``train_state`` (``model_train_state``), written atomically.
    Runs on every rank (the RNG gather is a collective); rank 0 writes."""

    def save_training_state(self, epoch, current_iter):
        if not scope.in_scope(self.opt):
            return original(self, epoch, current_iter)
        from basicsr.utils.dist_util import get_dist_info

        from seeclear_arch.training.state import PROGRESS
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

    return mark(save_training_state, original)


def make_resume_training(original):
    """Wrap ``BaseModel.resume_training``: in scope, also restore the model's training state and queue this rank's RNG
    state and the data position for the first batch after the resume (``state.PROGRESS``)."""

    def resume_training(self, resume_state):
        if not scope.in_scope(self.opt):
            return original(self, resume_state)
        from basicsr.utils import get_root_logger
        from basicsr.utils.dist_util import get_dist_info

        from seeclear_arch.training.state import PROGRESS
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

    return mark(resume_training, original)


def patch() -> None:
    """Apply 2 and 6-8 (idempotent)."""
    import basicsr.train
    from basicsr.models.base_model import BaseModel

    patch_train_module(basicsr.train)
    for name, factory in (('save_network', make_save_network), ('save_training_state', make_save_training_state),
                          ('resume_training', make_resume_training)):
        patch_attr(BaseModel, name, factory)
