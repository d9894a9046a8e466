"""Compare saved SR frames with GT and with bicubic upsampling, per sequence (``scripts/compare_results.py``).

One pass over each sequence's frames gives:

* PSNR / SSIM per sequence and label (``bicubic`` plus one label per run) and their mean over sequences:
  :func:`format_table` (markdown, what the quickstart prints), :func:`write_metrics` (``metrics.csv``,
  ``metrics.json``);
* side-by-side crops of one frame, ``bicubic | run ... | GT`` (``crops/<sequence>.png``);
* x-t temporal profiles (``profiles/<sequence>_xt.png``): one pixel row of every frame stacked over time, one
  panel per label, side by side. A temporally stable result shows smooth vertical streaks; flicker shows as
  horizontal stripes, jitter as ragged streaks (the visualisation of TecoGAN, Chu et al. 2020, Fig. 7).

SR frames are found as ``<run>/<sequence>/<frame>.png`` (``seeclear-infer``) or
``<run>/<sequence>/<frame>_<suffix>.png`` (BasicSR's ``save_img`` during testing).
"""
import csv
import glob
import io
import json
import os
from dataclasses import dataclass
from os import path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from basicsr.metrics import calculate_psnr, calculate_ssim

from seeclear_arch.data.atomic_files import write_png, write_text
from seeclear_arch.evaluation.frames import bicubic_upscale, read_frame
from seeclear_arch.metrics.temporal_metric import tof_farneback_per_pair

Table = Dict[str, Dict[str, Tuple[float, float]]]  # {sequence: {label: (psnr, ssim)}}
GAP = 4  # white pixels between side-by-side panels
LABEL_H = 16  # rows of the label strip above side-by-side panels


@dataclass
class Visuals:
    """Where and what to draw (``None``: no images). ``crop``: side of the square crop (HR pixels);
    ``crop_center``: ``(x, y)`` of its centre (default: the frame centre); ``frame``: the cropped frame's index
    (default: the middle frame); ``row``: the profile row (default: the middle row)."""

    out_dir: str
    crop: int = 128
    crop_center: Optional[Tuple[int, int]] = None
    frame: Optional[int] = None
    row: Optional[int] = None


def bicubic_frame(lq_path: str, scale: int) -> np.ndarray:
    """The ``bicubic`` row of every table: MATLAB-style imresize of one LR frame (``frames.bicubic_upscale``, the
    published tables' convention and ``seeclear-evaluate``'s), as a uint8 BGR image."""
    return bicubic_upscale(read_frame(lq_path), scale)


def _sr_path(run_dir: str, folder: str, stem: str) -> str:
    exact = osp.join(run_dir, folder, f'{stem}.png')
    if osp.isfile(exact):
        return exact
    found = sorted(glob.glob(osp.join(run_dir, folder, f'{stem}_*.png')))
    if not found:
        raise FileNotFoundError(f'no SR frame {osp.join(run_dir, folder, stem)}.png or {stem}_*.png')
    return found[0]


def _scores(img: np.ndarray, gt: np.ndarray, y_channel: bool) -> Tuple[float, float]:
    return (calculate_psnr(img, gt, 0, test_y_channel=y_channel), calculate_ssim(img, gt, 0, test_y_channel=y_channel))


def _frame_pairs(gt_root: str, lq_root: str, folder: str) -> List[Tuple[str, str]]:
    gt_paths = sorted(glob.glob(osp.join(gt_root, folder, '*.png')))
    lq_paths = sorted(glob.glob(osp.join(lq_root, folder, '*.png')))
    if not gt_paths or len(gt_paths) != len(lq_paths):
        raise ValueError(f'Sequence {folder}: {len(gt_paths)} GT frames in {gt_root} but {len(lq_paths)} LR frames '
                         f'in {lq_root}; expected the same non-zero number of PNG frames.')
    return list(zip(gt_paths, lq_paths))


