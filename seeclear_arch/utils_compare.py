"""Compare saved SR frames with GT and with bicubic upsampling, per sequence (used by the quickstart)."""
import glob
import os
from os import path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np
from basicsr.metrics import calculate_psnr, calculate_ssim
from basicsr.utils import img2tensor, tensor2img

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


