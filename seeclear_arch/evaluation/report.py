"""Outputs of ``seeclear-evaluate``: the report dict, JSON / CSV / markdown (written atomically) and PNG plots.

Report layout (JSON)::

    {"settings": {...}, "metrics": {name: {label, scale, higher_better, per, convention}},
     "methods": {method: {"mean": {metric: v},
                          "sequences": {seq: {"mean": {metric: v}, "values": {metric: [per frame | per pair]}}}}},
     "frames": {seq: [GT file names]}, "timing": {"seconds": s, "frames": n, "frames_per_second": f}}

Temporal metrics have one value per frame pair (pair k = frames k and k+1). A method's mean is the mean over
sequences of the per-sequence means (BasicSR's video validation).
"""
import argparse
import csv
import io
import json
import os
import sys
from os import path as osp
from typing import Dict, List

import numpy as np
from tqdm import tqdm

from seeclear_arch.data.atomic_files import write_bytes, write_text
from seeclear_arch.evaluation.metrics import SPECS

Values = Dict[str, Dict[str, Dict[str, List[float]]]]
DIGITS = {'psnr': 2, 'ssim': 4, 'lpips': 4, 'dists': 4, 'niqe': 3}


def progress(total: int, quiet: bool = False) -> tqdm:
    """Progress bar over (sequence, method) pairs, on stderr."""
    return tqdm(total=total, desc='evaluate', unit='seq', file=sys.stderr, disable=quiet, dynamic_ncols=True)


def build_report(values: Values, frame_names: Dict[str, List[str]], args: argparse.Namespace,
                 seconds: float) -> dict:
    """The JSON-ready report: settings, metric conventions, per-frame / per-sequence / mean values, timing."""
    metrics = list(next(iter(next(iter(values.values())).values())))
    methods = {}
    for method, seqs in values.items():
        seq_means = {seq: {m: float(np.mean(v)) for m, v in per.items()} for seq, per in seqs.items()}
        methods[method] = {
            'mean': {m: float(np.mean([seq_means[s][m] for s in seqs])) for m in metrics},
            'sequences': {seq: {'mean': seq_means[seq], 'values': per} for seq, per in seqs.items()},
        }
    settings = {k: v for k, v in vars(args).items() if k not in ('quiet', 'no_plots')}
    num_frames = sum(len(f) for f in frame_names.values()) * len(values)
    return {
        'settings': settings,
        'metrics': {m: {'label': SPECS[m].label, 'scale': SPECS[m].scale, 'higher_better': SPECS[m].higher_better,
                        'per': 'frame pair' if SPECS[m].temporal else 'frame', 'convention': SPECS[m].convention}
                    for m in metrics},
        'methods': methods,
        'frames': frame_names,
        'timing': {'seconds': seconds, 'frames': num_frames, 'frames_per_second': num_frames / max(seconds, 1e-9)},
    }


