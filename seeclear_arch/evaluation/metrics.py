"""The metrics of ``seeclear-evaluate``: names, published conventions, and how each is computed on a sequence.

Every metric keeps BasicSR's / this package's registered implementation; this module only batches them and fixes
the scale each paper prints. Values are stored already scaled (``MetricSpec.scale``), per frame for frame metrics
and per consecutive frame pair for temporal ones (pair k = frames k and k+1).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from basicsr.metrics import calculate_niqe, calculate_psnr, calculate_ssim

from seeclear_arch.metrics.dists_metric import build_dists_vgg
from seeclear_arch.metrics.flow_metric import (
    backward_pair_flows,
    forward_backward_flows,
    make_flow_fn,
    tof_per_pair,
    warp_error_per_pair,
)
from seeclear_arch.metrics.lpips_metric import get_lpips_network
from seeclear_arch.metrics.optical_flow import FlowFn, farneback_flow_fn
from seeclear_arch.metrics.temporal_metric import consecutive_lpips, tof_farneback_per_pair
from seeclear_arch.metrics.vgg_trunk import get_network, image_to_tensor


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is reported: table label, multiplier, direction, frame/pair, and what it compares with."""

    label: str
    scale: float
    higher_better: bool
    temporal: bool
    convention: str


SPECS: Dict[str, MetricSpec] = {
    'psnr': MetricSpec('PSNR', 1, True, False,
                       'BasicSR calculate_psnr on uint8 frames, RGB or Y (--y-channel), --crop-border; as BasicVSR, '
                       'SeeClear, StableVSR and MGLD-VSR tables (REDS4: RGB, Vid4: Y).'),
    'ssim': MetricSpec('SSIM', 1, True, False,
                       'BasicSR calculate_ssim (MATLAB-style Gaussian SSIM), same channel/crop as PSNR; as BasicVSR '
                       'and SeeClear tables (StableVSR uses torchmetrics SSIM: close, not identical).'),
    'lpips': MetricSpec('LPIPS', 1, False, False,
                        'LPIPS v0.1 with VGG16 (this package, lpips heads): as SeeClear and MGLD-VSR (VGG); '
                        'StableVSR and Upscale-A-Video use the AlexNet variant, not comparable.'),
    'dists': MetricSpec('DISTS', 1, False, False,
                        'DISTS (Ding et al. 2020) with the dists-pytorch weights: as StableVSR, MGLD-VSR, STAR.'),
    'niqe': MetricSpec('NIQE', 1, False, False,
                       'BasicSR calculate_niqe on the Y channel of the output only (no reference); pyiqa\'s NIQE '
                       '(StableVSR, Upscale-A-Video) is a port of the same MATLAB code.'),
    'tlp': MetricSpec('tLP x1e3', 1000, False, True,
                      'StableVSR eval.py: |LPIPS(gt_t-1, gt_t) - LPIPS(sr_t-1, sr_t)|, x1000; with our LPIPS-VGG '
                      '(StableVSR uses AlexNet, so compare trends, not digits). TecoGAN prints x100.'),
    'tof': MetricSpec('tOF x10', 10, False, True,
                      'StableVSR eval.py: mean |RAFT(sr_t, sr_t-1) - RAFT(gt_t, gt_t-1)| over pixels and both '
                      'components, torchvision raft_large C_T_SKHT_V2 fed [0, 1] frames, x10.'),
    'tof_farneback': MetricSpec('tOF-Farneback x10', 10, False, True,
                                'Offline fallback (--flow farneback): TecoGAN-style mean L2 norm of the Farneback '
                                'flow difference, x10; comparable only with itself, never with tOF.'),
    'ewarp': MetricSpec('E*warp x1e3', 1000, False, True,
                        'Lai et al. ECCV 2018 warping error of the output, RAFT flow (raft_large) from the GT '
                        'frames, Ruder occlusion mask, MSE in [0, 1] RGB, x1000 = E*warp (x10^-3) of MGLD-VSR, '
                        'Upscale-A-Video, STAR, DOVE (their flow networks differ: FlowNet2/RAFT).'),
    'ewarp_farneback': MetricSpec('E*warp-Farneback x1e3', 1000, False, True,
                                  'Offline fallback (--flow farneback): E*warp with Farneback GT flow; comparable '
                                  'only with itself, never with E*warp.'),
}
CPU_METRICS = ('psnr', 'ssim', 'niqe', 'tof_farneback')  # numpy/OpenCV: run in worker processes
NETWORK_WEIGHTS = {'lpips': 'vgg', 'dists': 'vgg', 'tlp': 'vgg', 'tof': 'raft', 'ewarp': 'raft'}


def resolve_metric_names(requested: Sequence[str], flow: str = 'raft') -> List[str]:
    """``--metrics`` names -> metric keys; with ``flow='farneback'``, tof/ewarp become their Farneback variants."""
    names = []
    for name in requested:
        name = name.strip().lower()
        if flow == 'farneback' and name in ('tof', 'ewarp'):
            name = f'{name}_farneback'
        if name not in SPECS:
            raise ValueError(f'Unknown metric {name!r} in --metrics; choose from {", ".join(SPECS)}.')
        if name not in names:
            names.append(name)
    return names


