"""Precompute SeeClear*'s condition on whole frames: ``python -m seeclear_arch.data.condition_cache``.

The frozen base network (``network_base``) is run once on every whole LR sequence under ``--lq`` and its HR output
saved per frame under ``--out`` (``<sequence>/<frame stem>.npy``: float32 BGR ``(H, W, 3)`` in [0, 1], the layout
of a decoded frame; or 8-bit ``.png`` with ``--ext png``). A training dataset with ``dataroot_cond: <out>`` then
crops the condition at the GT crop (``seeclear_arch.data.clip_base``): the base network sees at training the whole
frames it sees at test, not a 16x16 LR crop, and it no longer runs at every training step.

    python -m seeclear_arch.data.condition_cache -opt options/train_seeclear_star_demo.yml \\
        --lq datasets/demo/train/BIx4 --out datasets/demo/train/DATx4

Existing outputs are kept (the command resumes), unless ``--overwrite``; each file is written atomically.
"""
import argparse
import io
import os
from os import path as osp
from typing import Optional, Sequence

import numpy as np
import torch

from seeclear_arch.data.atomic_files import write_bytes, write_png
from seeclear_arch.data.frame_io import frames_to_tensor, list_frames, read_frame_file
from seeclear_arch.data.prepare import find_frame_folders
from seeclear_arch.inference.video import read_options
from seeclear_arch.models.condition import Condition


def save_condition_frame(frame: torch.Tensor, path: str) -> None:
    """One condition frame ``(3, H, W)`` RGB in [0, 1] -> ``path`` (.npy float32 BGR HWC, or 8-bit .png), atomically."""
    bgr = np.ascontiguousarray(frame.detach().float().cpu().numpy()[::-1].transpose(1, 2, 0), dtype=np.float32)
    if not path.endswith('.npy'):
        write_png(path, np.clip(np.round(bgr * 255), 0, 255).astype(np.uint8))
        return
    buffer = io.BytesIO()
    np.save(buffer, bgr)
    write_bytes(path, buffer.getbuffer())


def precompute(condition: Condition, lq_root: str, out_root: str, ext: str = 'npy', overwrite: bool = False,
               device: Optional[torch.device] = None, folders: Optional[Sequence[str]] = None) -> int:
    """Write ``condition`` of every whole sequence under ``lq_root`` to ``out_root``; returns the frames written."""
    if ext not in ('npy', 'png'):
        raise ValueError(f"--ext must be 'npy' or 'png', got {ext!r}")
    written = 0
    for folder in folders or find_frame_folders(lq_root):
        names = list_frames(osp.join(lq_root, folder))
        outs = [osp.join(out_root, folder, f'{osp.splitext(n)[0]}.{ext}') for n in names]
        if not overwrite and all(osp.isfile(p) for p in outs):
            continue
        lq = frames_to_tensor([read_frame_file(osp.join(lq_root, folder, n)) for n in names])[None]
        y = condition(lq.to(device or 'cpu'))[0]
        os.makedirs(osp.join(out_root, folder), exist_ok=True)
        for frame, path in zip(y, outs):
            save_condition_frame(frame, path)
            written += 1
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', required=True, help='experiment yml with network_base (and base_mode, path.*_base)')
    parser.add_argument('--lq', required=True, help='LR root: one folder of frames per sequence')
    parser.add_argument('--out', required=True, help='output root (dataroot_cond of the training dataset)')
    parser.add_argument('--ext', choices=('npy', 'png'), default='npy', help='npy: exact float32; png: 8-bit')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    opt = read_options(args.opt)
    if opt.get('network_base') is None:
        parser.error(f'{args.opt} has no network_base: the bicubic condition needs no cache')
    condition = Condition.from_opt(opt, torch.device(args.device))
    count = precompute(condition, args.lq, args.out, args.ext, args.overwrite, torch.device(args.device))
    print(f'{condition}: wrote {count} frames under {args.out}')


if __name__ == '__main__':
    main()
