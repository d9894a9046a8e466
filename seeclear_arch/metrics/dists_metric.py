"""DISTS (Ding et al., TPAMI 2020), registered as ``calculate_dists``.

Re-implements ``DISTS_pytorch.DISTS`` (whose constructor downloads VGG16): torchvision's VGG16 trunk loaded offline
by ``vgg_trunk`` with max-pooling replaced by L2 pooling, and the package's learned ``weights.pt`` (alpha, beta).
The state dict matches the package class. Lower is better.

yml::

    dists: {type: calculate_dists, crop_border: 0}   # optional: device, trunk_path
"""
import importlib.util
import os
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from basicsr.utils.registry import METRIC_REGISTRY
from torch import nn

from seeclear_arch.metrics.vgg_trunk import build_vgg16_features, get_network, pair_distance, split_stages

DISTS_BOUNDS = (0, 4, 9, 16, 23, 30)
DISTS_POOLS = ((4, 64), (9, 128), (16, 256), (23, 512))  # (VGG index of the max-pool, channels)
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)  # image, relu1_2, relu2_2, relu3_3, relu4_3, relu5_3


def default_dists_weights_path() -> str:
    """The ``dists-pytorch`` package's shipped alpha/beta (``DISTS_pytorch/weights.pt``)."""
    spec = importlib.util.find_spec('DISTS_pytorch')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('DISTS weights need the `dists-pytorch` package (pip install dists-pytorch==0.1).')
    return os.path.join(spec.submodule_search_locations[0], 'weights.pt')


class L2Pooling(nn.Module):
    """L2 pooling sqrt(g * x^2) with a normalised 3x3 Hanning window g, stride 2 (replaces VGG's max-pooling)."""

    def __init__(self, channels: int, filter_size: int = 5, stride: int = 2):
        super().__init__()
        self.stride = stride
        self.padding = (filter_size - 2) // 2
        a = np.hanning(filter_size)[1:-1]
        g = torch.tensor(a[:, None] * a[None, :], dtype=torch.float32)
        g = g / g.sum()
        self.register_buffer('filter', g[None, None].repeat(channels, 1, 1, 1))  # (C, 1, k, k), depthwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x ** 2, self.filter, stride=self.stride, padding=self.padding, groups=x.shape[1])
        return (out + 1e-12).sqrt()


def texture_structure(fx: torch.Tensor, fy: torch.Tensor, c1: float = 1e-6,
                      c2: float = 1e-6) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel texture l(x, y) (means) and structure s(x, y) (covariance) terms, each (B, C, 1, 1)."""
    mx, my = fx.mean((2, 3), keepdim=True), fy.mean((2, 3), keepdim=True)
    texture = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
    vx = ((fx - mx) ** 2).mean((2, 3), keepdim=True)
    vy = ((fy - my) ** 2).mean((2, 3), keepdim=True)
    cov = (fx * fy).mean((2, 3), keepdim=True) - mx * my
    structure = (2 * cov + c2) / (vx + vy + c2)
    return texture, structure


class DISTSVGG(nn.Module):
    """D(x, y) = 1 - sum_{i,j} (alpha_ij l(x_ij, y_ij) + beta_ij s(x_ij, y_ij)), alpha + beta normalised to sum 1.

    Args:
        features: VGG16 ``features`` (``vgg_trunk.build_vgg16_features``); its max-pools are replaced.
        weights_path: ``{'alpha', 'beta'}`` of shape (1, 1475, 1, 1). Default: the package's weights.pt.
    """

    def __init__(self, features: nn.Sequential, weights_path: Optional[str] = None):
        super().__init__()
        stages = split_stages(features, DISTS_BOUNDS)
        for stage, (index, channels) in zip(stages[1:], DISTS_POOLS):
            setattr(stage, str(index), L2Pooling(channels))
        self.stage1, self.stage2, self.stage3, self.stage4, self.stage5 = stages  # package state-dict names
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
        weights = torch.load(weights_path or default_dists_weights_path(), map_location='cpu', weights_only=True)
        self.register_buffer('alpha', weights['alpha'].float())
        self.register_buffer('beta', weights['beta'].float())

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """[x, relu1_2, ..., relu5_3] of ``x`` (B, 3, H, W), RGB in [0, 1]."""
        h = (x - self.mean) / self.std
        feats = [x]
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5):
            h = stage(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample DISTS (B,)."""
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, DISTS_CHANNELS, dim=1)
        betas = torch.split(self.beta / w_sum, DISTS_CHANNELS, dim=1)
        similarity = 0
        for fx, fy, a, b in zip(self.features(x), self.features(y), alphas, betas):
            texture, structure = texture_structure(fx, fy)
            similarity = similarity + (a * texture).sum(1) + (b * structure).sum(1)  # (B, 1, 1)
        return 1 - similarity.flatten()


def build_dists_vgg(trunk_path: Optional[str] = None, random_trunk: bool = False) -> DISTSVGG:
    """DISTS with the package alpha/beta and the offline VGG16 trunk (``random_trunk`` is for tests only)."""
    return DISTSVGG(build_vgg16_features(trunk_path, random_trunk))


@METRIC_REGISTRY.register()
def calculate_dists(img: np.ndarray, img2: np.ndarray, crop_border: int, input_order: str = 'HWC',
                    device: Union[str, torch.device] = 'cpu', trunk_path: Optional[str] = None,
                    random_trunk: bool = False, **kwargs) -> float:
    """DISTS between two BGR images in [0, 255] (BasicSR validation convention). Lower is better.

    Args:
        img, img2: HWC (or CHW, see ``input_order``) BGR images, uint8 or float in [0, 255].
        crop_border: pixels removed at each edge before the metric.
        device: where the network runs. Default 'cpu'.
        trunk_path: VGG16 checkpoint; default ``$SEECLEAR_VGG16_PATH`` or the torch hub cache.
        random_trunk: tests only: random VGG16 weights instead of the checkpoint.
    """
    net = get_network('dists_vgg', build_dists_vgg, device, trunk_path, random_trunk)
    return pair_distance(net, img, img2, crop_border, input_order, device)
