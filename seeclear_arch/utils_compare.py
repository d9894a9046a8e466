"""Compare saved SR frames with GT and with bicubic upsampling, per sequence (used by the quickstart)."""
import glob
import os
from os import path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from basicsr.metrics import calculate_psnr, calculate_ssim
from basicsr.utils import img2tensor, tensor2img

from seeclear_arch.metrics.temporal_metric import tof_farneback_per_pair
from seeclear_arch.models.seeclear_model import bicubic_upsample


def _read(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return img


def bicubic_frame(lq_path: str, scale: int) -> np.ndarray:
    """The model's bicubic condition ``y`` for one LR frame, as a uint8 BGR image."""
    lq = img2tensor(_read(lq_path).astype(np.float32) / 255.0, bgr2rgb=True, float32=True)
    return tensor2img(bicubic_upsample(lq[None, None], scale)[0, 0])


def _sr_path(run_dir: str, folder: str, stem: str) -> str:
    found = sorted(glob.glob(osp.join(run_dir, folder, f'{stem}_*.png')))
    if not found:
        raise FileNotFoundError(f'no SR frame {osp.join(run_dir, folder, stem)}_*.png')
    return found[0]


def _scores(img: np.ndarray, gt: np.ndarray, y_channel: bool) -> Tuple[float, float]:
    return (calculate_psnr(img, gt, 0, test_y_channel=y_channel), calculate_ssim(img, gt, 0, test_y_channel=y_channel))


def compare_runs(gt_root: str, lq_root: str, runs: Dict[str, str], scale: int = 4,
                 y_channel: bool = False) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """{folder: {label: (psnr, ssim)}} with label 'bicubic' plus one per run (``runs``: label -> image dir)."""
    table: Dict[str, Dict[str, Tuple[float, float]]] = {}
    for folder in sorted(os.listdir(gt_root)):
        gt_paths = sorted(glob.glob(osp.join(gt_root, folder, '*.png')))
        lq_paths = sorted(glob.glob(osp.join(lq_root, folder, '*.png')))
        per_label: Dict[str, List[Tuple[float, float]]] = {label: [] for label in ['bicubic', *runs]}
        for gt_path, lq_path in zip(gt_paths, lq_paths):
            gt, stem = _read(gt_path), osp.splitext(osp.basename(gt_path))[0]
            per_label['bicubic'].append(_scores(bicubic_frame(lq_path, scale), gt, y_channel))
            for label, run_dir in runs.items():
                per_label[label].append(_scores(_read(_sr_path(run_dir, folder, stem)), gt, y_channel))
        table[folder] = {label: tuple(np.mean(v, axis=0)) for label, v in per_label.items()}
    return table


def format_table(table: Dict[str, Dict[str, Tuple[float, float]]]) -> str:
    """Markdown table of PSNR / SSIM per sequence and the mean over sequences."""
    labels = list(next(iter(table.values())))
    lines = ['| sequence | ' + ' | '.join(f'{label} PSNR / SSIM' for label in labels) + ' |',
             '|---|' + '---|' * len(labels)]
    rows = dict(table)
    rows['**mean**'] = {label: tuple(np.mean([table[f][label] for f in table], axis=0)) for label in labels}
    for folder, scores in rows.items():
        cells = ' | '.join(f'{scores[lb][0]:.2f} / {scores[lb][1]:.4f}' for lb in labels)
        lines.append(f'| {folder} | {cells} |')
    return '\n'.join(lines)




def _sequence_frames(gt_root: str, lq_root: str, sr_dir: str, folder: str):
    gt_paths = sorted(glob.glob(osp.join(gt_root, folder, '*.png')))
    lq_paths = sorted(glob.glob(osp.join(lq_root, folder, '*.png')))
    stems = [osp.splitext(osp.basename(p))[0] for p in gt_paths]
    gts = [_read(p) for p in gt_paths]
    srs = [_read(_sr_path(sr_dir, folder, s)) for s in stems]
    bics = [bicubic_frame(p, round(gts[0].shape[0] / _read(p).shape[0])) for p in lq_paths]
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