def compare_runs(gt_root: str, lq_root: str, runs: Dict[str, str], scale: int = 4, y_channel: bool = False,
                 visuals: Optional[Visuals] = None) -> Table:
    """{folder: {label: (psnr, ssim)}} with label 'bicubic' plus one per run (``runs``: label -> image dir);
    with ``visuals``, also the crops and x-t profiles of each sequence (module docstring)."""
    table: Table = {}
    for folder in sorted(f for f in os.listdir(gt_root) if osp.isdir(osp.join(gt_root, f))):
        pairs = _frame_pairs(gt_root, lq_root, folder)
        per_label: Dict[str, List[Tuple[float, float]]] = {label: [] for label in ['bicubic', *runs]}
        drawn = None if visuals is None else SequenceVisuals(visuals.out_dir, visuals.crop, True, visuals.crop_center,
                                                            visuals.frame, visuals.row, row_option='--row')
        for t, (gt_path, lq_path) in enumerate(pairs):
            gt, stem = read_frame(gt_path), osp.splitext(osp.basename(gt_path))[0]
            imgs = {'bicubic': bicubic_frame(lq_path, scale)}
            imgs.update({label: read_frame(_sr_path(run_dir, folder, stem)) for label, run_dir in runs.items()})
            for label, img in imgs.items():
                per_label[label].append(_scores(img, gt, y_channel))
            if drawn is not None:
                for label, img in {**imgs, 'GT': gt}.items():
                    drawn.add_frame(label, t, len(pairs), img)
        if drawn is not None:
            drawn.write(folder)
        table[folder] = {label: tuple(np.mean(v, axis=0)) for label, v in per_label.items()}
    return table


