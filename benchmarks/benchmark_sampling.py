"""Time SeeClear's sampler on one clip with random weights.

Usage:
    python -m benchmarks.benchmark_sampling -opt options/train_seeclear_demo.yml [--lr-size 64x64] [--clip 5] \
        [--steps 15] [--repeats 3] [--device cpu|cuda] [--dtype float32|bfloat16|float16] [--random-distiller] \
        [--tile 0] [--tile-overlap 8] [--warmup 1] [--no-flops] [--matmul-size 2048] [--profile K] [--compile] \
        [--no-keep-freed-memory] [--parts] [--json PATH]

Builds ``SeeClearModel`` from the yml (``network_g``, ``diffusion``, ``diffusion_range``, optional
``network_base``) in test mode without loading ``path.pretrain_network_g``, then times what inference runs per
clip: ``condition`` + the engine's ``sample_clip`` (``encode_condition``, ``--steps`` network calls, the last one
building the next memory) on a random LR clip, after ``--warmup`` warm-up runs (default 1).
``--random-distiller`` builds a pretrained distiller from its config with random weights (as
scripts/count_params.py). bfloat16/float16 run the network calls under ``torch.autocast`` (the sampler stays
float32, as in inference); ``--tile N`` samples N x N LR tiles (``seeclear_arch.sampling.tiling``). Peak memory is
``torch.cuda.max_memory_allocated`` on cuda and the process's peak RSS (``getrusage``) on CPU.

Throughput: ``GFLOP/frame`` is one run of the clip counted with ``torch.utils.flop_counter.FlopCounterMode``
(matmuls, convolutions and attention; elementwise work and norms count 0) divided by ``--clip``; ``GFLOP/s`` is that
count over the median clip time; ``matmul GFLOP/s`` is a ``--matmul-size`` square matmul in ``--dtype`` on the same
threads, timed between the clip runs (so both see the same machine load), and ``of matmul`` the fraction of it the
sampler reaches. ``--no-flops`` skips the counting run (those three read ``n/a``): with ``--warmup 0 --repeats 1``
the clip runs exactly once, which a peak-memory measurement of a slow configuration needs. ``page faults/clip`` and
``system s/clip`` are the process's minor page faults and system CPU time per timed clip (``getrusage``);
``--no-keep-freed-memory`` runs with ``cpu_keep_freed_memory: false`` (``seeclear_arch/sampling/cpu_memory.py``)
to show what keeping freed memory saves. ``--profile K`` prints
torch.profiler's top-K operators by self CPU time for one more clip run and the share of self CPU time spent in
matrix kernels. ``--compile`` samples with ``torch.compile`` (``val.compile``; the warm-up run compiles).
``--parts`` also times the clip's two kinds of network work apart, eagerly, each the median of ``--repeats`` runs
with its FLOPs and its fraction of the matmul rate: ``distiller`` (the Semantic Distiller on the clip's LR frames,
once per clip) and ``step`` (one network call, ``net(x_t, y, lq, t, cond)`` at ``t = T``; ``--steps`` per clip).
"""
import argparse
import copy
import json
import logging
import resource
import statistics
import time
from typing import Callable, Dict, List

import torch
from basicsr.utils import get_root_logger
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

import seeclear_arch  # noqa: F401  (registers the archs and the model)
from seeclear_arch.archs.denoiser import encode_condition
from seeclear_arch.inference.video import build_inference_model, load_inference_options, read_options
from seeclear_arch.sampling.engine import DTYPES, clip_cast_scope, network_autocast, sample_clip
from seeclear_arch.sampling.tiling import plan_tiles, tile_align


