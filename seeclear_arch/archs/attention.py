"""One attention primitive over ``F.scaled_dot_product_attention`` and the thin modules that reshape
into it: multi-head self/cross attention on token sequences, window and multi-frame 3D-window self
attention (Swin/PSRT style) and channel ("transposed", Restormer-style) self-attention.

All of them end in :func:`attend`, whose inputs are (B, heads, N, d). Cross-attention to a context that is fixed
for a clip (tokens, memory textures) takes its keys/values precomputed (``kv``, from ``project_kv``), so the
per-clip condition projects them once instead of at every sampler step.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from seeclear_arch.archs.window import pad_to_multiple, window_partition, window_reverse

KV = Tuple[torch.Tensor, torch.Tensor]  # keys, values (B, heads, M, d) of a context


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None,
           scale: Optional[float] = None, dropout: float = 0.0) -> torch.Tensor:
    """Softmax attention ``softmax(q k^T * scale + mask) v`` with SDPA.

    Args:
        q: (B, heads, N, d); k, v: (B, heads, M, d) (v may have its own last dim).
        mask: boolean (True = attend) or additive float mask broadcastable to (B, heads, N, M).
        scale: logit scale, default ``1 / sqrt(d)``.
        dropout: attention dropout probability (pass 0 at eval).
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scale)


class MultiHeadAttention(nn.Module):
    """Multi-head attention of ``x`` (B, N, dim) to ``context`` (B, M, context_dim) (self-attention when
    ``context`` is None); returns (B, N, dim)."""

    def __init__(self, dim: int, num_heads: int, context_dim: Optional[int] = None, attn_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def project_kv(self, context: torch.Tensor) -> KV:
        """Keys and values of ``context`` (B, M, context_dim), each (B, heads, M, d)."""
        k, v = rearrange(self.to_kv(context), 'b m (two h d) -> two b h m d', two=2, h=self.num_heads)
        return k, v

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None, kv: Optional[KV] = None) -> torch.Tensor:
        """``kv``: :meth:`project_kv` of the context, computed beforehand (``context`` is then unused)."""
        q = rearrange(self.to_q(x), 'b n (h d) -> b h n d', h=self.num_heads)
        k, v = self.project_kv(x if context is None else context) if kv is None else kv
        out = attend(q, k, v, mask, dropout=self.attn_drop if self.training else 0.0)
        return self.proj(rearrange(out, 'b h n d -> b n (h d)'))


