"""Time SeeClear training steps and measure their peak memory, on random data of the yml's shapes.

Usage:
    python -m benchmarks.benchmark_training -opt options/train_seeclear_demo.yml [--precision fp32|bf16|fp16] \
        [--grad-checkpoint] [--iters 5] [--warmup 2] [--batch B] [--num-clips K] [--gt-size 256] \
        [--device cpu|cuda] [--random-distiller] [--json out.json]

Builds the yml's model (``SeeClearModel``: ``network_g``, ``diffusion``, ``train``) in training mode without loading
``path.pretrain_network_g`` and without any dataset, then runs ``--warmup`` untimed and ``--iters`` timed
``optimize_parameters`` steps (forward under ``train.precision``, backward, clipping, optimizer and EMA update) on
random items of ``--batch`` [``datasets.train.batch_size_per_gpu``] x ``--num-clips`` [``datasets.train.num_clips``]
clips of ``datasets.train.num_frame`` frames with ``--gt-size`` [``datasets.train.gt_size``] GT crops (LR = GT /
``scale``). Iterations/s is 1 / the median step time. Peak memory is ``torch.cuda.max_memory_allocated`` on cuda and
the process's peak RSS (``getrusage``; includes Python, torch and the model) on CPU. ``--random-distiller`` builds a
pretrained distiller from its config with random weights (as ``scripts/count_params.py``), so no download is needed.
"""
import argparse
import copy
import json
import logging
import os
import statistics
import time
from typing import Dict, List

import torch
from basicsr.models import build_model
from basicsr.utils import get_root_logger

import seeclear_arch  # noqa: F401  (registers the archs and the model)
from benchmarks.benchmark_sampling import peak_memory_mib, sync
from seeclear_arch.inference.video import read_options
from seeclear_arch.sampling.precision import PRECISIONS


def parse_args(argv: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', required=True, help='training yml (network_g, diffusion, train, datasets.train)')
    parser.add_argument('--precision', choices=tuple(PRECISIONS), default=None, help='[train.precision, else fp32]')
    parser.add_argument('--grad-checkpoint', action='store_true', help='train.grad_checkpoint: true')
    parser.add_argument('--iters', type=int, default=5, help='timed iterations')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations first')
    parser.add_argument('--batch', type=int, default=None, help='items per step [datasets.train.batch_size_per_gpu]')
    parser.add_argument('--num-clips', type=int, default=None, help='clips per item [datasets.train.num_clips]')
    parser.add_argument('--gt-size', type=int, default=None, help='GT crop side [datasets.train.gt_size]')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--random-distiller', action='store_true')
    parser.add_argument('--cached-condition', action='store_true',
                        help='feed the condition y with the batch (datasets.train.dataroot_cond) instead of running '
                             'network_base on the crops at every step')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=None, help='also write the results to this JSON file')
    parser.add_argument('--verbose', action='store_true', help="show BasicSR's log (network printout)")
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda but torch.cuda.is_available() is False')
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
    for name in ('batch', 'num_clips', 'gt_size'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def training_options(args: argparse.Namespace) -> dict:
    """Training-mode options as ``parse_options`` makes them, one process, no weights loaded, no resume."""
    opt = copy.deepcopy(read_options(args.opt))
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False, num_gpu=int(args.device == 'cuda'))
    opt['path'] = dict(opt.get('path') or {}, pretrain_network_g=None, resume_state=None)
    train = opt.setdefault('train', {})
    if args.precision is not None:
        train['precision'] = args.precision
    if args.grad_checkpoint:
        train['grad_checkpoint'] = True
    distiller = opt['network_g'].get('distiller')
    if args.random_distiller and distiller:
        for key in ('model_id', 'pretrained_path', 'cache_dir'):
            distiller.pop(key, None)
        distiller.setdefault('config', {})
    return opt


def batch_shape(opt: dict, args: argparse.Namespace) -> Dict[str, int]:
    """Items, frames per item (clips x clip length), GT side and LR side of one training batch."""
    train_set = (opt.get('datasets') or {}).get('train') or {}
    items = args.batch or int(train_set.get('batch_size_per_gpu', 1))
    frames = (args.num_clips or int(train_set.get('num_clips', 1))) * int(train_set.get('num_frame', 5))
    gt_size = args.gt_size or int(train_set.get('gt_size', 64))
    scale = int(opt.get('scale', 4))
    if gt_size % scale:
        raise SystemExit(f'error: the GT size {gt_size} is not a multiple of scale {scale} (--gt-size)')
    return {'items': items, 'frames': frames, 'gt': gt_size, 'lr': gt_size // scale}


def random_batch(shape: Dict[str, int], device: torch.device, seed: int,
                 cached_condition: bool = False) -> Dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lq = torch.rand(shape['items'], shape['frames'], 3, shape['lr'], shape['lr'], generator=generator)
    gt = torch.rand(shape['items'], shape['frames'], 3, shape['gt'], shape['gt'], generator=generator)
    batch = {'lq': lq.to(device), 'gt': gt.to(device)}
    if cached_condition:
        batch['cond'] = torch.rand(gt.shape, generator=generator).to(device)
    return batch


def time_steps(model, num: int, first_iter: int) -> List[float]:
    """Seconds of each of ``num`` training steps."""
    times = []
    for i in range(num):
        sync(model.device)
        began = time.perf_counter()
        model.optimize_parameters(first_iter + i)
        sync(model.device)
        times.append(time.perf_counter() - began)
        if model.num_skipped:
            raise SystemExit(f'error: a non-finite step under {model.precision} (see the log with --verbose)')
    return times


def run(args: argparse.Namespace) -> Dict[str, object]:
    get_root_logger(log_level=logging.INFO if args.verbose else logging.WARNING)
    torch.manual_seed(args.seed)
    opt = training_options(args)
    shape = batch_shape(opt, args)
    model = build_model(opt)
    model.feed_data(random_batch(shape, model.device, args.seed, args.cached_condition))
    build_mib = peak_memory_mib(model.device)
    time_steps(model, args.warmup, 1)
    times = time_steps(model, args.iters, args.warmup + 1)
    median = statistics.median(times)
    params = sum(p.numel() for p in model.get_bare_model(model.net_g).parameters())
    clips = shape['items'] * shape['frames'] // model.train_clip_length()
    return {'network': opt['network_g']['type'], 'params': f'{params / 1e6:.2f}M', 'device': args.device,
            'precision': model.precision.precision, 'grad_checkpoint': bool(opt['train'].get('grad_checkpoint')),
            'condition': 'cached' if args.cached_condition else str(model.condition),
            'batch': f"{clips} clips x {model.train_clip_length()} frames, GT {shape['gt']}^2 "
                     f"(LR {shape['lr']}^2)",
            'warmup': args.warmup, 'iters': args.iters, 'it/s': round(1 / median, 3),
            's/it median': round(median, 4), 's/it min': round(min(times), 4),
            'peak MiB': round(peak_memory_mib(model.device)), 'after build MiB': round(build_mib),
            'peak memory': 'cuda max allocated' if args.device == 'cuda' else 'process peak RSS',
            'threads': torch.get_num_threads()}


def write_json(row: Dict[str, object], path: str) -> None:
    """Atomic: a temporary file in the same folder, then ``os.replace``."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(row, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main() -> None:
    args = parse_args()
    row = run(args)
    width = max(len(k) for k in row)
    print('-' * (width + 40))
    for key, value in row.items():
        print(f'{key:<{width}}  {value}')
    print('-' * (width + 40))
    if args.json:
        write_json(row, args.json)


if __name__ == '__main__':
    main()