def clip_parser(description: str, lr_size: str = '64x64', clip: int = 5, steps: int = 15) -> argparse.ArgumentParser:
    """A parser with the clip every sampling benchmark samples: ``-opt``, ``--lr-size``, ``--clip``, ``--steps``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('-opt', required=True, help='yml with network_g and diffusion')
    parser.add_argument('--lr-size', default=lr_size, help='LR clip size HxW')
    parser.add_argument('--clip', type=int, default=clip, help='frames per clip (m)')
    parser.add_argument('--steps', type=int, default=steps, help='sampler steps (<= diffusion.num_timesteps)')
    return parser


def parse_args() -> argparse.Namespace:
    parser = clip_parser(__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=3, help='timed runs after the warm-up runs')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs before the timed ones (0: none)')
    parser.add_argument('--no-flops', action='store_true', help='skip the FlopCounterMode run (GFLOP fields: n/a)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--dtype', choices=tuple(DTYPES), default='float32')
    parser.add_argument('--random-distiller', action='store_true')
    parser.add_argument('--tile', type=int, default=0, help='LR tile size (0 = whole frames)')
    parser.add_argument('--tile-overlap', type=int, default=8, help='LR overlap of neighbouring tiles')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--matmul-size', type=int, default=2048, help='side of the reference square matmul')
    parser.add_argument('--profile', type=int, default=0, metavar='K', help='print the top-K operators (0: off)')
    parser.add_argument('--compile', action='store_true', help='torch.compile the network (val.compile)')
    parser.add_argument('--no-keep-freed-memory', action='store_true',
                        help='cpu_keep_freed_memory: false (glibc unmaps freed blocks, as before that option)')
    parser.add_argument('--parts', action='store_true', help='also time the distiller and one network step apart')
    parser.add_argument('--json', default=None, help='also write the row to this json file')
    parser.add_argument('--verbose', action='store_true', help="show BasicSR's log (network printout)")
    args = parser.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda but torch.cuda.is_available() is False')
    if args.repeats < 1 or args.clip < 1:
        parser.error('--repeats and --clip must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    return args


def parse_size(text: str) -> List[int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise SystemExit(f'error: --lr-size must look like 64x64, got {text!r}') from None
    return [h, w]


def benchmark_options(args: argparse.Namespace) -> dict:
    """Test-mode options with random weights on ``args.device``; the distiller made random if asked."""
    opt = copy.deepcopy(read_options(args.opt))
    opt.setdefault('path', {})['pretrain_network_g'] = None
    distiller = opt['network_g'].get('distiller')
    if args.random_distiller and distiller:
        for key in ('model_id', 'pretrained_path', 'cache_dir'):
            distiller.pop(key, None)
        distiller.setdefault('config', {})
    opt = load_inference_options(opt, require_weights=False, num_gpu=int(args.device == 'cuda'))
    opt['val'] = dict(opt.get('val') or {}, num_frame=args.clip)
    if args.compile:
        opt['val']['compile'] = True
    if getattr(args, 'no_keep_freed_memory', False):  # compare_sampling_speed.py has no such flag
        opt['cpu_keep_freed_memory'] = False
    return opt


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_clip(model, lq: torch.Tensor, args: argparse.Namespace) -> float:
    """Seconds for one clip: condition, then the sampler with the per-clip hooks (from the learned memory)."""
    net = model.inference_net()
    generator = torch.Generator(device=model.device).manual_seed(args.seed)
    tiles = plan_tiles(tuple(lq.shape[-2:]), args.tile, args.tile_overlap if args.tile else 0,
                       tile_align(model.scale, model.diffusion.patch_size))
    sync(model.device)
    began = time.perf_counter()
    with torch.no_grad():
        out = sample_clip(net, model.diffusion, lq, model.condition(lq), generator, args.steps, tiles=tiles,
                          memories=[None] * len(tiles), dtype=args.dtype)
    sync(model.device)
    if not torch.isfinite(out).all():
        raise SystemExit(f'error: non-finite output under {args.dtype}')
    return time.perf_counter() - began


def matmul_gflops(n: int, dtype: torch.dtype, device: torch.device, seconds: float = 0.3) -> float:
    """GFLOP/s of an ``n x n @ n x n`` matmul in ``dtype`` (best of the calls in ``seconds`` after a warm-up)."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    torch.mm(a, b)
    best, spent = float('inf'), 0.0
    while spent < seconds:
        sync(device)
        began = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        took = time.perf_counter() - began
        best, spent = min(best, took), spent + took
    return 2 * n ** 3 / best / 1e9


