"""Helpers shared by the tests: tiny experiments, networks, frame trees and videos, all generated and seeded."""
import os
import subprocess
import sys
from fractions import Fraction
from os import path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
import yaml
from basicsr.archs import build_network

from seeclear_arch.data.prepare import bicubic_downscale, generate_bicubic_lr, generate_meta_info

# ------------- A tiny generated REDS-style dataset and SeeClear option files (model, entry-point, inference tests)
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


# A Mask2Former small enough for CPU tests: 4-stage Swin with 16 channels, hidden 32, 10 queries.
TINY_M2F = dict(
    backbone_config=dict(model_type='swin', image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1],
                         num_heads=[1, 1, 2, 2], window_size=4,
                         out_features=['stage1', 'stage2', 'stage3', 'stage4']),
    hidden_dim=32, mask_feature_size=24, feature_size=32, num_queries=10, encoder_layers=1, decoder_layers=2,
    dim_feedforward=64, encoder_feedforward_dim=64, num_attention_heads=2, num_labels=5)


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


# --------------------------------------------- A tiny SeeClearNet and its inputs (arch, sampling, precision tests)
def tiny_opt(**kwargs) -> dict:
    """A tiny SeeClearNet ``network_g`` (every component on, a light distiller); ``kwargs`` override."""
    opt = dict(type='SeeClearNet', num_feat=8, channel_mult=(1, 2, 2, 2), num_units=(1, 1, 1, 1), num_middle_blocks=1,
               head_dim=4, window_size=4, mfsa_window=4, token_dim=16, num_clip_tokens=3, clip_encoder_layers=1,
               clip_decoder_layers=1, memory_size=4, memory_dim=16, memory_pool=2,
               distiller=dict(type='SeeClearLightDistiller', num_feat=4, seg_dim=4, token_dim=8, num_tokens=3,
                              num_queries=4, num_heads=2, pool_size=2))
    opt.update(kwargs)
    return opt


def clip_inputs(b=1, m=3, h=9, w=13, scale=4):
    """Denoiser inputs ``(x_t, y, lq, t)`` for ``b`` clips of ``m`` LR frames ``h x w``, ``t = 3``."""
    lq = torch.rand(b, m, 3, h, w)
    y = torch.nn.functional.interpolate(lq.flatten(0, 1), scale_factor=scale, mode='bilinear').view(
        b, m, 3, h * scale, w * scale)
    return torch.randn_like(y), y, lq, torch.full((b,), 3.0)


def trained_like(**kwargs) -> torch.nn.Module:
    """A tiny net whose zero-initialised CaTeGory output is perturbed (as after training), so the query matters."""
    net = build_network(tiny_opt(**kwargs)).eval()
    for level in (*net.middle, *net.decoder):
        if level.category is not None:
            torch.nn.init.normal_(level.category.cross.attn.proj.weight, std=0.5)
    return net


# -------------------------------------------- Tiny synthetic frame trees, REDS-, Vimeo- and Vid4-like (data tests)
GT_H, GT_W = 48, 64  # LQ 12x16


def noise_frames(n: int, seed: int, h: int = GT_H, w: int = GT_W) -> List[np.ndarray]:
    """Random uint8 BGR frames: any misaligned crop is obvious."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def write_frames(folder: str, frames: List[np.ndarray], names: List[str]) -> None:
    os.makedirs(folder, exist_ok=True)
    for img, name in zip(frames, names):
        cv2.imwrite(osp.join(folder, name), img)


def make_tree(root: str, clips: Dict[str, int], naming) -> Dict[str, str]:
    """GT frames under root/GT/<clip>, BI x4 LQ under root/LQ, meta info at root/meta.txt."""
    gt, lq = osp.join(root, 'GT'), osp.join(root, 'LQ')
    for seed, (clip, n) in enumerate(clips.items()):
        write_frames(osp.join(gt, clip), noise_frames(n, seed), [naming(i) for i in range(n)])
    generate_bicubic_lr(gt, lq, 4)
    meta = osp.join(root, 'meta.txt')
    generate_meta_info(gt, meta)
    return {'gt': gt, 'lq': lq, 'meta': meta}


def reds_opt(tree: Dict[str, str], **kwargs) -> dict:
    opt = {'name': 'reds', 'type': 'SeeClearREDSDataset', 'dataroot_gt': tree['gt'], 'dataroot_lq': tree['lq'],
           'meta_info_file': tree['meta'], 'val_partition': 'REDS4', 'io_backend': {'type': 'disk'},
           'num_frame': 3, 'gt_size': None, 'scale': 4}
    opt.update(kwargs)
    return opt


# ---------------- Tiny generated videos whose grey level encodes the frame index (reader, writer, inference tests)
NTSC = Fraction(30000, 1001)
SAMPLE_RATE = 16000


def frame_level(i: int) -> int:
    """Grey level of frame ``i`` (distinct for 0..19, far apart so that lossy coding keeps them apart)."""
    return 20 + (i * 11) % 220


def _add_audio(container, codec: str):
    stream = container.add_stream(codec, rate=SAMPLE_RATE)
    stream.layout = 'mono'
    return stream


def _write_audio(container, stream, codec: str, seconds: float) -> None:
    import av
    fmt = 's16' if codec.startswith('pcm') else 'fltp'
    t = np.arange(int(round(seconds * SAMPLE_RATE))) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    pcm = (tone * 32767).astype(np.int16) if fmt == 's16' else tone.astype(np.float32)
    for start in range(0, pcm.size, 1024):
        frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format=fmt, layout='mono')
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def write_video(path: str, n: int, h: int = 24, w: int = 32, rate: Fraction = NTSC, audio: Optional[str] = 'aac',
                codec: str = 'mpeg4', noise: bool = False) -> str:
    """An ``n``-frame video at ``rate`` fps (container from ``path``'s extension) with ``audio`` (codec name, or
    None) as long as the video; ``noise`` adds seeded noise to the flat frames."""
    import av
    rng = np.random.default_rng(0)
    with av.open(path, mode='w') as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, 'yuv420p'
        sound = _add_audio(container, audio) if audio else None  # every stream before the first packet
        for i in range(n):
            img = np.full((h, w, 3), frame_level(i), np.uint8)
            if noise:
                img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio:
            _write_audio(container, sound, audio, float(n / rate))
    return path


def stream_seconds(path: str, kind: str) -> float:
    """Duration in seconds of the first ``kind`` ('audio' or 'video') stream of ``path`` (the container's
    stream duration: AAC priming samples excluded)."""
    import av
    with av.open(path) as container:
        stream = getattr(container.streams, kind)[0]
        return float(stream.duration * stream.time_base)


# -------------------------------------------------------- Tiny synthetic GT / LR / method trees (evaluation tests)
def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random BGR uint8 texture."""
    noise = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32) * 255
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 255, 0, 255).astype(np.uint8)