def markdown_table(report: dict) -> str:
    """One row per method: the mean of each metric (label carries its scale and direction)."""
    metrics = list(report['metrics'])
    head = [f"{SPECS[m].label} {'↑' if SPECS[m].higher_better else '↓'}" for m in metrics]
    lines = ['| method | ' + ' | '.join(head) + ' |', '|---|' + '---:|' * len(metrics)]
    for method, res in report['methods'].items():
        cells = [f"{res['mean'][m]:.{DIGITS.get(m, 3)}f}" for m in metrics]
        lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def csv_text(report: dict) -> str:
    """Long format: method, sequence, index, metric, value; index 'mean' for sequence means, sequence 'mean' for
    the method mean; ``index`` is the frame (frame metrics) or the first frame of the pair (temporal metrics)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['method', 'sequence', 'index', 'metric', 'value'])
    for method, res in report['methods'].items():
        for seq, per in res['sequences'].items():
            for metric, values in per['values'].items():
                writer.writerows([method, seq, k, metric, repr(v)] for k, v in enumerate(values))
                writer.writerow([method, seq, 'mean', metric, repr(per['mean'][metric])])
        writer.writerows([method, 'mean', 'mean', m, repr(v)] for m, v in res['mean'].items())
    return buf.getvalue()


def output_paths(out: str) -> Dict[str, str]:
    """JSON at ``out``; CSV, markdown and the plot folder share its stem."""
    stem = osp.splitext(out)[0]
    return {'json': out, 'csv': stem + '.csv', 'md': stem + '.md', 'plots': stem + '_plots'}


def write_outputs(report: dict, out: str, plots: bool = True) -> str:
    """Write JSON, CSV, markdown (and plots); returns the markdown table."""
    paths = output_paths(out)
    table = markdown_table(report)
    write_text(paths['json'], json.dumps(report, indent=1))
    write_text(paths['csv'], csv_text(report))
    write_text(paths['md'], table + '\n')
    if plots:
        save_plots(report, paths['plots'])
    return table


def _save_figure(fig, path: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100, bbox_inches='tight')
    write_bytes(path, buffer.getbuffer())


def save_plots(report: dict, folder: str) -> List[str]:
    """Per sequence: PSNR per frame and each temporal metric per frame pair, one line per method; and a bar chart
    of the means (``means.png``). Returns the written files."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    os.makedirs(folder, exist_ok=True)
    metrics = list(report['metrics'])
    along = [m for m in metrics if m == 'psnr' or SPECS[m].temporal]
    written = []
    for seq in report['frames']:
        if not along:
            break
        fig, axes = plt.subplots(len(along), 1, figsize=(8, 2.6 * len(along)), squeeze=False, layout='constrained')
        for ax, metric in zip(axes[:, 0], along):
            for method, res in report['methods'].items():
                ax.plot(res['sequences'][seq]['values'][metric], marker='.', label=method)
            ax.set_ylabel(SPECS[metric].label)
            ax.set_xlabel('frame pair (k, k+1)' if SPECS[metric].temporal else 'frame')
            ax.grid(alpha=0.3)
        axes[0, 0].set_title(seq)
        axes[0, 0].legend(fontsize=8)
        written.append(osp.join(folder, f'{seq}.png'))
        _save_figure(fig, written[-1])
        plt.close(fig)
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.4 * len(metrics), 3), squeeze=False, layout='constrained')
    names = list(report['methods'])
    for ax, metric in zip(axes[0], metrics):
        values = [report['methods'][n]['mean'][metric] for n in names]
        bars = ax.bar(range(len(names)), values, color=[f'C{i}' for i in range(len(names))])
        ax.bar_label(bars, fmt='%.4g', fontsize=7)
        finite = [v for v in values if np.isfinite(v)]  # a method can miss a metric (NaN)
        if finite:  # the axis spans the values, not 0 to the top: the differences show
            lo, hi = min(finite), max(finite)
            pad = (hi - lo) * 0.3 or abs(hi) * 0.05 or 1e-3
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xticks(range(len(names)), names, rotation=45, ha='right', fontsize=8)
        ax.set_title(f"{SPECS[metric].label} {'↑' if SPECS[metric].higher_better else '↓'}", fontsize=9)
    written.append(osp.join(folder, 'means.png'))
    _save_figure(fig, written[-1])
    plt.close(fig)
    return written


def write_sequence_metrics(stem: str, rows: Dict[str, Dict[str, float]], names: List[str]) -> None:
    """Per-sequence metrics ``{sequence: {metric: value}}`` and their mean over sequences as ``<stem>.json``
    (``{"sequences": ..., "mean": ...}``) and ``<stem>.csv`` (one row per sequence, then ``mean``), atomically."""
    mean = {name: float(np.mean([row[name] for row in rows.values()])) for name in names}
    write_text(stem + '.json', json.dumps({'sequences': rows, 'mean': mean}, indent=1) + '\n')
    lines = ['sequence,' + ','.join(names)] + [f'{seq},' + ','.join(repr(float(row[n])) for n in names)
                                              for seq, row in [*rows.items(), ('mean', mean)]]
    write_text(stem + '.csv', '\n'.join(lines) + '\n')
