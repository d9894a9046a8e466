"""Sharded against one-process inference on one sequence: the seams, the scaling and the resume state's cost.

Usage:
    python -m benchmarks.shard_inference -opt options/test_seeclear_star_demo.yml \
        --weights experiments/rw_star1500_s0/models/net_g_latest.pth \
        --input datasets/demo/test/BIx4/bikes_0187 --gt datasets/demo/test/GT/bikes_0187 \
        --warmup 0,1,2 --procs 2 --out results/shard_inference

Runs ``seeclear-infer`` once in one process and, for each ``--warmup`` W, under ``torchrun --nproc_per_node=PROCS``
(one thread per process, ``--chunk`` = the clip length so both runs cut the same chunks), timing each command. For
each W it compares the sharded frames with the one-process frames: PSNR per frame (inf where identical), on the
first clip after each seam and elsewhere, and Farneback tOF (x10, against the GT) of the frame pair across each seam
and of the pairs inside. Then it measures the resume state (``inference.resume``): bytes of the state saved after a
chunk and seconds per save (median over the sequence's chunks). Results go to ``<out>/report.json`` and a table.
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from os import path as osp
from typing import Dict, List

import numpy as np
import torch

from seeclear_arch.data.atomic_files import write_bytes
from seeclear_arch.evaluation.frames import read_frame
from seeclear_arch.inference.shard import split_clips_evenly
from seeclear_arch.inference.video import (
    build_inference_model,
    load_inference_options,
    load_sequence,
    read_options,
    super_resolve_chunks,
)
from seeclear_arch.metrics.flow_metric import make_flow_fn, tof_per_pair


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', required=True)
    parser.add_argument('--weights', required=True)
    parser.add_argument('--input', required=True, help='folder of LR frames')
    parser.add_argument('--gt', required=True, help='folder of GT frames (tOF)')
    parser.add_argument('--warmup', default='0,1,2')
    parser.add_argument('--procs', type=int, default=2)
    parser.add_argument('--out', required=True)
    return parser.parse_args()


def infer(args, out: str, procs: int, extra: List[str]) -> float:
    """Seconds the command took (one thread per process)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', SEECLEAR_THREADS='1')
    launcher = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={procs}'] \
        if procs > 1 else [sys.executable]
    cmd = launcher + ['-m', 'seeclear_arch.inference', '-opt', args.opt, '--weights', args.weights, '--input',
                      args.input, '--output', out, '--chunk', str(args.clip_len), '--quiet', '--restart', *extra]
    began = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def frames(folder: str) -> torch.Tensor:
    names = sorted(n for n in os.listdir(folder) if n.endswith('.png'))
    return torch.stack([torch.from_numpy(read_frame(osp.join(folder, n))[:, :, ::-1].copy()).permute(2, 0, 1)
                        for n in names]).float() / 255


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float('inf') if mse == 0 else 10 * np.log10(1 / mse)


def state_cost(args) -> Dict[str, float]:
    """Bytes and seconds of the resume state saved after each chunk of a one-process run of the sequence."""
    model = build_inference_model(load_inference_options(read_options(args.opt), args.weights))
    seq = load_sequence(args.input)
    sizes, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk in super_resolve_chunks(model, seq, args.clip_len):
            began = time.perf_counter()
            buffer = io.BytesIO()
            torch.save(chunk.state, buffer)
            write_bytes(osp.join(tmp, 'state.pt'), buffer.getbuffer())
            seconds.append(time.perf_counter() - began)
            sizes.append(buffer.getbuffer().nbytes)
    tiles = len(chunk.state.memories)
    return {'bytes': statistics.median(sizes), 'tiles': tiles, 'bytes_per_tile': statistics.median(sizes) / tiles,
            'seconds_per_save': statistics.median(seconds)}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    opt = read_options(args.opt)
    args.clip_len = int((opt.get('val') or {}).get('num_frame') or 5)
    gt = frames(args.gt)
    flow = make_flow_fn('farneback')
    report: Dict[str, dict] = {}
    one = osp.join(args.out, 'one')
    report['one'] = {'seconds': infer(args, one, 1, [])}
    single = frames(one)
    n = single.size(0)
    report['one']['seconds_per_frame'] = report['one']['seconds'] / n
    seams = [first * args.clip_len for first, _ in split_clips_evenly(-(-n // args.clip_len), args.procs)[1:]]
    for w in [int(v) for v in args.warmup.split(',')]:
        out = osp.join(args.out, f'w{w}')
        seconds = infer(args, out, args.procs, ['--warmup-clips', str(w)])
        sharded = frames(out)
        per_frame = [psnr(sharded[k], single[k]) for k in range(n)]
        after = [k for s in seams for k in range(s, min(s + args.clip_len, n))]
        tof = (tof_per_pair(flow, sharded, gt) * 10).tolist()  # pair t: frames t + 1 -> t
        report[f'w{w}'] = {
            'seconds': seconds, 'seconds_per_frame': seconds / n,
            'psnr_first_clip_after_seams': [per_frame[k] for k in after],
            'psnr_elsewhere_min': min([per_frame[k] for k in range(n) if k not in after] or [float('inf')]),
            'tof_across_seams': [tof[s - 1] for s in seams],
            'tof_inside_mean': float(np.mean([t for k, t in enumerate(tof) if k + 1 not in seams])),
            'tof_across_seams_one_process': [float(tof_per_pair(flow, single, gt)[s - 1] * 10) for s in seams]}
    report['state'] = state_cost(args)
    with open(osp.join(args.out, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == '__main__':
    main()
