"""SeeClear's additions to BasicSR 1.4.2, applied only to experiments in scope (``seeclear_arch.compat.scope``);
the atomic checkpoints and the exact resume are in ``seeclear_arch.training.resume``. Tests: tests/compat/.

5. ``Registry.get`` raises a bare ``KeyError`` for a misspelt ``type:``; ours lists close names.
9. ``BaseModel.validation`` restores the RNG states afterwards, so validation does not shift training.
11. ``BaseModel.print_network`` logs the whole module tree to the console and the log file; ours logs the one-line
    summary and writes the tree to the log file only.
12. ``--force_yml train:total_iter=N`` left the cosine ``periods`` at the yml's length; they are rescaled when they
    summed to the yml's ``total_iter`` (and ``periods`` is not forced too).
13. ``--force_yml`` values: BasicSR reads only plain digits as numbers, so ``lr=4e-3`` or ``eta_min=-1`` stay strings
    and fail much later (``TypeError: '<=' not supported between 'float' and 'str'`` inside Adam). Forced values
    that spell signed or scientific-notation numbers become numbers.

``parse_options`` is wrapped for every experiment, to record it (``scope.activate``) and to patch a ``__main__``
copy of basicsr's ``train.py`` (whose resume fix is global off CUDA); 12 and 13 apply only in scope.
"""
import difflib
import os
import re
import sys

from seeclear_arch.compat import scope
from seeclear_arch.compat.patching import mark, master_only, patch_attr


def make_registry_get(original):
    """Wrap ``Registry.get``: in scope, a missing name raises ``KeyError`` listing the closest names."""

    def get(self, name, suffix='basicsr'):
        try:
            return original(self, name, suffix)
        except KeyError:
            if not (scope.active() or scope.in_scope({'model_type': name, 'network_g': {'type': name}})):
                raise
            close = difflib.get_close_matches(str(name), [str(k) for k in self.keys()], n=5, cutoff=0.5)
            hint = f' Did you mean: {", ".join(close)}?' if close else ''
            raise KeyError(f"No object named '{name}' found in '{self._name}' registry!{hint}") from None

    return mark(get, original)


def make_validation(original):
    """Wrap ``BaseModel.validation``: in scope, restore every RNG state afterwards, so whether and when validation
    runs does not change the training that follows (and a resumed run matches an uninterrupted one)."""

    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        if not scope.in_scope(self.opt):
            return original(self, dataloader, current_iter, tb_logger, save_img)
        from seeclear_arch.training.state import capture_rng_state, restore_rng_state
        state = capture_rng_state()
        try:
            return original(self, dataloader, current_iter, tb_logger, save_img)
        finally:
            restore_rng_state(state)

    return mark(validation, original)


def make_print_network(original):
    """Wrap ``BaseModel.print_network``: in scope, the class and parameter count are logged as before; the full
    module tree (over a thousand lines for SeeClearNet) goes to the log file only, not to the console."""

    def print_network(self, net):
        if not scope.in_scope(self.opt):
            return original(self, net)
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

    return mark(master_only(print_network), original)


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


_NUMBER = re.compile(r'[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?')
_INTEGER = re.compile(r'[+-]?\d+')


def coerce_forced_numbers(opt: dict, args) -> None:
    """``--force_yml`` values that BasicSR left as strings but that spell numbers become numbers (13)."""
    for entry in getattr(args, 'force_yml', None) or []:
        keys = entry.split('=')[0].strip().split(':')
        node = opt
        for key in keys[:-1]:
            node = node[key]
        value = node[keys[-1]]
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            node[keys[-1]] = int(value) if _INTEGER.fullmatch(value.strip()) else float(value)


def _patch_main_train_module() -> None:
    """Patch a ``__main__`` that is basicsr's own ``train.py`` (``python basicsr/train.py``, ``-m basicsr.train``)."""
    from seeclear_arch.training.resume import patch_train_module
    main = sys.modules.get('__main__')
    main_file = os.path.normpath(getattr(main, '__file__', '') or '')
    if getattr(main, 'load_resume_state', None) is None or not main_file.endswith(os.path.join('basicsr', 'train.py')):
        return
    patch_train_module(main)


def make_parse_options(original):
    """Wrap ``parse_options``: record the experiment (``scope.activate``); a ``__main__`` copy of basicsr's train.py
    gets the training-loop patches; in scope, forced numbers (13) and rescaled periods (12)."""

    def parse_options(root_path, is_train=True):
        opt, args = original(root_path, is_train)
        scope.activate(opt)
        if is_train:
            _patch_main_train_module()
        if scope.in_scope(opt):
            coerce_forced_numbers(opt, args)
            if is_train:
                rescale_periods_for_total_iter(opt, args)
        return opt, args

    return mark(parse_options, original)


def patch() -> None:
    """Apply 5, 9, 11 and the ``parse_options`` wrapper (idempotent)."""
    import basicsr.test
    import basicsr.utils.options
    from basicsr.models.base_model import BaseModel
    from basicsr.utils.registry import Registry

    patch_attr(basicsr.utils.options, 'parse_options', make_parse_options)
    patch_attr(basicsr.test, 'parse_options', make_parse_options)  # bound when basicsr.test was imported
    patch_attr(BaseModel, 'validation', make_validation)
    patch_attr(BaseModel, 'print_network', make_print_network)
    patch_attr(Registry, 'get', make_registry_get)
