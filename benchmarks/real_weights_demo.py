"""SeeClear vs SeeClear* on the held-out demo sequences, several seeds, with real-weight perceptual metrics.

Usage:
    python -m benchmarks.real_weights_demo --runs star:1500,seeclear:1500,star:750 --seeds 0,1,2 --jobs 2
    python -m benchmarks.real_weights_demo --runs star:1500:warp1 --seeds 0,1,2 \
        --variant 'warp1={train.warp_opt: {type: CharbonnierLoss, loss_weight: 1.0, eps: 1.0e-12}}'
    python -m benchmarks.real_weights_demo --runs star:1500,seeclear:1500,star:750 --seeds 0,1,2 --report-only

A run ``MODEL:ITERS`` trains ``options/train_<yml>.yml`` (``seeclear``: bicubic condition, the quickstart recipe;
``star``: SeeClear*, DAT-light condition precomputed on whole frames) for ``ITERS`` iterations with
``manual_seed`` = the seed and no validation (``MODEL:ITERS:VARIANT`` first sets the dotted keys of
``--variant VARIANT={key.path: value, ...}`` in that yml and, but for the train/datasets/logger keys, in the test
yml, both written to ``<out>/ymls/``), then samples the held-out demo sequences with the matching test yml
(15 steps, sampler seed 0, memory carried). Finished runs are skipped, so the command resumes; ``--jobs`` runs that
many at once, one thread each. ``seeclear-evaluate`` then measures every run, bicubic (MATLAB-style imresize) and
DAT-light alone (its frames written by ``seeclear_arch.data.condition_cache --ext png``): RGB PSNR/SSIM, LPIPS-VGG
and DISTS (real VGG16), Farneback tOF and E*warp. The table (mean +- population std over seeds) goes to
``<out>/report.md`` and ``<out>/report.json``.
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from os import path as osp
from typing import Dict, List, Tuple

import numpy as np
import yaml

YMLS = {'seeclear': ('options/train_seeclear_demo.yml', 'options/test_seeclear_demo.yml'),
        'star': ('options/train_seeclear_star_demo.yml', 'options/test_seeclear_star_demo.yml')}
LABELS = {'seeclear': 'SeeClear (bicubic condition)', 'star': 'SeeClear* (DAT-light condition)'}
METRICS = ('psnr', 'ssim', 'lpips', 'dists', 'tof_farneback', 'ewarp_farneback')
HEADERS = ('PSNR', 'SSIM', 'LPIPS', 'DISTS', 'tOF x10', 'E*warp x1e3')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', default='star:1500,seeclear:1500', help='MODEL:ITERS, comma-separated')
    parser.add_argument('--seeds', default='0,1,2')
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--tag', default='rw')
    parser.add_argument('--out', default='results/real_weights_demo')
    parser.add_argument('--report-only', action='store_true')
    parser.add_argument('--variant', action='append', default=[],
                        help="NAME={dotted.key: value, ...} (YAML): options a run MODEL:ITERS:NAME sets")
    return parser.parse_args()


def run_name(tag: str, model: str, iters: int, seed: int, variant: str = '') -> str:
    return f'{tag}_{model}{iters}' + (f'_{variant}' if variant else '') + f'_s{seed}'


def parse_variants(specs: List[str]) -> Dict[str, dict]:
    """``NAME={dotted.key: value}`` -> {NAME: {dotted.key: value}}."""
    out = {}
    for spec in specs:
        name, _, mapping = spec.partition('=')
        values = yaml.safe_load(mapping)
        if not name or not isinstance(values, dict):
            raise SystemExit(f'--variant {spec!r}: expected NAME={{dotted.key: value, ...}}')
        out[name] = values
    return out


TRAIN_ONLY = ('train', 'datasets', 'logger')  # a variant's keys under these do not go to the test yml


def variant_yml(args, model: str, variant: str, which: int) -> str:
    """The train (``which`` 0) or test (1) yml of ``model`` with the variant's dotted keys set (the test yml gets
    all but the training sections), written to ``<out>/ymls`` (by ``main``, before any run starts)."""
    base = YMLS[model][which]
    values = {k: v for k, v in (args.variants[variant] if variant else {}).items()
              if which == 0 or k.split('.')[0] not in TRAIN_ONLY}
    if not values:
        return base
    with open(base) as f:
        opt = yaml.safe_load(f)
    for dotted, value in values.items():
        *parents, leaf = dotted.split('.')
        node = opt
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = osp.join(args.out, 'ymls', f"{model}_{variant}_{('train', 'test')[which]}.yml")
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return path


def frames_dir(name: str) -> str:
    return osp.join('results', f'{name}_test', 'visualization', 'demo_test')


def call(cmd: List[str], log: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with open(log, 'a') as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT, env=env)


def one_run(args, model: str, iters: int, variant: str, seed: int) -> None:
    name = run_name(args.tag, model, iters, seed, variant)
    if osp.isdir(frames_dir(name)):
        return
    train_yml, test_yml = args.ymls[model, variant]
    os.makedirs(args.out, exist_ok=True)
    log = osp.join(args.out, f'{name}.log')
    weights = osp.join('experiments', name, 'models', 'net_g_latest.pth')
    if not osp.isfile(weights):
        call([sys.executable, '-m', 'seeclear_arch.train', '-opt', train_yml, '--force_yml', f'name={name}',
              f'manual_seed={seed}', f'train:total_iter={iters}', 'val:val_freq=1000000000',
              f'logger:save_checkpoint_freq={iters}'], log)
    call([sys.executable, '-m', 'seeclear_arch.test', '-opt', test_yml, '--force_yml', f'name={name}_test',
          f'path:pretrain_network_g={weights}'], log)
    print(f'done: {name}', flush=True)


def dat_frames(args) -> str:
    out = osp.join('results', f'{args.tag}_datlight', 'demo_test')
    if not osp.isdir(out):
        subprocess.run([sys.executable, '-m', 'seeclear_arch.data.condition_cache', '-opt',
                        YMLS['star'][1], '--lq', 'datasets/demo/test/BIx4', '--out', out, '--ext', 'png'], check=True)
    return out


def evaluate(args, runs: List[Tuple[str, int, str]], seeds: List[int]) -> dict:
    sources = [f'DAT-light={dat_frames(args)}']
    sources += [f'{run_name(args.tag, m, i, s, v)}={frames_dir(run_name(args.tag, m, i, s, v))}'
                for m, i, v in runs for s in seeds]
    out = osp.join(args.out, 'eval.json')
    cmd = [sys.executable, '-m', 'seeclear_arch.evaluation.cli', '--gt', 'datasets/demo/test/GT', '--bicubic-from',
           'datasets/demo/test/BIx4', '--metrics', 'psnr,ssim,lpips,dists,tof,ewarp', '--flow', 'farneback',
           '--out', out, '--quiet', '--no-plots']
    for src in sources:
        cmd += ['--sr', src]
    subprocess.run(cmd, check=True)
    with open(out) as f:
        return json.load(f)['methods']


def summarise(methods: dict, args, runs: List[Tuple[str, int, str]], seeds: List[int]) -> Dict[str, dict]:
    rows = {'bicubic (MATLAB imresize)': [methods['bicubic']['mean']],
            'DAT-light alone': [methods['DAT-light']['mean']]}
    for model, iters, variant in runs:
        label = f'{LABELS[model]}, {iters} it.' + (f', {variant}' if variant else '')
        rows[label] = [methods[run_name(args.tag, model, iters, s, variant)]['mean'] for s in seeds]
    return {label: {k: (float(np.mean([v[k] for v in vals])), float(np.std([v[k] for v in vals])), len(vals))
                    for k in METRICS} for label, vals in rows.items()}


def markdown(table: Dict[str, dict]) -> str:
    lines = ['| method | seeds | ' + ' | '.join(HEADERS) + ' |', '|---|---|' + '---|' * len(HEADERS)]
    for label, stats in table.items():
        n = next(iter(stats.values()))[2]
        cells = []
        for k in METRICS:
            mean, std, _ = stats[k]
            digits = 2 if k == 'psnr' else 3 if k in ('tof_farneback', 'ewarp_farneback') else 4
            cells.append(f'{mean:.{digits}f}' + (f' ± {std:.{digits}f}' if n > 1 else ''))
        lines.append(f'| {label} | {n if n > 1 else "-"} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main() -> None:
    args = parse_args()
    args.variants = parse_variants(args.variant)
    runs = [(p[0], int(p[1]), p[2] if len(p) > 2 else '') for p in (r.split(':') for r in args.runs.split(','))]
    unknown = sorted({v for _, _, v in runs if v and v not in args.variants})
    if unknown:
        raise SystemExit(f'--runs names variants without a --variant: {unknown}')
    seeds = [int(s) for s in args.seeds.split(',')]
    if not args.report_only:
        args.ymls = {(m, v): (variant_yml(args, m, v, 0), variant_yml(args, m, v, 1)) for m, _, v in runs}
        jobs = [(m, i, v, s) for s in seeds for m, i, v in runs]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda job: one_run(args, *job), jobs))
    table = summarise(evaluate(args, runs, seeds), args, runs, seeds)
    text = markdown(table)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'report.md'), 'w') as f:
        f.write(text)
    with open(osp.join(args.out, 'report.json'), 'w') as f:
        json.dump(table, f, indent=1)
    print(text)


if __name__ == '__main__':
    main()
