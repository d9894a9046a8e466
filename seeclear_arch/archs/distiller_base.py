"""The Semantic Distiller interface shared by every backend (paper Eqs. 8-9).

A distiller maps LR frames to per-frame instance tokens ``O_i`` and pixel-level segmentation
features ``P_i``::

    tokens, seg = distiller(frames)   # frames: (N, 3, h, w) RGB in [0, 1]
    tokens: (N, num_tokens, token_dim)   top-k instance tokens O_i
    seg:    (N, seg_dim, h', w')         segmentation features P_i (any h', w'; users resize)

Backends are registered in ARCH_REGISTRY and built from a yml dict. Pretrained backends are
frozen (``trainable = False``: no gradients, always eval mode); the light learned encoder is
trainable. The Pixel Condenser calls the distiller once per clip, never per diffusion step.
"""
import torch
from torch import nn


class SemanticDistiller(nn.Module):
    """Base class: subclasses set ``num_tokens``, ``token_dim``, ``seg_dim`` and ``trainable``."""

    num_tokens: int
    token_dim: int
    seg_dim: int
    trainable: bool = False

    def freeze(self) -> 'SemanticDistiller':
        """Freeze all parameters; used by pretrained backends."""
        for p in self.parameters():
            p.requires_grad_(False)
        self.trainable = False
        return self.train(False)

    def train(self, mode: bool = True) -> 'SemanticDistiller':
        # a frozen distiller stays in eval mode (BatchNorm/Dropout) whatever the parent does
        return super().train(mode and self.trainable)

    def forward(self, frames: torch.Tensor) -> tuple:  # pragma: no cover - interface
        raise NotImplementedError