def panning(num: int, seed: int, h: int = 32, w: int = 32, step: int = 1) -> List[np.ndarray]:
    """Frames of a window moving over a texture: content moves ``step`` px right per frame."""
    big = textured(h + 16, w + 16 + step * num, seed)
    x0 = 8 + step * num
    return [big[8:8 + h, x0 - step * t:x0 - step * t + w].copy() for t in range(num)]


def noisy(frames: List[np.ndarray], seed: int, amp: int = 12) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f.astype(np.int16) + rng.integers(-amp, amp + 1, f.shape), 0, 255).astype(np.uint8)
            for f in frames]


def write_seq(folder: str, frames: List[np.ndarray], suffix: str = '') -> List[str]:
    os.makedirs(folder, exist_ok=True)
    paths = [osp.join(folder, f'{k:08d}{suffix}.png') for k in range(len(frames))]
    for path, img in zip(paths, frames):
        cv2.imwrite(path, img)
    return paths


def make_trees(root: str, seqs: Dict[str, int], h: int = 32, w: int = 32) -> Dict[str, str]:
    """GT, BI x4 LR, a noisy method ('noisy', names with a suffix) and an exact copy ('same') of every sequence."""
    trees = {k: osp.join(root, k) for k in ('gt', 'lq', 'noisy', 'same')}
    for seed, (seq, n) in enumerate(seqs.items()):
        gt = panning(n, seed, h, w)
        write_seq(osp.join(trees['gt'], seq), gt)
        write_seq(osp.join(trees['lq'], seq), [bicubic_downscale(f, 4) for f in gt])
        write_seq(osp.join(trees['noisy'], seq), noisy(gt, seed), suffix='_out')
        write_seq(osp.join(trees['same'], seq), gt)
    return trees


# --------------------------------------------- Tiny LR videos and frame folders to super-resolve (inference tests)
H, W = 24, 32  # LR frames of the inference tests' inputs


def rgb_frames(n: int, h: int = H, w: int = W) -> list:
    rng = np.random.default_rng(1)
    return [cv2.resize(rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8), (w, h)) for _ in range(n)]


def write_mp4(path: str, n: int = 6, fps: int = 10) -> str:
    import av
    with av.open(path, mode='w') as container:
        stream = container.add_stream('libx264' if 'libx264' in av.codecs_available else 'mpeg4', rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, 'yuv420p'
        for rgb in rgb_frames(n):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format='rgb24')))
        container.mux(stream.encode())
    return path


def write_folder(folder: str, n: int) -> str:
    os.makedirs(folder)
    for i, rgb in enumerate(rgb_frames(n)):
        cv2.imwrite(osp.join(folder, f'{i:04d}.png'), rgb[:, :, ::-1])
    return folder


def random_inference_weights(root: str) -> Tuple[dict, str]:
    """The tiny inference options (:func:`inference_options`) and a ``net_g.pth`` of seeded random weights."""
    from basicsr.utils.registry import ARCH_REGISTRY
    weights = osp.join(root, 'net_g.pth')
    opt = inference_options(root, weights)
    torch.manual_seed(0)
    net_opt = dict(opt['network_g'])
    net = ARCH_REGISTRY.get(net_opt.pop('type'))(**net_opt)
    torch.save({'params': net.state_dict()}, weights)
    return opt, weights


def resume_experiment(tmp_path, monkeypatch) -> dict:
    """A BasicSR experiment folder with one complete checkpoint pair at iteration 2 (the working directory moves
    there); the options ``load_resume_state`` reads."""
    exp = tmp_path / 'experiments' / 'exp'
    (exp / 'training_states').mkdir(parents=True)
    torch.save({'epoch': 0, 'iter': 2, 'optimizers': [], 'schedulers': []}, exp / 'training_states' / '2.state')
    (exp / 'models').mkdir()
    torch.save({'params': {}}, exp / 'models' / 'net_g_2.pth')
    monkeypatch.chdir(tmp_path)
    return {'name': 'exp', 'auto_resume': True, 'network_g': {},
            'path': {'resume_state': None, 'models': str(exp / 'models')}}
