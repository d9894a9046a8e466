"""LPIPS v0.1 with a VGG16 trunk (Zhang et al., CVPR 2018), registered as ``calculate_lpips``.

The linear heads are the ``lpips`` package's shipped ``weights/v0.1/vgg.pth``; the trunk is torchvision's VGG16,
loaded offline by ``vgg_trunk`` (see there for where ``vgg16-397923af.pth`` must be). Same computation as
``lpips.LPIPS(net='vgg')``, without its download path or prints. Lower is better.

yml::

    lpips: {type: calculate_lpips, crop_border: 0}   # optional: device, trunk_path
"""
import importlib.util
import os
from typing import List, Optional, Union

import numpy as np
import torch
from basicsr.utils.registry import METRIC_REGISTRY
from torch import nn

from seeclear_arch.metrics.vgg_trunk import (
    build_vgg16_features,
    get_network,
    image_to_tensor,
    pair_distance,
    split_stages,
)

LPIPS_BOUNDS = (0, 4, 9, 16, 23, 30)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
LPIPS_CHANNELS = (64, 128, 256, 512, 512)


def default_heads_path() -> str:
    """The ``lpips`` package's calibrated VGG heads (no import of the package needed)."""
    spec = importlib.util.find_spec('lpips')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('LPIPS heads need the `lpips` package (pip install lpips==0.1.4).')
    return os.path.join(spec.submodule_search_locations[0], 'weights', 'v0.1', 'vgg.pth')


def unit_normalize(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Normalise each spatial feature vector to unit length over channels (LPIPS Eq. 1)."""
    return feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPSVGG(nn.Module):
    """LPIPS distance d(x, y) = sum_l mean_hw || w_l * (x_hat_l - y_hat_l) ||^2 on VGG16 relu{1_2..5_3}.

    Args:
        features: VGG16 ``features`` (``vgg_trunk.build_vgg16_features``).
        heads_path: state dict with ``lin{l}.model.1.weight``. Default: the ``lpips`` package's vgg.pth.
    """

    def __init__(self, features: nn.Sequential, heads_path: Optional[str] = None):
        super().__init__()
        self.register_buffer('shift', torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1))
        self.register_buffer('scale', torch.tensor([.458, .448, .450]).view(1, 3, 1, 1))
        self.slices = split_stages(features, LPIPS_BOUNDS)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in LPIPS_CHANNELS)
        heads = torch.load(heads_path or default_heads_path(), map_location='cpu', weights_only=True)
        for k, lin in enumerate(self.lins):
            lin.weight.data.copy_(heads[f'lin{k}.model.1.weight'])

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Unit-normalised trunk features of ``x`` (B, 3, H, W), RGB in [-1, 1]."""
        h = (x - self.shift) / self.scale
        feats = []
        for stage in self.slices:
            h = stage(h)
            feats.append(unit_normalize(h))
        return feats

    def distance(self, feats_x: List[torch.Tensor], feats_y: List[torch.Tensor]) -> torch.Tensor:
        """Per-sample distance (B,) between two outputs of ``features``."""
        dist = 0
        for lin, fx, fy in zip(self.lins, feats_x, feats_y):
            dist = dist + lin((fx - fy) ** 2).mean(dim=(2, 3))  # (B, 1)
        return dist.flatten()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.distance(self.features(x), self.features(y))


def build_lpips_vgg(trunk_path: Optional[str] = None, random_trunk: bool = False) -> LPIPSVGG:
    """LPIPS-VGG with the package heads and the offline VGG16 trunk (``random_trunk`` is for tests only)."""
    return LPIPSVGG(build_vgg16_features(trunk_path, random_trunk))


def get_lpips_network(device: Union[str, torch.device] = 'cpu', trunk_path: Optional[str] = None,
                      random_trunk: bool = False) -> LPIPSVGG:
    """The cached LPIPS-VGG for this device and trunk (built on first use)."""
    return get_network('lpips_vgg', build_lpips_vgg, device, trunk_path, random_trunk)


def to_lpips_input(img: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                   device: Union[str, torch.device] = 'cpu') -> torch.Tensor:
    """BasicSR BGR [0, 255] image -> LPIPS input: RGB (1, 3, H, W) in [-1, 1]."""
    return image_to_tensor(img, crop_border, input_order, device) * 2 - 1


@METRIC_REGISTRY.register()
def calculate_lpips(img: np.ndarray, img2: np.ndarray, crop_border: int, input_order: str = 'HWC',
                    device: Union[str, torch.device] = 'cpu', trunk_path: Optional[str] = None,
                    random_trunk: bool = False, **kwargs) -> float:
    """LPIPS (VGG) between two BGR images in [0, 255] (BasicSR validation convention). Lower is better.

    Args:
        img, img2: HWC (or CHW, see ``input_order``) BGR images, uint8 or float in [0, 255].
        crop_border: pixels removed at each edge before the metric.
        device: where the network runs. Default 'cpu'.
        trunk_path: VGG16 checkpoint; default ``$SEECLEAR_VGG16_PATH`` or the torch hub cache.
        random_trunk: tests only: random VGG16 weights instead of the checkpoint.
    """
    net = get_lpips_network(device, trunk_path, random_trunk)
    return pair_distance(net, img, img2, crop_border, input_order, device, to_lpips_input)
