"""Where a trained model's flicker comes from, measured on held-out sequences (issue: steadier than its condition).

Usage:
    python -m benchmarks.flicker_sources -opt options/test_seeclear_demo.yml \
        --weights experiments/rw_seeclear1500_s0/models/net_g_latest.pth --seeds 0,1,2 --out results/flicker/a.json

For every sequence of the yml's first test dataset (whole sequences, the yml's sampling settings) it samples the
sequence once per seed, and once more with the LR frames perturbed by uniform noise of +-``--perturb`` (in
1/255, seed 0), and reports, in 8-bit levels (x255), over "static" pixels (the GT changes by less than
``--static`` levels between the two frames of a pair) and "moving" ones:

- ``seed_spread``: the per-pixel standard deviation over seeds (the sampler's randomness), per frame;
- ``temporal_diff``: mean |x_t - x_t-1| of the seed-0 output, of the condition y (bicubic or the base network) and of
  the GT, separately for frame pairs inside a clip and pairs across a clip boundary (frames 5k-1, 5k);
- ``input_response``: mean |SR(lq + d) - SR(lq)| against mean |y(lq + d) - y(lq)|: how much a change of the
  input far below what the eye sees is amplified (same seed, so no sampler noise in the difference).
Written as JSON (per sequence and pooled over all pixels of all sequences) and printed as a table.
"""
import argparse
import json
import os
from os import path as osp
from typing import Dict, List

import numpy as np
import torch

from seeclear_arch.data.frame_io import frames_to_tensor, list_frames, read_frame_file
from seeclear_arch.inference.video import build_inference_model, load_inference_options, read_options


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', required=True, help='test yml (network, diffusion, val, datasets.test_1)')
    parser.add_argument('--weights', help='network_g weights [path.pretrain_network_g]')
    parser.add_argument('--seeds', default='0,1,2')
    parser.add_argument('--perturb', type=float, default=1.0, help='LR perturbation amplitude, 8-bit levels')
    parser.add_argument('--static', type=float, default=2.0, help='GT change below which a pixel is static, levels')
    parser.add_argument('--force', nargs='*', default=[], help='val options KEY=VALUE (e.g. noise_scale=0)')
    parser.add_argument('--out', required=True, help='JSON path')
    return parser.parse_args()


def sample(model, lq: torch.Tensor, seed: int) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] for LR frames (N, 3, h, w), sampled with ``val.seed = seed``."""
    model.opt['val']['seed'] = seed
    model.feed_data({'lq': lq[None]})
    model.test()
    return model.output[0].cpu()


def masks(gt: torch.Tensor, static_levels: float) -> torch.Tensor:
    """(N-1, 1, H, W) bool: static pixels of each consecutive pair (max channel change below the threshold)."""
    return ((gt[1:] - gt[:-1]).abs().amax(dim=1, keepdim=True) * 255) < static_levels


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> float:
    mask = mask.expand_as(x)
    return float(x[mask].mean()) * 255 if mask.any() else float('nan')


def temporal(x: torch.Tensor, static: torch.Tensor, clip_len: int) -> Dict[str, float]:
    """Mean |x_t - x_t-1| on static and moving pixels, inside clips and across clip boundaries."""
    diff = (x[1:] - x[:-1]).abs()
    across = torch.tensor([(t + 1) % clip_len == 0 for t in range(diff.shape[0])])  # pair (t, t+1) straddles
    out = {}
    for where, sel in (('inside', ~across), ('across', across)):
        if sel.any():
            out[f'static_{where}'] = masked_mean(diff[sel], static[sel])
            out[f'moving_{where}'] = masked_mean(diff[sel], ~static[sel])
    return out


def analyse(model, lq: torch.Tensor, gt: torch.Tensor, seeds: List[int], args) -> Dict[str, object]:
    clip_len = model.clip_length()
    static = masks(gt, args.static)
    frame_static = torch.cat([static[:1], static])  # frame t's mask from pair (t-1, t); frame 0 from (0, 1)
    outs = torch.stack([sample(model, lq, s) for s in seeds])  # (S, N, 3, H, W)
    spread = outs.std(dim=0) if len(seeds) > 1 else torch.zeros_like(outs[0])
    y = model.condition(lq[None])[0].cpu()
    gen = torch.Generator().manual_seed(0)
    delta = (torch.rand(lq.shape, generator=gen) * 2 - 1) * args.perturb / 255
    lq_p = (lq + delta).clamp(0, 1)
    sr_p = sample(model, lq_p, seeds[0])
    y_p = model.condition(lq_p[None])[0].cpu()
    return {
        'frames': int(lq.shape[0]), 'static_fraction': float(static.float().mean()),
        'seed_spread': {'static': masked_mean(spread, frame_static), 'moving': masked_mean(spread, ~frame_static)},
        'temporal_diff': {'sr': temporal(outs[0], static, clip_len), 'condition': temporal(y, static, clip_len),
                          'gt': temporal(gt, static, clip_len)},
        'input_response': {'sr': float((sr_p - outs[0]).abs().mean()) * 255,
                           'condition': float((y_p - y).abs().mean()) * 255},
    }


def pooled(per_seq: Dict[str, dict]) -> Dict[str, object]:
    """Frame-weighted means over sequences of every leaf value."""
    weights = {k: v['frames'] for k, v in per_seq.items()}

    def merge(values: List[object], keys: List[str]):
        if isinstance(values[0], dict):
            return {k: merge([v[k] for v in values if k in v], [s for s, v in zip(keys, values) if k in v])
                    for k in values[0]}
        vals = [(v, weights[s]) for v, s in zip(values, keys) if not np.isnan(v)]
        return float(np.average([v for v, _ in vals], weights=[w for _, w in vals])) if vals else float('nan')

    keys = list(per_seq)
    return merge([per_seq[k] for k in keys], keys)


def main() -> None:
    args = parse_args()
    opt = read_options(args.opt)
    for item in args.force:
        key, _, value = item.partition('=')
        opt['val'][key] = float(value) if key == 'noise_scale' else value
    model = build_inference_model(load_inference_options(opt, args.weights))
    dataset = next(iter(opt['datasets'].values()))
    seeds = [int(s) for s in args.seeds.split(',')]
    per_seq = {}
    for folder in sorted(os.listdir(dataset['dataroot_lq'])):
        names = list_frames(osp.join(dataset['dataroot_lq'], folder))
        lq = frames_to_tensor([read_frame_file(osp.join(dataset['dataroot_lq'], folder, n)) for n in names])
        gt = frames_to_tensor([read_frame_file(osp.join(dataset['dataroot_gt'], folder, n))
                               for n in list_frames(osp.join(dataset['dataroot_gt'], folder))])
        per_seq[folder] = analyse(model, lq, gt, seeds, args)
        print(folder, json.dumps(per_seq[folder]['seed_spread']), flush=True)
    result = {'settings': vars(args), 'sequences': per_seq, 'pooled': pooled(per_seq)}
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result['pooled'], indent=1))


if __name__ == '__main__':
    main()
