"""Quality per second: sampler steps (and precision) against quality and time, the measurement behind the presets.

Usage:
    python -m benchmarks.quality_curve \
        --model 'SeeClear*=options/test_seeclear_star_demo.yml=experiments/rw_star1500_s0/models/net_g_latest.pth' \
      --model 'SeeClear=options/test_seeclear_demo.yml=experiments/st_seeclear1500_shared_s0/models/net_g_latest.pth' \
        --steps 1,2,4,8,15 --bf16-steps 1 --lr-size 32x64 --out results/quality_curve --plot docs/img/quality_curve.png

For each ``NAME=TEST_YML=WEIGHTS`` it samples the held-out demo sequences at each step count (a subset of the trained
schedule) in float32 and at ``--bf16-steps`` in bfloat16 (``benchmarks.sampling_variants``: PSNR/SSIM, LPIPS,
DISTS, Farneback tOF and E*warp), and times one clip of ``--lr-size`` LR frames at each setting
(``benchmarks.benchmark_sampling``, random weights, one thread: seconds per frame). The table is printed and
written under ``--out`` (markdown and json), the plot (LPIPS and PSNR against seconds per frame) to ``--plot``.
Finished samplings are reused, so the command resumes.
"""
import argparse
import json
import os
import subprocess
import sys
from os import path as osp
from typing import Dict, List, Tuple

LABELS = (('psnr', 'PSNR', 2), ('ssim', 'SSIM', 4), ('lpips', 'LPIPS', 4), ('dists', 'DISTS', 4),
          ('tof_farneback', 'tOF x10', 3), ('ewarp_farneback', 'E*warp x1e3', 3))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', action='append', required=True, metavar='NAME=TEST_YML=WEIGHTS[=STEPS]',
                        help='STEPS (comma-separated) replaces --steps for this model, e.g. 1,2,4 for T = 4')
    parser.add_argument('--steps', default='1,2,4,8,15')
    parser.add_argument('--bf16-steps', default='1')
    parser.add_argument('--lr-size', default='32x64')
    parser.add_argument('--clip', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', required=True)
    parser.add_argument('--plot', default=None)
    return parser.parse_args()


def settings(args, steps: str = '') -> List[Tuple[str, int, str]]:
    """(label, steps, dtype) of every point of a curve."""
    points = [(f's{n}', int(n), 'float32') for n in (steps or args.steps).split(',')]
    return points + [(f's{n}bf16', int(n), 'bfloat16') for n in args.bf16_steps.split(',') if n]


def quality(args, name: str, yml: str, weights: str, points: List[Tuple[str, int, str]]) -> Dict[str, dict]:
    out = osp.join(args.out, name.replace('*', 'star'))
    tag = f'qc{name.replace("*", "star")}'
    if osp.isfile(osp.join(out, 'eval.json')):  # measured before: reuse when it has every point
        with open(osp.join(out, 'eval.json')) as f:
            methods = json.load(f)['methods']
        if all(f'{tag}_{label}_m0' in methods for label, _, _ in points):
            return {**{label: methods[f'{tag}_{label}_m0']['mean'] for label, _, _ in points},
                    'bicubic': methods['bicubic']['mean']}
    variants = []
    for label, steps, dtype in points:
        variants += ['--variant', f'{label}=val:num_steps={steps} val:dtype={dtype}']
    subprocess.run([sys.executable, '-m', 'benchmarks.sampling_variants', '-opt', yml, '--weights', weights,
                    *variants, '--tag', f'qc{name.replace("*", "star")}', '--metrics',
                    'psnr,ssim,lpips,dists,tof,ewarp', '--out', out], check=True, stdout=subprocess.DEVNULL)
    with open(osp.join(out, 'eval.json')) as f:
        methods = json.load(f)['methods']
    rows = {label: methods[f'qc{name.replace("*", "star")}_{label}_m0']['mean'] for label, _, _ in points}
    rows['bicubic'] = methods['bicubic']['mean']
    return rows


def seconds_per_frame(args, yml: str, steps: int, dtype: str) -> float:
    path = osp.join(args.out, f'time_{osp.basename(yml)}_{steps}_{dtype}.json')
    if not osp.isfile(path):
        env = dict(os.environ, OMP_NUM_THREADS='1', SEECLEAR_THREADS='1')
        subprocess.run([sys.executable, '-m', 'benchmarks.benchmark_sampling', '-opt', yml, '--lr-size', args.lr_size,
                        '--clip', str(args.clip), '--steps', str(steps), '--repeats', str(args.repeats), '--dtype',
                        dtype, '--no-flops', '--json', path], check=True, env=env, stdout=subprocess.DEVNULL)
    with open(path) as f:
        return float(json.load(f)['s/frame'])


def plot(curves: Dict[str, Dict[str, dict]], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, rows in curves.items():
        points = sorted((r['s/frame'], r['psnr'], r['lpips'], label) for label, r in rows.items() if 's/frame' in r)
        for ax, k in zip(axes, (1, 2)):
            ax.plot([p[0] for p in points], [p[k] for p in points], marker='o', label=name)
            for p in points:
                ax.annotate(p[3], (p[0], p[k]), fontsize=7)
    for ax, label in zip(axes, ('PSNR (dB) ↑', 'LPIPS ↓')):
        ax.set_xscale('log')
        ax.set_xlabel('seconds per frame (log)')
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    curves: Dict[str, Dict[str, dict]] = {}
    for spec in args.model:
        name, yml, weights, steps = (spec.split('=', 3) + [''])[:4]
        points = settings(args, steps)
        rows = quality(args, name, yml, weights, points)
        for label, steps, dtype in points:
            rows[label]['s/frame'] = seconds_per_frame(args, yml, steps, dtype)
        curves[name] = rows
    lines = ['| model | steps, precision | s/frame | ' + ' | '.join(h for _, h, _ in LABELS) + ' |',
             '|---|---|---|' + '---|' * len(LABELS)]
    for name, rows in curves.items():
        for label, r in rows.items():
            cells = [f'{r[k]:.{d}f}' for k, _, d in LABELS]
            speed = f"{r['s/frame']:.3f}" if 's/frame' in r else '-'
            lines.append(f'| {name} | {label} | {speed} | ' + ' | '.join(cells) + ' |')
    text = '\n'.join(lines) + '\n'
    with open(osp.join(args.out, 'curve.md'), 'w') as f:
        f.write(text)
    with open(osp.join(args.out, 'curve.json'), 'w') as f:
        json.dump(curves, f, indent=1)
    if args.plot:
        plot(curves, args.plot)
    print(text)


if __name__ == '__main__':
    main()
