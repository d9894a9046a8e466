"""A tiny generated REDS-style dataset and SeeClear option files for model and entry-point tests."""
import os
import subprocess
import sys
from os import path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np
import yaml

LR_SIZE = 8
SCALE = 4
CLIP_LEN = 3


def _write_frames(root: str, folder: str, num_frames: int, rng: np.random.Generator) -> None:
    """GT frames (smooth random images) and their bicubic x4 LR frames, ``%08d.png``."""
    for sub in ('gt', 'lq'):
        os.makedirs(osp.join(root, sub, folder), exist_ok=True)
    for i in range(num_frames):
        small = rng.integers(0, 256, (LR_SIZE // 2, LR_SIZE // 2, 3), dtype=np.uint8)
        gt = cv2.resize(small, (LR_SIZE * SCALE, LR_SIZE * SCALE), interpolation=cv2.INTER_CUBIC)
        lq = cv2.resize(gt, (LR_SIZE, LR_SIZE), interpolation=cv2.INTER_AREA)
        cv2.imwrite(osp.join(root, 'gt', folder, f'{i:08d}.png'), gt)
        cv2.imwrite(osp.join(root, 'lq', folder, f'{i:08d}.png'), lq)


def make_dataset(root: str, train_clips: int = 2, train_frames: int = 4, val_frames: Optional[List[int]] = None) -> str:
    """``root/train/{gt,lq}/<clip>`` + ``meta.txt``; ``root/val/{gt,lq}/<seq>`` (lengths ``val_frames``)."""
    rng = np.random.default_rng(0)
    for c in range(train_clips):
        _write_frames(osp.join(root, 'train'), f'{c:03d}', train_frames, rng)
    with open(osp.join(root, 'train', 'meta.txt'), 'w') as f:
        f.writelines(f'{c:03d} {train_frames} ({LR_SIZE * SCALE},{LR_SIZE * SCALE},3)\n' for c in range(train_clips))
    for s, n in enumerate(val_frames or [7]):
        _write_frames(osp.join(root, 'val'), f'seq{s}', n, rng)
    return root


def train_options(data_root: str, name: str = 'tiny', total_iter: int = 3, val: bool = True) -> Dict:
    """Options for 3 iterations of a tiny ``SeeClearConvDenoiser`` (checkpoint at 2, validation at 3)."""
    opt = {
        'name': name, 'model_type': 'SeeClearModel', 'scale': SCALE, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {
                'name': 'tiny_train', 'type': 'SeeClearREDSDataset',
                'dataroot_gt': osp.join(data_root, 'train', 'gt'), 'dataroot_lq': osp.join(data_root, 'train', 'lq'),
                'meta_info_file': osp.join(data_root, 'train', 'meta.txt'), 'val_partition': None,
                'io_backend': {'type': 'disk'}, 'num_frame': CLIP_LEN, 'gt_size': 16,
                'use_hflip': True, 'use_rot': False, 'use_temporal_reverse': False,
                'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1, 'prefetch_mode': None,
            },
        },
        'network_g': {'type': 'SeeClearConvDenoiser', 'num_feat': 8, 'num_block': 1, 'num_timesteps': 4},
        'diffusion': {'num_timesteps': 4, 'kappa': 2.0, 'power': 0.3, 'min_noise_level': 0.04, 'etas_end': 0.99,
                      'blur_sigma2': 2.0, 'blur_sigma_min': 0.5, 'patch_size': 8, 'coupling': 'resshift'},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0.9, 'trainable': 'all', 'grad_clip': 1.0,
            'optim_g': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0, 'betas': [0.5, 0.999]},
            'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [100], 'restart_weights': [1],
                          'eta_min': 1e-5},
            'total_iter': total_iter, 'warmup_iter': -1,
            'pixel_opt': {'type': 'CharbonnierLoss', 'loss_weight': 1.0, 'reduction': 'mean'},
        },
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False, 'wandb': {'project': None}},
    }
    if val:
        opt['datasets']['val'] = val_dataset(data_root)
        opt['val'] = val_options()
    return opt


def val_dataset(data_root: str, phase_name: str = 'tiny_val') -> Dict:
    return {'name': phase_name, 'type': 'SeeClearVideoTestDataset', 'dataroot_gt': osp.join(data_root, 'val', 'gt'),
            'dataroot_lq': osp.join(data_root, 'val', 'lq'), 'io_backend': {'type': 'disk'}}


def val_options() -> Dict:
    return {'val_freq': 3, 'save_img': True, 'suffix': None, 'num_frame': CLIP_LEN, 'num_steps': 2, 'seed': 0,
            'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}}


def inference_options(data_root: str, weights: str, name: str = 'tiny_test') -> Dict:
    return {
        'name': name, 'model_type': 'SeeClearModel', 'scale': SCALE, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'test_1': val_dataset(data_root, 'tiny_test_set')},
        'network_g': train_options(data_root)['network_g'],
        'diffusion': train_options(data_root)['diffusion'],
        'path': {'pretrain_network_g': weights, 'param_key_g': 'params_ema', 'strict_load_g': True},
        'val': dict(val_options(), suffix='sr'),
    }


def write_yml(opt: Dict, path: str) -> str:
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return path


def run(cmd: List[str], cwd: str, env: Dict, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``cmd`` and fail with its output when it exits non-zero."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n'
                             f'--- stderr\n{proc.stderr[-6000:]}')
    return proc


PYTHON = sys.executable


def model_options(root: str, **train_overrides) -> Dict:
    """In-process options as ``parse_options`` would produce them (no dataloaders needed)."""
    opt = train_options(osp.join(root, 'data'))
    opt['train'].update(train_overrides)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    exp = osp.join(root, 'experiments', opt['name'])
    opt['path'].update(experiments_root=exp, models=osp.join(exp, 'models'), log=exp,
                       training_states=osp.join(exp, 'training_states'), visualization=osp.join(exp, 'visualization'))
    for phase, dataset in opt['datasets'].items():
        dataset.update(phase=phase.split('_')[0], scale=SCALE)
    return opt
