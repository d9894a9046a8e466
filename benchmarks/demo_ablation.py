"""Table 2 rows at demo scale on CPU, several seeds: train, sample the held-out demo sequences, measure.

Usage:
    python -m benchmarks.demo_ablation [--rows 1,4,7] [--seeds 0,1,2] [--iters 1500] [--jobs 2] \
        [--out results/demo_ablation]
    python -m benchmarks.demo_ablation --report-only   # the table from runs already made

Each (row, seed) trains ``options/train_seeclear_demo.yml`` with the row's switches and ``manual_seed`` (no
validation during training), then samples ``options/test_seeclear_demo.yml`` with memory carried and, for rows with
CaTeGory, reset at every clip (``val.carry_memory: false``). Runs that already have their frames are skipped, so
the command resumes. ``--jobs`` runs that many in parallel, each with one thread.

Measured per run on the held-out sequences (RGB, uint8 frames as saved): PSNR/SSIM (mean over frames, then over
sequences), tOF (Farneback, pixels, mean over all frame pairs of all sequences), tOF over the pairs that straddle a
clip boundary and over those inside a clip, and PSNR per clip index (clip k = frames 5k..5k+4). Written as
``<out>/report.json`` and ``<out>/report.md``: mean +- std over seeds.
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from os import path as osp
from typing import Dict, List

from seeclear_arch.evaluation.compare import clip_report, summarise

ROWS = {  # Table 2: switches of SeeClearNet (DWT on in all three)
    1: dict(use_semantic=False, use_mfsa=False, use_incam=False, use_category=False),
    4: dict(use_semantic=True, use_mfsa=True, use_incam=True, use_category=False),
    7: dict(use_semantic=True, use_mfsa=True, use_incam=True, use_category=True),
}
ROW_NAMES = {1: 'baseline (DWT only)', 4: '+ semantics, MFSA, InCAM', 7: 'full (+ CaTeGory)'}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', default='1,4,7')
    parser.add_argument('--seeds', default='0,1,2')
    parser.add_argument('--iters', type=int, default=1500)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--out', default='results/demo_ablation')
    parser.add_argument('--extra', default='', help='extra --force_yml entries for training, space separated')
    parser.add_argument('--tag', default='abl', help='experiment name prefix')
    parser.add_argument('--report-only', action='store_true')
    return parser.parse_args()


def switches(row: int) -> List[str]:
    return [f'network_g:{k}={str(v).lower()}' for k, v in ROWS[row].items()]


def run_dir(args, row: int, seed: int, carry: bool) -> str:
    return osp.join('results', f'{args.tag}_r{row}_s{seed}_{"carry" if carry else "reset"}', 'visualization',
                    'demo_test')


def one_run(args, row: int, seed: int) -> None:
    name = f'{args.tag}_r{row}_s{seed}'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    py = sys.executable
    weights = osp.join('experiments', name, 'models', 'net_g_latest.pth')
    if not osp.isfile(weights):
        cmd = [py, '-m', 'seeclear_arch.train', '-opt', 'options/train_seeclear_demo.yml', '--force_yml',
               f'name={name}', f'manual_seed={seed}', f'train:total_iter={args.iters}',
               f'train:scheduler:periods=[{args.iters}]', 'val:val_freq=1000000000',
               f'logger:save_checkpoint_freq={args.iters}', *switches(row), *args.extra.split()]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    for carry in ([True, False] if ROWS[row]['use_category'] else [True]):
        if osp.isdir(run_dir(args, row, seed, carry)):
            continue
        cmd = [py, '-m', 'seeclear_arch.test', '-opt', 'options/test_seeclear_demo.yml', '--force_yml',
               f'name={name}_{"carry" if carry else "reset"}', f'path:pretrain_network_g={weights}',
               f'val:carry_memory={str(carry).lower()}', *switches(row)]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    print(f'done: row {row} seed {seed}', flush=True)


def main() -> None:
    args = parse_args()
    rows = [int(r) for r in args.rows.split(',')]
    seeds = [int(s) for s in args.seeds.split(',')]
    if not args.report_only:
        with ThreadPoolExecutor(args.jobs) as pool:
            for f in [pool.submit(one_run, args, r, s) for r in rows for s in seeds]:
                f.result()
    reports: Dict[str, List[dict]] = {}
    for row in rows:
        for carry in ([True, False] if ROWS[row]['use_category'] else [True]):
            label = f'{row}: {ROW_NAMES[row]}' + ('' if carry else ', memory reset every clip')
            reports[label] = [clip_report('datasets/demo/test/GT', run_dir(args, row, s, carry)) for s in seeds
                              if osp.isdir(run_dir(args, row, s, carry))]
    summary = summarise(reports)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'report.json'), 'w') as f:
        json.dump({'seeds': seeds, 'iters': args.iters, 'runs': reports, 'summary': summary}, f, indent=1)
    with open(osp.join(args.out, 'report.md'), 'w') as f:
        f.write(summary['markdown'])
    print(summary['markdown'])


if __name__ == '__main__':
    main()