def cpu_flop_mapping() -> Dict[object, Callable[..., int]]:
    """``FlopCounterMode``'s ``custom_mapping`` that counts CPU SDPA's fused kernel like the other SDPA kernels."""
    def cpu_sdpa(q, k, v, *args, out_shape=None, **kwargs) -> int:  # shapes, as FlopCounterMode passes them
        return sdpa_flop_count(q, k, v)

    return {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa}


def count_flops(net: torch.nn.Module, run_clip: Callable[[], object]) -> int:
    """FLOPs of one clip run (:func:`flop_counter`)."""
    return flop_counter(net, run_clip).get_total_flops()


def flop_counter(net: torch.nn.Module, run: Callable[[], object]) -> FlopCounterMode:
    """The ``FlopCounterMode`` of one run; CPU SDPA's fused kernel is counted like the other SDPA kernels. The
    parameters stop requiring gradients meanwhile: FlopCounterMode's module tracker fails on views of them made
    under no_grad."""
    trainable = [p for p in net.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        with FlopCounterMode(display=False, custom_mapping=cpu_flop_mapping()) as counter:
            run()
    finally:
        for p in trainable:
            p.requires_grad_(True)
    return counter


# the kernels that do the matrix work (their wrappers, e.g. aten::linear or aten::conv2d, only dispatch)
MATRIX_OPS = ('aten::addmm', 'aten::mm', 'aten::bmm', 'aten::baddbmm', 'aten::mkldnn_convolution',
              'aten::_scaled_dot_product_flash_attention_for_cpu', 'aten::slow_conv', 'aten::_mkldnn')


def profile_clip(run_clip: Callable[[], float], top: int) -> str:
    """torch.profiler's table of the ``top`` operators by self CPU time for one clip run, and the matrix share."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_clip()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matrix = sum(e.self_cpu_time_total for e in events if e.key.startswith(MATRIX_OPS))
    table = events.table(sort_by='self_cpu_time_total', row_limit=top)
    return f'{table}\nself CPU time in matrix kernels ({", ".join(MATRIX_OPS)}*): {matrix / max(total, 1):.1%}'


def part_runners(model, lq: torch.Tensor) -> Dict[str, Callable[[], object]]:
    """The clip's two kinds of network work as calls without arguments, to run under the caller's no_grad and
    autocast: ``distiller`` (the Semantic Distiller on the clip's LR frames; only for networks with one) and ``step``
    (one network call at ``t = T``, with the clip's condition; every step costs the same)."""
    net, process = model.inference_net(), model.diffusion
    y = process.to_range(model.condition(lq))
    t = torch.full((lq.shape[0], ), float(process.timesteps()[0]), device=lq.device)
    x_t = process.scale_model_input(process.prior_sample(y, torch.Generator(device=lq.device).manual_seed(0)), t)
    parts = {}
    if getattr(net, 'distiller', None) is not None:
        parts['distiller'] = lambda: net.distiller(lq.flatten(0, 1))
    cond = encode_condition(net, lq, y)
    parts['step'] = lambda: net(x_t, y, lq, t) if cond is None else net(x_t, y, lq, t, cond)
    return parts


def time_parts(model, lq: torch.Tensor, args: argparse.Namespace, matmul_rate: float) -> Dict[str, str]:
    """``--parts``: seconds (median of ``--repeats``), GFLOP, GFLOP/s and fraction of ``matmul_rate`` of each of
    :func:`part_runners`, eager (``val.compile`` is set aside, as for the FLOP count of the clip)."""
    compiled = model.opt['val'].pop('compile', False)
    row = {}
    with torch.no_grad(), clip_cast_scope(lq.device, args.dtype), network_autocast(lq.device, args.dtype):
        for name, part in part_runners(model, lq).items():
            part()  # warm-up (and the weights' casts)
            times = []
            for _ in range(args.repeats):
                sync(model.device)
                began = time.perf_counter()
                part()
                sync(model.device)
                times.append(time.perf_counter() - began)
            seconds = statistics.median(times)
            row[f'{name} s'] = f'{seconds:.4g}'
            if not args.no_flops:
                flops = count_flops(model.inference_net(), part) / 1e9
                row.update({f'{name} GFLOP': f'{flops:.4g}', f'{name} GFLOP/s': f'{flops / seconds:.4g}',
                            f'{name} of matmul': f'{flops / seconds / matmul_rate:.3g}'})
    model.opt['val']['compile'] = compiled
    return row


def peak_memory_mib(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(args: argparse.Namespace) -> Dict[str, object]:
    h, w = parse_size(args.lr_size)
    get_root_logger(log_level=logging.INFO if args.verbose else logging.WARNING)
    torch.manual_seed(args.seed)
    model = build_inference_model(benchmark_options(args))
    lq = torch.rand(1, args.clip, 3, h, w, generator=torch.Generator().manual_seed(args.seed)).to(model.device)
    dtype = DTYPES[args.dtype]
    for _ in range(args.warmup):  # allocator, cuDNN / kernel selection, compilation
        time_clip(model, lq, args)
    if model.device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(model.device)
    times, matmul = [], [matmul_gflops(args.matmul_size, dtype, model.device)]
    faults, system = 0, 0.0
    for _ in range(args.repeats):  # matmul references interleaved with the clips: both see the same load
        before = resource.getrusage(resource.RUSAGE_SELF)
        times.append(time_clip(model, lq, args))
        after = resource.getrusage(resource.RUSAGE_SELF)
        faults, system = faults + after.ru_minflt - before.ru_minflt, system + after.ru_stime - before.ru_stime
        matmul.append(matmul_gflops(args.matmul_size, dtype, model.device))
    peak = peak_memory_mib(model.device)
    per_clip, matmul_rate = statistics.median(times), statistics.median(matmul)
    flops = None
    if not args.no_flops:
        compiled = model.opt['val'].pop('compile', False)  # counted eagerly: same FLOPs, dynamo may not be countable
        flops = count_flops(model.inference_net(), lambda: time_clip(model, lq, args))
        model.opt['val']['compile'] = compiled
    params = sum(p.numel() for p in model.inference_net().parameters())
    row = {'network': model.opt['network_g']['type'], 'params': f'{params / 1e6:.2f}M', 'device': args.device,
           'dtype': args.dtype, 'compile': args.compile, 'lr': f'{h}x{w}', 'hr': f'{h * model.scale}x{w * model.scale}',
           'clip': args.clip, 'steps': args.steps, 'tile': args.tile, 'warmup': args.warmup,
           'repeats': args.repeats,
           's/clip': f'{per_clip:.3f}', 'min s/clip': f'{min(times):.3f}', 'max s/clip': f'{max(times):.3f}',
           's/frame': f'{per_clip / args.clip:.3f}', 's/step': f'{per_clip / args.steps:.4f}',
           's/frame/step': f'{per_clip / args.clip / args.steps:.4f}',
           'GFLOP/frame': 'n/a' if flops is None else f'{flops / args.clip / 1e9:.2f}',
           'GFLOP/s': 'n/a' if flops is None else f'{flops / per_clip / 1e9:.1f}',
           'matmul GFLOP/s': f'{matmul_rate:.1f}', 'matmul size': args.matmul_size,
           'of matmul': 'n/a' if flops is None else f'{flops / per_clip / 1e9 / matmul_rate:.3f}',
           'peak MiB': f'{peak:.0f}', 'threads': torch.get_num_threads(),
           'page faults/clip': f'{faults / args.repeats:.0f}', 'system s/clip': f'{system / args.repeats:.2f}'}
    if args.parts:
        row.update(time_parts(model, lq, args, matmul_rate))
    if args.profile:
        row['profile'] = profile_clip(lambda: time_clip(model, lq, args), args.profile)
    return row


def main() -> None:
    args = parse_args()
    row = run(args)
    table = row.pop('profile', None)
    width = max(len(k) for k in row)
    print('-' * (width + 16))
    for key, value in row.items():
        print(f'{key:<{width}}  {value}')
    print('-' * (width + 16))
    if table:
        print(table)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(dict(row, profile=table), f, indent=1)


if __name__ == '__main__':
    main()