class WindowAttention3D(nn.Module):
    """Self-attention inside non-overlapping (wd, wh, ww) windows of (B, D, C, H, W) features.

    Windows larger than the input shrink to it; otherwise the input is zero-padded to a multiple of the
    window and padded keys are masked out, so any size works. With ``window[0]`` >= D the windows span the
    whole clip in time: PSRT-style multi-frame self-attention (MFSA).
    """

    def __init__(self, dim: int, num_heads: int, window: Tuple[int, int, int]):
        super().__init__()
        self.window = tuple(window)
        self.attn = MultiHeadAttention(dim, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, c, h, w = x.shape
        window = tuple(min(s, n) for s, n in zip(self.window, (d, h, w)))
        feat = x.permute(0, 1, 3, 4, 2)  # (B, D, H, W, C)
        feat, valid = pad_to_multiple(feat, window)
        windows = window_partition(feat, window)  # (B*nW, wd*wh*ww, C)
        mask = None  # without padding every key is valid: no mask, which spares SDPA its masked path (same output)
        if tuple(feat.shape[1:4]) != (d, h, w):
            mask = window_partition(valid, window)[:, None, None, :, 0]  # (B*nW, 1, 1, wd*wh*ww) keys
        out = window_reverse(self.attn(windows, mask=mask), window, feat.shape[1:4])  # (B, Dp, Hp, Wp, C)
        return out[:, :d, :h, :w].permute(0, 1, 4, 2, 3)  # (B, D, C, H, W)


class WindowAttention(WindowAttention3D):
    """Spatial window self-attention on (B, C, H, W): :class:`WindowAttention3D` with a depth-1 window."""

    def __init__(self, dim: int, num_heads: int, window_size: int):
        super().__init__(dim, num_heads, (1, window_size, window_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x[:, None])[:, 0]  # (B, 1, C, H, W) -> (B, C, H, W)


def channel_attention_map(q: torch.Tensor, k: torch.Tensor, num_heads: int,
                          temperature: torch.Tensor) -> torch.Tensor:
    """Restormer's transposed attention map ``softmax(tau_j * q_hat_j k_hat_j^T)`` per head j, float32.

    q, k: (B, C, N), channels as tokens of N pixels, in any memory layout (channels-last views work without a copy);
    q_hat, k_hat are q, k L2-normalised over the pixels (``F.normalize``, eps 1e-12). Returns (B, heads, c, c) with
    c = C / heads. Computed as the unnormalised per-head Gram matrix divided by the outer product of the norms, which
    is the same product in another order (equal up to float rounding) without normalised copies of q and k.
    """
    c = q.shape[1] // num_heads
    gram = torch.stack([torch.bmm(q[:, i * c:(i + 1) * c], k[:, i * c:(i + 1) * c].transpose(1, 2))
                        for i in range(num_heads)], dim=1).float()  # (B, heads, c, c)
    qn = torch.linalg.vector_norm(q, dim=2, dtype=torch.float32).clamp_min(1e-12).unflatten(1, (num_heads, c))
    kn = torch.linalg.vector_norm(k, dim=2, dtype=torch.float32).clamp_min(1e-12).unflatten(1, (num_heads, c))
    logits = gram / (qn[..., :, None] * kn[..., None, :]) * temperature.float()
    return logits.softmax(dim=-1)


class ChannelAttention(nn.Module):
    """Restormer-style transposed self-attention on (B, C, H, W): tokens are channels, each of dimension
    H*W; q and k are L2-normalised over pixels and scaled by a learned per-head temperature, then the output
    projection (a 1x1 conv).

    The per-head attention maps are c x c, so applying them and the projection is folded into one C x C matrix per
    frame, ``blockdiag(A_j^T) W_proj^T``, applied to v in a single matmul (fewer FLOPs than attention-then-projection,
    same result up to float rounding). The output has the input's memory layout (channels-last in, channels-last out).
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.qkv_dw = nn.Conv2d(3 * dim, 3 * dim, 3, 1, 1, groups=3 * dim)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, ch, h, w = x.shape
        q, k, v = self.qkv_dw(self.qkv(x)).flatten(2).chunk(3, dim=1)  # (B, C, N) views, no copies
        attn = channel_attention_map(q, k, self.num_heads, self.temperature)  # (B, heads, c, c)
        c = ch // self.num_heads
        weight = self.proj.weight.view(ch, ch).t().reshape(self.num_heads, c, ch)  # W_proj^T by head rows
        fused = torch.matmul(attn.transpose(-1, -2).to(v.dtype), weight.to(v.dtype)).reshape(b, ch, ch)
        bias = self.proj.bias.to(v.dtype)
        if x.is_contiguous(memory_format=torch.channels_last):  # out^T = v^T (fused), pixels-major: channels-last
            out = torch.baddbmm(bias, v.transpose(1, 2), fused)  # (B, N, C)
            return out.view(b, h, w, ch).permute(0, 3, 1, 2)
        return torch.baddbmm(bias[:, None], fused.transpose(1, 2), v).view(b, ch, h, w)


class CrossAttention2d(nn.Module):
    """Cross-attention of every pixel of (B, C, H, W) features to tokens (B, M, context_dim)."""

    def __init__(self, dim: int, num_heads: int, context_dim: int):
        super().__init__()
        self.attn = MultiHeadAttention(dim, num_heads, context_dim)

    def project_kv(self, context: torch.Tensor) -> KV:
        return self.attn.project_kv(context)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None,
                kv: Optional[KV] = None) -> torch.Tensor:
        """``context`` (B, M, context_dim), or its :meth:`project_kv` as ``kv``."""
        h, w = x.shape[-2:]
        out = self.attn(rearrange(x, 'b c y x -> b (y x) c'), context, kv=kv)
        return rearrange(out, 'b (y x) c -> b c y x', y=h, x=w)
