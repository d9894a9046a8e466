"""The condition ``y`` of the diffusion (HR size, [0, 1]): bicubic upsampling, or a frozen base network (SeeClear*).

SeeClear conditions on the bicubic-upsampled LR frames; SeeClear* (Algorithm 1, line 1; VRT there, any BasicSR
network here, docs/formulation.md D10) on the output of a frozen, pretrained SR network. :class:`Condition` owns
that choice, the base network and how frames are fed to it, for ``SeeClearModel`` (training and sampling) and
``seeclear_arch.data.condition_cache`` (the base network's outputs on whole training frames, cached once, so
training crops see what the whole-frame test sees).

yml (top level of a SeeClearModel experiment)::

    network_base: {type: DATLight, upscale: 4}   # any BasicSR arch; absent: bicubic
    base_mode: image                             # sequence | sliding | image
    path: {pretrain_network_base: ~, param_key_base: params, strict_load_base: true}
"""
from os import path as osp
from typing import Optional

import torch
import torch.nn.functional as F
from basicsr.archs import build_network
from basicsr.utils import get_root_logger
from torch import nn

from seeclear_arch.sampling.clips import window_indices

BASE_MODES = ('sequence', 'sliding', 'image')


def bicubic_upsample(lq: torch.Tensor, scale: int) -> torch.Tensor:
    """``(B, m, C, h, w)`` -> ``(B, m, C, scale*h, scale*w)``, bicubic, clamped to [0, 1]."""
    b, m = lq.shape[:2]
    up = F.interpolate(lq.flatten(0, 1), scale_factor=scale, mode='bicubic', align_corners=False)
    return up.clamp(0, 1).view(b, m, *up.shape[1:])


def load_base_weights(net: nn.Module, load_path: str, strict: bool = True, param_key: Optional[str] = 'params') -> None:
    """Load a BasicSR checkpoint (``{param_key: state_dict}`` or a bare state dict, ``module.`` prefixes dropped)."""
    if not osp.isfile(load_path):
        raise FileNotFoundError(f'path.pretrain_network_base: {load_path} does not exist (when resuming, list '
                                'network_base in path.ignore_resume_networks).')
    state = torch.load(load_path, map_location='cpu', weights_only=True)
    if param_key is not None and param_key in state:
        state = state[param_key]
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    net.load_state_dict(state, strict=strict)


def build_base_network(opt: dict, device: torch.device) -> Optional[nn.Module]:
    """The frozen ``network_base`` of an experiment's options (None without one), in eval mode, no gradients."""
    base_opt = opt.get('network_base')
    if base_opt is None:
        return None
    if opt.get('base_mode', 'sequence') not in BASE_MODES:
        raise ValueError(f"base_mode must be one of {BASE_MODES}, got {opt['base_mode']!r}")
    net = build_network(dict(base_opt))
    path_opt = opt.get('path') or {}
    load_path = path_opt.get('pretrain_network_base')
    if load_path is not None:
        load_base_weights(net, load_path, path_opt.get('strict_load_base', True), path_opt.get('param_key_base',
                                                                                               'params'))
    elif not getattr(net, 'has_weights', False):
        get_root_logger().warning('network_base has no path.pretrain_network_base: using random weights.')
    return net.to(device).eval().requires_grad_(False)


class Condition:
    """``y = condition(lq)``: LR frames ``(B, n, C, h, w)`` in [0, 1] -> ``(B, n, C, scale*h, scale*w)`` in [0, 1].

    Args:
        scale: SR factor.
        base: frozen base network (None: bicubic).
        mode: how ``base`` sees the frames: ``sequence`` all frames in, all out (BasicVSR, IconVSR, BasicVSR++);
            ``sliding`` a window of ``window`` frames per output frame, reflection at the ends, centre frame out
            (EDVR, TDAN); ``image`` one frame at a time (DATLight, SwinIR, RRDBNet, HAT, ...).
        window: frames per window in ``sliding`` mode.
    """

    def __init__(self, scale: int, base: Optional[nn.Module] = None, mode: str = 'sequence', window: int = 5):
        if mode not in BASE_MODES:
            raise ValueError(f'base_mode must be one of {BASE_MODES}, got {mode!r}')
        self.scale, self.base, self.mode, self.window = int(scale), base, mode, int(window)

    @classmethod
    def from_opt(cls, opt: dict, device: torch.device) -> 'Condition':
        """From an experiment's options: ``scale``, ``network_base``, ``base_mode``, ``path.*_base``."""
        base = build_base_network(opt, device)
        window = int((opt.get('network_base') or {}).get('num_frame', 5))
        return cls(int(opt.get('scale', 4)), base, opt.get('base_mode', 'sequence'), window)

    def __repr__(self) -> str:
        if self.base is None:
            return f'Condition(bicubic x{self.scale})'
        return f'Condition({type(self.base).__name__}, base_mode={self.mode})'

    @torch.no_grad()
    def __call__(self, lq: torch.Tensor) -> torch.Tensor:
        if self.base is None:
            return bicubic_upsample(lq, self.scale)
        n = lq.size(1)
        if self.mode == 'sequence':
            out = self.base(lq)
        elif self.mode == 'image':
            out = torch.stack([self.base(lq[:, i]) for i in range(n)], dim=1)
        else:
            out = torch.stack([self.base(lq[:, window_indices(i, n, self.window)]) for i in range(n)], dim=1)
        return out.float().clamp(0, 1)
