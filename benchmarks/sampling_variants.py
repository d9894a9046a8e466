"""Sampling options compared on trained models: each variant samples the held-out sequences with every model.

Usage:
    python -m benchmarks.sampling_variants -opt options/test_seeclear_star_demo.yml \
        --weights experiments/a/models/net_g_latest.pth,experiments/b/models/net_g_latest.pth \
        --variant paper= --variant shared=diffusion:noise=shared --variant mean=val:noise_scale=0 \
        --condition DAT-light=results/rw_datlight/demo_test --out results/sampling_variants

A variant is ``NAME=OVERRIDES``: ``--force_yml`` entries (space separated) of ``seeclear_arch.test``, nothing for the
yml as it is. Every (variant, model) pair is sampled once (runs with frames are skipped, so the command resumes), then
``seeclear-evaluate`` scores them all with the bicubic row and the optional ``--condition`` frames, and the table
gives each variant's mean +- population std over the models (the training seeds).
"""
import argparse
import json
import os
import subprocess
import sys
from os import path as osp
from typing import Dict, List

import numpy as np

LABELS = {'psnr': 'PSNR', 'ssim': 'SSIM', 'lpips': 'LPIPS', 'dists': 'DISTS', 'tof_farneback': 'tOF x10',
          'ewarp_farneback': 'E*warp x1e3'}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', required=True, help='test yml')
    parser.add_argument('--weights', required=True, help='comma-separated network_g weights (one per seed)')
    parser.add_argument('--variant', action='append', required=True, metavar='NAME=OVERRIDES')
    parser.add_argument('--condition', help='NAME=DIR of the condition frames, scored as a row')
    parser.add_argument('--metrics', default='psnr,ssim,tof,ewarp')
    parser.add_argument('--tag', default='sv')
    parser.add_argument('--out', required=True)
    return parser.parse_args()


def run_name(tag: str, variant: str, k: int) -> str:
    return f'{tag}_{variant}_m{k}'


def sample(args, variant: str, overrides: List[str], k: int, weights: str) -> str:
    name = run_name(args.tag, variant, k)
    frames = osp.join('results', name, 'visualization', 'demo_test')
    if not osp.isdir(frames):
        cmd = [sys.executable, '-m', 'seeclear_arch.test', '-opt', args.opt, '--force_yml', f'name={name}',
               f'path:pretrain_network_g={weights}', *overrides]
        with open(osp.join(args.out, f'{name}.log'), 'w') as f:
            subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT)
    return frames


def main() -> None:
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    weights = args.weights.split(',')
    variants = {v.partition('=')[0]: v.partition('=')[2].split() for v in args.variant}
    opt_sets = {}
    for variant, overrides in variants.items():
        for k, w in enumerate(weights):
            opt_sets[run_name(args.tag, variant, k)] = sample(args, variant, overrides, k, w)
    cmd = [sys.executable, '-m', 'seeclear_arch.evaluation.cli', '--gt', 'datasets/demo/test/GT', '--bicubic-from',
           'datasets/demo/test/BIx4', '--metrics', args.metrics, '--flow', 'farneback', '--quiet', '--no-plots',
           '--out', osp.join(args.out, 'eval.json')]
    if args.condition:
        cmd += ['--sr', args.condition]
    for name, frames in opt_sets.items():
        cmd += ['--sr', f'{name}={frames}']
    subprocess.run(cmd, check=True)
    with open(osp.join(args.out, 'eval.json')) as f:
        methods = json.load(f)['methods']
    keys = list(methods['bicubic']['mean'])
    rows: Dict[str, List[dict]] = {'bicubic': [methods['bicubic']['mean']]}
    if args.condition:
        rows[args.condition.partition('=')[0]] = [methods[args.condition.partition('=')[0]]['mean']]
    for variant, overrides in variants.items():
        rows[f'{variant} ({" ".join(overrides) or "yml"})'] = [
            methods[run_name(args.tag, variant, k)]['mean'] for k in range(len(weights))]
    lines = ['| variant | models | ' + ' | '.join(LABELS.get(k, k) for k in keys) + ' |',
             '|---|---|' + '---|' * len(keys)]
    for label, vals in rows.items():
        cells = []
        for key in keys:
            v = [x[key] for x in vals]
            digits = 2 if key == 'psnr' else 3 if key in ('tof_farneback', 'ewarp_farneback') else 4
            cells.append(f'{np.mean(v):.{digits}f}' + (f' ± {np.std(v):.{digits}f}' if len(v) > 1 else ''))
        lines.append(f'| {label} | {len(vals) if len(vals) > 1 else "-"} | ' + ' | '.join(cells) + ' |')
    text = '\n'.join(lines) + '\n'
    with open(osp.join(args.out, 'report.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