def cpu_frame_metrics(names: Sequence[str], sr: Sequence[np.ndarray], gt: Sequence[np.ndarray], crop_border: int,
                      y_channel: bool) -> Dict[str, List[float]]:
    """PSNR / SSIM / NIQE per frame and Farneback tOF per pair of one chunk (runs in a worker process)."""
    out: Dict[str, List[float]] = {}
    for name in names:
        if name == 'psnr':
            out[name] = [calculate_psnr(s, g, crop_border, test_y_channel=y_channel) for s, g in zip(sr, gt)]
        elif name == 'ssim':
            out[name] = [calculate_ssim(s, g, crop_border, test_y_channel=y_channel) for s, g in zip(sr, gt)]
        elif name == 'niqe':
            out[name] = [float(calculate_niqe(s, crop_border)) for s in sr]
        elif name == 'tof_farneback':
            out[name] = list(SPECS[name].scale * tof_farneback_per_pair(sr, gt, crop_border))
    return out


@dataclass
class NetworkMetrics:
    """Batched network metrics (LPIPS, DISTS, tLP, RAFT tOF, E*warp) for one device; GT work cached per sequence.

    Networks are built (and weights checked) in ``__init__``, before any frame is read.
    """

    names: Sequence[str]
    device: torch.device
    crop_border: int = 0
    batch_size: int = 8
    vgg_weights: Optional[str] = None
    raft_model: str = 'large'
    raft_weights: Optional[str] = None
    num_flow_updates: int = 12
    random_weights: bool = False  # tests only
    _gt: Dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self):
        vgg = dict(device=self.device, trunk_path=self.vgg_weights, random_trunk=self.random_weights)
        self.lpips = get_lpips_network(**vgg) if {'lpips', 'tlp'} & set(self.names) else None
        self.dists = get_network('dists_vgg', build_dists_vgg, **vgg) if 'dists' in self.names else None
        raft = dict(device=self.device, raft_model=self.raft_model, raft_weights=self.raft_weights,
                    random_weights=self.random_weights, num_flow_updates=self.num_flow_updates)
        self.tof_flow = make_flow_fn('raft', normalize=False, **raft) if 'tof' in self.names else None
        self.ewarp_flow = make_flow_fn('raft', **raft) if 'ewarp' in self.names else None

    def new_sequence(self, gt: Sequence[np.ndarray]) -> None:
        """Set the GT frames of the next sequence (drops the previous sequence's cache)."""
        self._gt = {'rgb': self._tensor(gt)}

    def _tensor(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.cat([image_to_tensor(f, self.crop_border, device=self.device) for f in frames])

    def _cached(self, key: str, compute) -> torch.Tensor:
        if key not in self._gt:
            self._gt[key] = compute()
        return self._gt[key]

    def _per_frame(self, net, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([net(x[i:i + self.batch_size], y[i:i + self.batch_size])
                              for i in range(0, x.shape[0], self.batch_size)])

    def _lpips(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return self._per_frame(self.lpips, sr * 2 - 1, gt * 2 - 1)

    def _dists(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        return self._per_frame(self.dists, sr, gt)

    def _tlp(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        d_gt = self._cached('tlp', lambda: consecutive_lpips(self.lpips, gt * 2 - 1, self.batch_size))
        return (d_gt - consecutive_lpips(self.lpips, sr * 2 - 1, self.batch_size)).abs()

    def _tof(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        f_gt = self._cached('tof', lambda: backward_pair_flows(self.tof_flow, gt, self.batch_size))
        return tof_per_pair(self.tof_flow, sr, gt, self.batch_size, gt_flows=f_gt)

    def _warp_error(self, sr: torch.Tensor, gt: torch.Tensor, key: str, flow_fn: FlowFn) -> torch.Tensor:
        flows = self._cached(key, lambda: torch.stack(forward_backward_flows(flow_fn, gt, self.batch_size)))
        return warp_error_per_pair(sr, flows[0], flows[1])

    def __call__(self, sr_frames: Sequence[np.ndarray]) -> Dict[str, List[float]]:
        """Every requested network metric of ``sr_frames`` against the current GT, scaled."""
        compute = {
            'lpips': self._lpips, 'dists': self._dists, 'tlp': self._tlp, 'tof': self._tof,
            'ewarp': lambda s, g: self._warp_error(s, g, 'ewarp', self.ewarp_flow),
            'ewarp_farneback': lambda s, g: self._warp_error(s, g, 'ewarp_farneback', farneback_flow_fn),
        }
        sr, gt = self._tensor(sr_frames), self._gt['rgb']
        out = {}
        for name in self.names:
            if name in compute:
                values = compute[name](sr, gt).double().cpu().tolist()
                out[name] = [SPECS[name].scale * v for v in values]
        return out