# ------------------------------------------------------------------------------------------------ images
def crop(img: np.ndarray, size: int, center: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """A ``size`` x ``size`` crop centred on ``center`` = ``(x, y)`` (default: the image centre), shifted to stay
    inside the image and shrunk to it when the image is smaller."""
    h, w = img.shape[:2]
    cx, cy = (w // 2, h // 2) if center is None else center
    sh, sw = min(size, h), min(size, w)
    top = int(np.clip(cy - sh // 2, 0, h - sh))
    left = int(np.clip(cx - sw // 2, 0, w - sw))
    return img[top:top + sh, left:left + sw]


def side_by_side(panels: Sequence[np.ndarray], gap: int = GAP, labels: Optional[Sequence[str]] = None) -> np.ndarray:
    """Panels of equal height next to each other, ``gap`` white columns apart; with ``labels``, a white strip of
    ``LABEL_H`` rows above them names each column."""
    h, c = panels[0].shape[0], panels[0].shape[2]
    if any(p.shape[0] != h for p in panels):
        raise ValueError(f'side_by_side: panel heights differ: {[p.shape[0] for p in panels]}.')
    white = np.full((h, gap, c), 255, panels[0].dtype)
    parts = [panels[0]]
    for p in panels[1:]:
        parts += [white, p]
    strip = np.concatenate(parts, axis=1)
    if labels is None:
        return strip
    header = np.full((LABEL_H, strip.shape[1], c), 255, strip.dtype)
    left = 0
    for panel, label in zip(panels, labels):
        cv2.putText(header, label, (left + 2, LABEL_H - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        left += panel.shape[1] + gap
    return np.concatenate([header, strip], axis=0)


class SequenceVisuals:
    """The crops and x-t profiles of one sequence (``seeclear-evaluate --crops SIZE --xt-profiles``, and
    ``compare_runs``): a crop of one frame and one pixel row of every frame for each method, written side by side
    with labelled columns (``crops/<seq>.png``, ``profiles/<seq>_xt.png`` under ``out_dir``)."""

    def __init__(self, out_dir: str, crop_size: int = 0, profiles: bool = False,
                 center: Optional[Tuple[int, int]] = None, frame: Optional[int] = None, row: Optional[int] = None,
                 row_option: str = '--xt-row'):
        self.out_dir, self.crop_size, self.profiles = out_dir, crop_size, profiles
        self.center, self.frame, self.row, self.row_option = center, frame, row, row_option
        self.crops: Dict[str, np.ndarray] = {}
        self.rows: Dict[str, List[np.ndarray]] = {}

    def add_frame(self, label: str, t: int, num_frames: int, img: np.ndarray) -> None:
        """Frame ``t`` of ``num_frames`` of one method (or the GT)."""
        if self.crop_size:
            at = num_frames // 2 if self.frame is None else self.frame
            if not 0 <= at < num_frames:
                raise ValueError(f'--crop-frame {at} is out of range for a sequence of {num_frames} frames.')
            if t == at:
                self.crops[label] = crop(img, self.crop_size, self.center)
        if self.profiles:
            r = img.shape[0] // 2 if self.row is None else self.row
            if not 0 <= r < img.shape[0]:
                raise ValueError(f'{self.row_option} {r} is out of range for frames of height {img.shape[0]}.')
            self.rows.setdefault(label, []).append(img[r])

    def add(self, label: str, frames: Sequence[np.ndarray]) -> None:
        """All the frames of one method (or the GT)."""
        for t, img in enumerate(frames):
            self.add_frame(label, t, len(frames), img)

    def write(self, sequence: str) -> None:
        """Write the sequence's images and start the next sequence."""
        if self.crops:
            write_png(osp.join(self.out_dir, 'crops', f'{sequence}.png'),
                      side_by_side(list(self.crops.values()), labels=list(self.crops)))
        if self.rows:
            write_png(osp.join(self.out_dir, 'profiles', f'{sequence}_xt.png'),
                      side_by_side([np.stack(r) for r in self.rows.values()], labels=list(self.rows)))
        self.crops, self.rows = {}, {}


# ------------------------------------------------------------------------------------------------ tables
def mean_row(table: Table) -> Dict[str, Tuple[float, float]]:
    """Mean over sequences of each label's (psnr, ssim)."""
    labels = list(next(iter(table.values())))
    return {label: tuple(float(x) for x in np.mean([table[f][label] for f in table], axis=0)) for label in labels}


def format_table(table: Table) -> str:
    """Markdown table of PSNR / SSIM per sequence and the mean over sequences."""
    labels = list(next(iter(table.values())))
    lines = ['| sequence | ' + ' | '.join(f'{label} PSNR / SSIM' for label in labels) + ' |',
             '|---|' + '---|' * len(labels)]
    rows = dict(table)
    rows['**mean**'] = mean_row(table)
    for folder, scores in rows.items():
        cells = ' | '.join(f'{scores[lb][0]:.2f} / {scores[lb][1]:.4f}' for lb in labels)
        lines.append(f'| {folder} | {cells} |')
    return '\n'.join(lines)


def _sequence_frames(gt_root: str, lq_root: str, sr_dir: str, folder: str):
    gt_paths = sorted(glob.glob(osp.join(gt_root, folder, '*.png')))
    lq_paths = sorted(glob.glob(osp.join(lq_root, folder, '*.png')))
    stems = [osp.splitext(osp.basename(p))[0] for p in gt_paths]
    gts = [read_frame(p) for p in gt_paths]
    srs = [read_frame(_sr_path(sr_dir, folder, s)) for s in stems]
    scale = round(gts[0].shape[0] / read_frame(lq_paths[0]).shape[0]) if lq_paths else 1
    bics = [bicubic_frame(p, scale) for p in lq_paths]
    return gts, srs, bics


def clip_report(gt_root: str, sr_dir: str, clip_len: int = 5, lq_root: Optional[str] = None) -> dict:
    """Metrics of one run's saved frames, with the clip structure of the sampler (clip k = frames k*m..k*m+m-1).

    Returns: ``psnr``/``ssim`` (mean over frames, then sequences); ``tof_all`` / ``tof_boundary`` / ``tof_inside``
    (Farneback tOF in pixels, mean over all frame pairs of all sequences / the pairs ``(k*m - 1, k*m)`` that
    straddle a clip boundary / the others); ``clip_gain``: per clip index, the PSNR gain over bicubic averaged
    over the sequences that have that clip; ``later_minus_first``: per sequence, the mean gain of clips 2+ minus
    the gain of clip 1, averaged over sequences with at least two clips.
    """
    lq_root = lq_root or osp.join(osp.dirname(gt_root), 'BIx4')
    psnr, ssim, pairs, gains, later = [], [], [], {}, []
    for folder in sorted(os.listdir(gt_root)):
        gts, srs, bics = _sequence_frames(gt_root, lq_root, sr_dir, folder)
        scores = np.array([_scores(s, g, False) for s, g in zip(srs, gts)])  # (N, 2)
        psnr.append(scores[:, 0].mean())
        ssim.append(scores[:, 1].mean())
        gain = scores[:, 0] - np.array([_scores(b, g, False)[0] for b, g in zip(bics, gts)])
        for t, value in enumerate(tof_farneback_per_pair(srs, gts), start=1):
            pairs.append((t % clip_len == 0, float(value)))
        clip_gain = [float(gain[k:k + clip_len].mean()) for k in range(0, len(gain), clip_len)]
        for k, g in enumerate(clip_gain):
            gains.setdefault(k, []).append(g)
        if len(clip_gain) > 1:
            later.append(float(np.mean(clip_gain[1:]) - clip_gain[0]))
    return {
        'psnr': float(np.mean(psnr)), 'ssim': float(np.mean(ssim)),
        'tof_all': float(np.mean([v for _, v in pairs])),
        'tof_boundary': float(np.mean([v for b, v in pairs if b])),
        'tof_inside': float(np.mean([v for b, v in pairs if not b])),
        'clip_gain': [float(np.mean(gains[k])) for k in sorted(gains)],
        'clip_count': [len(gains[k]) for k in sorted(gains)],
        'later_minus_first': float(np.mean(later)) if later else float('nan'),
    }


SUMMARY_KEYS = (('psnr', 'PSNR', 2), ('ssim', 'SSIM', 4), ('tof_all', 'tOF all pairs', 3),
                ('tof_inside', 'tOF inside clips', 3), ('tof_boundary', 'tOF across clip boundaries', 3),
                ('later_minus_first', 'gain of clips 2+ minus clip 1 (dB)', 3))


def summarise(reports: Dict[str, List[dict]]) -> dict:
    """Mean and std over seeds of every :func:`clip_report` value, and a markdown table of them."""
    out: Dict[str, dict] = {}
    head = '| row | seeds | ' + ' | '.join(name for _, name, _ in SUMMARY_KEYS) + ' |'
    lines = [head, '|---|---|' + '---|' * len(SUMMARY_KEYS)]
    for label, runs in reports.items():
        if not runs:
            continue
        stats = {key: (float(np.mean([r[key] for r in runs])), float(np.std([r[key] for r in runs])))
                 for key, _, _ in SUMMARY_KEYS}
        num_clips = min(len(r['clip_gain']) for r in runs)
        stats['clip_gain'] = [float(np.mean([r['clip_gain'][k] for r in runs])) for k in range(num_clips)]
        out[label] = stats
        cells = ' | '.join(f'{stats[k][0]:.{d}f} ± {stats[k][1]:.{d}f}' for k, _, d in SUMMARY_KEYS)
        lines.append(f'| {label} | {len(runs)} | {cells} |')
    lines += ['', 'PSNR gain over bicubic per clip index (dB, mean over sequences having the clip, then seeds):', '']
    width = max((len(s['clip_gain']) for s in out.values()), default=0)
    lines += ['| row | ' + ' | '.join(f'clip {k + 1}' for k in range(width)) + ' |', '|---|' + '---|' * width]
    for label, stats in out.items():
        lines.append(f'| {label} | ' + ' | '.join(f'{g:+.2f}' for g in stats['clip_gain']) + ' |')
    return {'rows': out, 'markdown': '\n'.join(lines) + '\n'}


def write_metrics(table: Table, out_dir: str) -> Tuple[str, str]:
    """``metrics.csv`` (columns sequence, label, psnr, ssim; the mean rows have sequence ``mean``) and
    ``metrics.json`` (``{"sequences": {seq: {label: {"psnr", "ssim"}}}, "mean": {label: {...}}}``)."""
    os.makedirs(out_dir, exist_ok=True)
    as_dict = lambda row: {lb: {'psnr': float(v[0]), 'ssim': float(v[1])} for lb, v in row.items()}  # noqa: E731
    doc = {'sequences': {seq: as_dict(row) for seq, row in table.items()}, 'mean': as_dict(mean_row(table))}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['sequence', 'label', 'psnr', 'ssim'])
    for seq, row in [*doc['sequences'].items(), ('mean', doc['mean'])]:
        writer.writerows([seq, lb, f'{v["psnr"]:.4f}', f'{v["ssim"]:.6f}'] for lb, v in row.items())
    paths = osp.join(out_dir, 'metrics.csv'), osp.join(out_dir, 'metrics.json')
    write_text(paths[0], buf.getvalue())
    write_text(paths[1], json.dumps(doc, indent=1) + '\n')
    return paths
