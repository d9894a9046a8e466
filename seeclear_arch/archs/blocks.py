"""Building blocks of the Pixel Condenser (App. C): timestep embedding, time-conditioned residual block,
the basic unit (window self-attention then channel self-attention, alternating with two residual
blocks), and a pre-norm token transformer block used by InCAM's instance encoder/decoder and CaTeGory.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from seeclear_arch.archs.attention import ChannelAttention, MultiHeadAttention, WindowAttention


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (B,) float steps -> (B, dim) (DDPM/Transformer style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def conv_weights_channels_last(module: nn.Module, skip: Optional[nn.Module] = None) -> None:
    """Store the weights of ``module``'s 2D convolutions (not ``skip``'s) channels-last, the layout of the features
    they see; otherwise oneDNN re-lays each weight out at every call (docs/performance.md)."""
    skipped = set(skip.modules()) if skip is not None else set()
    for conv in module.modules():
        if isinstance(conv, nn.Conv2d) and conv not in skipped:
            conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)


def group_norm(ch: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups that divide ``ch``, at least 4 channels per group when possible
    (so 1x1 maps still normalise over several values)."""
    groups = max(g for g in range(1, max(1, min(32, ch // 4)) + 1) if ch % g == 0)
    return nn.GroupNorm(groups, ch)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (B, C, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ResBlock(nn.Module):
    """Residual block that injects the timestep (degradation level) embedding as scale and shift."""

    def __init__(self, ch: int, time_dim: int):
        super().__init__()
        self.block1 = nn.Sequential(group_norm(ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, 1, 1))
        self.time = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * ch))
        self.norm2 = group_norm(ch)
        self.block2 = nn.Sequential(nn.SiLU(), nn.Conv2d(ch, ch, 3, 1, 1))

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.time(temb)[:, :, None, None].chunk(2, dim=1)  # (N, C, 1, 1) each
        h = self.block1(x)
        h = self.norm2(h) * (1 + scale) + shift
        return x + self.block2(h)


class FeedForward2d(nn.Module):
    """Pointwise MLP on (B, C, H, W) with a depthwise 3x3 conv (Restormer-like)."""

    def __init__(self, ch: int, ratio: float = 2.0):
        super().__init__()
        hidden = int(ch * ratio)
        self.net = nn.Sequential(nn.Conv2d(ch, hidden, 1), nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden),
                                 nn.GELU(), nn.Conv2d(hidden, ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AttentionBlock2d(nn.Module):
    """Pre-norm residual ``x + attn(LN(x))`` then ``x + FFN(LN(x))`` around a (B, C, H, W) attention."""

    def __init__(self, ch: int, attn: nn.Module, ffn_ratio: float):
        super().__init__()
        self.norm1, self.attn = LayerNorm2d(ch), attn
        self.norm2, self.ffn = LayerNorm2d(ch), FeedForward2d(ch, ffn_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class CondenserUnit(nn.Module):
    """The basic unit: ResBlock(t) -> window self-attention -> ResBlock(t) -> channel self-attention."""

    def __init__(self, ch: int, time_dim: int, num_heads: int, window_size: int, ffn_ratio: float):
        super().__init__()
        self.res1 = ResBlock(ch, time_dim)
        self.window_attn = AttentionBlock2d(ch, WindowAttention(ch, num_heads, window_size), ffn_ratio)
        self.res2 = ResBlock(ch, time_dim)
        self.channel_attn = AttentionBlock2d(ch, ChannelAttention(ch, num_heads), ffn_ratio)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        x = self.window_attn(self.res1(x, temb))
        return self.channel_attn(self.res2(x, temb))


class TokenBlock(nn.Module):
    """Pre-norm transformer block on tokens (B, N, dim): optional self-attention, optional
    cross-attention to ``context`` (B, M, dim), then an MLP; each residual."""

    def __init__(self, dim: int, num_heads: int, self_attn: bool = True, cross_attn: bool = False,
                 mlp_ratio: float = 2.0):
        super().__init__()
        self.norm_sa = nn.LayerNorm(dim) if self_attn else None
        self.sa = MultiHeadAttention(dim, num_heads) if self_attn else None
        self.norm_ca = nn.LayerNorm(dim) if cross_attn else None
        self.ca = MultiHeadAttention(dim, num_heads) if cross_attn else None
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(),
                                 nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.sa is not None:
            x = x + self.sa(self.norm_sa(x))
        if self.ca is not None:
            x = x + self.ca(self.norm_ca(x), context)
        return x + self.mlp(x)
