"""``python -m seeclear_arch.evaluation`` (or ``seeclear-evaluate``): every standard VSR metric on saved outputs.

Compares the frames that any method saved (SeeClear, StableVSR, MGLD-VSR, BasicVSR, ...) with the GT, one
sequence folder per clip, frames matched by sorted file order::

    python -m seeclear_arch.evaluation --gt datasets/REDS4/GT --bicubic-from datasets/REDS4/BIx4 \\
        --sr SeeClear=results/seeclear/REDS4 --sr StableVSR=../StableVSR_results \\
        --metrics psnr,ssim,lpips,dists,niqe,tlp,tof,ewarp --out results/eval_reds4.json

Writes per-frame, per-sequence and mean values (JSON + CSV), a markdown table (printed and ``.md``) and PNG plots.
The mean of a method is the mean over sequences of per-sequence means, as BasicSR's video validation computes it.
Conventions and the published tables each number matches: ``seeclear_arch.evaluation.metrics.SPECS``.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from seeclear_arch.evaluation import report as eval_report
from seeclear_arch.evaluation.compare import SequenceVisuals
from seeclear_arch.evaluation.frames import (
    EvalSource,
    bicubic_frames,
    check_sources,
    list_sequences,
    read_frames,
)
from seeclear_arch.evaluation.metrics import CPU_METRICS, SPECS, NetworkMetrics, cpu_frame_metrics, resolve_metric_names
from seeclear_arch.sampling import threads

Values = Dict[str, Dict[str, Dict[str, List[float]]]]  # method -> sequence -> metric -> per frame / pair


def _point(text: str) -> Tuple[int, int]:
    try:
        x, y = (int(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected X,Y in pixels, got {text!r}') from None
    return x, y


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='seeclear-evaluate', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt', required=True, help='GT root: one folder of frames per sequence')
    parser.add_argument('--sr', action='append', default=[], metavar='NAME=DIR',
                        help='a method\'s outputs: DIR holds one folder per GT sequence (repeatable)')
    parser.add_argument('--bicubic-from', metavar='LQ_ROOT',
                        help='add a "bicubic" row: BasicSR\'s MATLAB-style imresize x scale of these LR frames')
    parser.add_argument('--metrics', default='psnr,ssim,lpips,dists,niqe,tlp,tof,ewarp',
                        help=f'comma-separated, from: {", ".join(SPECS)}')
    parser.add_argument('--y-channel', action='store_true', help='PSNR/SSIM on the Y channel (Vid4 convention)')
    parser.add_argument('--crop-border', type=int, default=0, help='pixels cropped at each edge for every metric')
    parser.add_argument('--scale', type=int, default=4, help='SR factor (bicubic row and LR-size checks)')
    parser.add_argument('--flow', choices=('raft', 'farneback'), default='raft',
                        help='flow for tOF/E*warp; farneback (offline) is reported as tof_farneback/ewarp_farneback')
    parser.add_argument('--raft-model', choices=('large', 'small'), default='large')
    parser.add_argument('--raft-weights', help='RAFT checkpoint (default $SEECLEAR_RAFT_PATH or the torch cache)')
    parser.add_argument('--vgg-weights', help='VGG16 trunk for LPIPS/DISTS/tLP (default $SEECLEAR_VGG16_PATH '
                                              'or the torch cache)')
    parser.add_argument('--num-flow-updates', type=int, default=12, help='RAFT iterations (torchvision: 12)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=8, help='frames per network batch')
    parser.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1),
                        help='processes for PSNR/SSIM/NIQE/Farneback (1: no pool)')
    parser.add_argument('--out', required=True, help='results JSON path (CSV, .md and _plots/ next to it)')
    parser.add_argument('--crops', type=int, default=0, metavar='SIZE',
                        help='also write SIZE x SIZE crops (HR pixels) of one frame per sequence side by side, one '
                             'labelled column per method and GT, to <out stem>_visuals/crops/')
    parser.add_argument('--crop-center', type=_point, metavar='X,Y', help='crop centre (default: the frame centre)')
    parser.add_argument('--crop-frame', type=int, help='frame index of the crops (default: the middle frame)')
    parser.add_argument('--xt-profiles', action='store_true',
                        help='also write x-t profiles (one pixel row of every frame stacked over time; flicker shows '
                             'as horizontal stripes) to <out stem>_visuals/profiles/')
    parser.add_argument('--xt-row', type=int, help='pixel row of the x-t profiles (default: the middle row)')
    parser.add_argument('--no-plots', action='store_true')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.add_argument('--random-weights', action='store_true', help=argparse.SUPPRESS)  # tests only
    args = parser.parse_args(argv)
    if not args.sr and not args.bicubic_from:
        parser.error('nothing to evaluate: give at least one --sr NAME=DIR or --bicubic-from LQ_ROOT')
    if args.workers < 1 or args.batch_size < 1 or args.crop_border < 0 or args.scale < 1 or args.crops < 0:
        parser.error('--workers, --batch-size and --scale must be >= 1, --crop-border and --crops >= 0')
    return args


def parse_sources(sr: Sequence[str], bicubic_from: Optional[str]) -> List[EvalSource]:
    """``NAME=DIR`` options (and the optional bicubic row) -> sources, names unique."""
    sources = [EvalSource('bicubic', bicubic_from, is_lq=True)] if bicubic_from else []
    for item in sr:
        name, sep, folder = item.partition('=')
        if not sep or not name or not folder:
            raise ValueError(f'--sr {item!r}: expected NAME=DIR, e.g. --sr SeeClear=results/seeclear/REDS4')
        if name in [s.name for s in sources]:
            raise ValueError(f'--sr {item!r}: method name {name!r} is used twice')
        sources.append(EvalSource(name, folder))
    return sources


def make_pool(workers: int) -> Optional[Executor]:
    """Worker processes for the CPU metrics, forked from a clean server that preloaded this package."""
    if workers <= 1:
        return None
    ctx = mp.get_context('forkserver')
    ctx.set_forkserver_preload(['seeclear_arch.evaluation.metrics'])
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker)


def _init_worker() -> None:
    import cv2
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def submit_cpu(pool: Optional[Executor], names: Sequence[str], sr: List[np.ndarray], gt: List[np.ndarray],
               crop_border: int, y_channel: bool, workers: int) -> List[Tuple[int, object]]:
    """CPU metrics of one sequence in chunks (frames overlap by one so every pair is in exactly one chunk)."""
    if not names:
        return []
    if pool is None:
        return [(0, cpu_frame_metrics(names, sr, gt, crop_border, y_channel))]
    size = max(2, -(-len(sr) // workers))
    bounds = list(range(0, len(sr), size))
    if len(bounds) > 1 and len(sr) - bounds[-1] == 1:
        bounds.pop()  # no one-frame chunk: the last chunk takes that frame
    jobs = []
    for k, start in enumerate(bounds):
        stop = bounds[k + 1] + 1 if k + 1 < len(bounds) else len(sr)  # +1: the pair across the chunk boundary
        jobs.append((start, pool.submit(cpu_frame_metrics, names, sr[start:stop], gt[start:stop], crop_border,
                                        y_channel)))
    return jobs


def gather_cpu(jobs: List[Tuple[int, object]]) -> Dict[str, List[float]]:
    """Stitch chunk results: frame metrics drop the overlapping frame, pair metrics keep every pair once."""
    out: Dict[str, List[float]] = {}
    for k, (_, job) in enumerate(jobs):
        result = job.result() if isinstance(job, Future) else job
        last = k == len(jobs) - 1
        for name, values in result.items():
            keep = len(values) if last or SPECS[name].temporal else len(values) - 1
            out.setdefault(name, []).extend(values[:keep])
    return out


def evaluate(args: argparse.Namespace) -> Tuple[Values, Dict[str, List[str]], float]:
    """All metrics for every (method, sequence); returns values, GT frame names per sequence and seconds."""
    names = resolve_metric_names(args.metrics.split(','), args.flow)
    sources = parse_sources(args.sr, args.bicubic_from)
    gt_seqs = list_sequences(args.gt, 'GT')
    plan = check_sources(gt_seqs, sources, args.scale, min_frames=2 if any(SPECS[n].temporal for n in names) else 1)
    net_names = [n for n in names if n not in CPU_METRICS]
    network = NetworkMetrics(net_names, torch.device(args.device), args.crop_border, args.batch_size,
                             args.vgg_weights, args.raft_model, args.raft_weights, args.num_flow_updates,
                             args.random_weights) if net_names else None
    cpu_names = [n for n in names if n in CPU_METRICS]
    values: Values = {s.name: {} for s in sources}
    start = time.time()
    pool = make_pool(args.workers)
    visuals = None
    if args.crops or args.xt_profiles:
        visuals = SequenceVisuals(osp.splitext(args.out)[0] + '_visuals', args.crops, args.xt_profiles,
                                  args.crop_center, args.crop_frame, args.xt_row)
    try:
        progress = eval_report.progress(len(gt_seqs) * len(sources), args.quiet)
        for seq, gt_paths in gt_seqs.items():
            gt = read_frames(gt_paths)
            if network is not None:
                network.new_sequence(gt)
            for source in sources:
                paths = plan[source.name][seq]
                sr = (bicubic_frames(paths, args.scale, gt, gt_paths) if source.is_lq
                      else read_frames(paths, gt, gt_paths, args.scale))
                jobs = submit_cpu(pool, cpu_names, sr, gt, args.crop_border, args.y_channel, args.workers)
                result = network(sr) if network is not None else {}
                result.update(gather_cpu(jobs))
                values[source.name][seq] = {n: result[n] for n in names}
                if visuals is not None:
                    visuals.add(source.name, sr)
                progress.set_postfix_str(f'{seq} / {source.name}')
                progress.update()
            if visuals is not None:
                visuals.add('GT', gt)
                visuals.write(seq)
        progress.close()
    finally:
        if pool is not None:
            pool.shutdown()
    frame_names = {seq: [os.path.basename(p) for p in paths] for seq, paths in gt_seqs.items()}
    return values, frame_names, time.time() - start


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    threads.apply()  # the network metrics' threads: the idle cores, unless the environment says otherwise
    try:
        values, frame_names, seconds = evaluate(args)
    except (ValueError, FileNotFoundError) as err:
        print(f'seeclear-evaluate: error: {err}', file=sys.stderr)
        return 2
    report = eval_report.build_report(values, frame_names, args, seconds)
    table = eval_report.write_outputs(report, args.out, plots=not args.no_plots)
    num_frames = sum(len(f) for f in frame_names.values()) * len(values)
    print(table)
    print(f'\n{num_frames} frames ({len(values)} methods x {len(frame_names)} sequences) in {seconds:.1f} s; '
          f'results: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
