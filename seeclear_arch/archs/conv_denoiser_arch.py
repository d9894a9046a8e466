from typing import Any, Optional

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from seeclear_arch.archs.denoiser import ClipDenoiser


@ARCH_REGISTRY.register()
class SeeClearConvDenoiser(ClipDenoiser):
    """A tiny per-frame convolutional x0 predictor: a baseline and a worked example of the
    denoiser interface (``seeclear_arch.archs.denoiser``) for swapping networks.

    It sees ``[x_t, y]`` on channels plus a learned per-step bias, and predicts a residual
    over ``y``. No temporal or semantic modelling: use it for tests and ablations.

    Args:
        num_in_ch: image channels. Default 3.
        num_feat: feature width. Default 32.
        num_block: number of conv-ReLU-conv residual blocks. Default 2.
        num_timesteps: size of the step embedding table (>= the schedule's T). Default 1000.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 32, num_block: int = 2, num_timesteps: int = 1000):
        super().__init__()
        self.head = nn.Conv2d(2 * num_in_ch, num_feat, 3, 1, 1)
        self.t_embed = nn.Embedding(num_timesteps + 1, num_feat)
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.ReLU(inplace=True),
                          nn.Conv2d(num_feat, num_feat, 3, 1, 1)) for _ in range(num_block))
        self.tail = nn.Conv2d(num_feat, num_in_ch, 3, 1, 1)

    def forward(self, x_t: torch.Tensor, y: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
                cond: Optional[Any] = None) -> torch.Tensor:
        b, m, c, h, w = x_t.shape
        feat = self.head(torch.cat([x_t, y], dim=2).flatten(0, 1))  # (B*m, F, H, W)
        temb = self.t_embed(t.round().long().clamp(0, self.t_embed.num_embeddings - 1))  # (B, F)
        feat = feat + temb.repeat_interleave(m, dim=0)[:, :, None, None]
        for block in self.body:
            feat = feat + block(feat)
        return y + self.tail(feat).view(b, m, c, h, w)
