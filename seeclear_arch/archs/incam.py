"""Instance-Centric Alignment Module, InCAM (paper Sec. 3.2, Eqs. 10-15, Algorithm 1 lines 24-37).

Split into the pieces the ablations of Table 2 switch separately:

* :class:`SemanticModulation` (``use_semantic``): Eqs. 10-13, per frame.
* :class:`ClipTokens` (``use_incam``, ``use_category`` or ``incam_tokens: clip``): Eq. 14,
  ``O_c = Dec(Enc(O_i), O_hat)``.
* :class:`InstanceActivation` (``use_incam``): the ``O_c . F_hat`` product of Eq. 15.
* :class:`MultiFrameAttention` (``use_mfsa``): the MFSA of Eq. 15, PSRT-style 3D windows over the clip.

Readings of the equations (docs/formulation.md D5, D19-D21): the tokens of Eq. 12, the gate that reads Eq. 15's
product, ``G``'s layer order, pre-LayerNorm residual cross-attention.

What depends only on the clip (``G(P_i)``, the keys/values of the tokens) is computed by each module's ``prepare``
once per clip (``SeeClearNet.encode_condition``) and passed to ``forward`` at every sampler step.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from seeclear_arch.archs.attention import KV, CrossAttention2d, WindowAttention3D
from seeclear_arch.archs.blocks import LayerNorm2d, TokenBlock, timestep_embedding

WHOLE_CLIP = 1 << 30  # temporal window length meaning "every frame of the clip"


class SemanticModulation(nn.Module):
    """Eqs. 10-13 on (N, C, H, W) features of N frames.

    ``(gamma, beta) = G(P_i)`` with G = conv3x3 -> ReLU -> conv3x3 (the paper's "two convolutional layers
    followed by a ReLU"; the ReLU sits between them so gamma and beta can be negative, as in SFT), then
    ``F = f * gamma + beta + f`` and ``F_hat = F + CA(LN(F), O_i)`` (Eq. 13 with a residual connection).
    """

    def __init__(self, ch: int, seg_dim: int, token_dim: int, num_heads: int):
        super().__init__()
        self.generator = nn.Sequential(nn.Conv2d(seg_dim, ch, 3, 1, 1), nn.ReLU(inplace=True),
                                       nn.Conv2d(ch, 2 * ch, 3, 1, 1))
        self.norm = LayerNorm2d(ch)
        self.cross = CrossAttention2d(ch, num_heads, token_dim)

    def prepare(self, seg: torch.Tensor, size: Tuple[int, int],
                tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, KV]:
        """The per-clip part: seg (N, seg_dim, h, w) resized to the features' ``size``, ``(gamma, beta) = G(P_i)``
        (N, C, H, W) each, and the keys/values of tokens (N, k, token_dim)."""
        seg = F.interpolate(seg, size=size, mode='bilinear', align_corners=False)
        gamma, beta = self.generator(seg).chunk(2, dim=1)
        return gamma, beta, self.cross.project_kv(tokens)

    def forward(self, f: torch.Tensor, prepared: Tuple[torch.Tensor, torch.Tensor, KV]) -> torch.Tensor:
        """f (N, C, H, W) and :meth:`prepare`'s output for its size -> (N, C, H, W)."""
        gamma, beta, kv = prepared
        feat = f * gamma + beta + f  # Eq. 11
        return feat + self.cross(self.norm(feat), kv=kv)  # Eqs. 12-13


class ClipTokens(nn.Module):
    """Eq. 14: clip-wise tokens ``O_c = Dec(Enc(O_i), O_hat)``.

    The instance encoder is self-attention over the tokens of all frames of the clip (plus a sinusoidal
    frame-index embedding, so any clip length works); the decoder lets ``num_queries`` learned queries
    ``O_hat`` self-attend and cross-attend to the encoded tokens.
    """

    def __init__(self, dim: int, num_queries: int, num_heads: int, enc_layers: int, dec_layers: int):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.encoder = nn.ModuleList(TokenBlock(dim, num_heads) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(TokenBlock(dim, num_heads, cross_attn=True) for _ in range(dec_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, m, k, dim) -> clip tokens (B, num_queries, dim)."""
        b, m, k, d = tokens.shape
        frame_index = torch.arange(m, device=tokens.device)
        x = tokens + timestep_embedding(frame_index, d).to(tokens.dtype)[None, :, None]
        x = x.reshape(b, m * k, d)  # all tokens of the clip
        for block in self.encoder:
            x = block(x)
        queries = self.queries.to(x.dtype).expand(b, -1, -1)
        for block in self.decoder:
            queries = block(queries, x)
        return self.norm(queries)


class InstanceActivation(nn.Module):
    """The ``O_c . F_hat`` activation of Eq. 15, akin to class activation mapping.

    Our reading: each pixel is compared with every clip token (``<q(F_hat), k(O_c)>``, softmax over the
    tokens, via cross-attention), and the softmax-weighted token embedding gates the pixel's channels
    multiplicatively: ``F_act = F_hat * (1 + CA(LN(F_hat), O_c))``. Pixels of the same instance in
    different frames get the same gate, which highlights them for the following MFSA. The ``1 +`` keeps
    the identity path so an untrained gate does not erase features.
    """

    def __init__(self, ch: int, token_dim: int, num_heads: int):
        super().__init__()
        self.norm = LayerNorm2d(ch)
        self.cross = CrossAttention2d(ch, num_heads, token_dim)

    def prepare(self, clip_tokens: torch.Tensor, frames: int) -> KV:
        """The per-clip part: keys/values of clip_tokens (B, n, token_dim), repeated for the ``frames`` of a clip."""
        return self.cross.project_kv(clip_tokens.repeat_interleave(frames, dim=0))

    def forward(self, f: torch.Tensor, kv: KV) -> torch.Tensor:
        """f (B*m, C, H, W) and :meth:`prepare`'s keys/values -> (B*m, C, H, W)."""
        return f * (1 + self.cross(self.norm(f), kv=kv))


class MultiFrameAttention(nn.Module):
    """MFSA (PSRT [31]): pre-norm residual self-attention in (m, w, w) windows spanning the whole clip."""

    def __init__(self, ch: int, num_heads: int, window_size: int):
        super().__init__()
        self.norm = LayerNorm2d(ch)
        self.attn = WindowAttention3D(ch, num_heads, (WHOLE_CLIP, window_size, window_size))

    def forward(self, f: torch.Tensor, frames: int) -> torch.Tensor:
        """f (B*m, C, H, W) with ``frames`` = m -> (B*m, C, H, W)."""
        x = self.norm(f).unflatten(0, (-1, frames))  # (B, m, C, H, W)
        return f + self.attn(x).flatten(0, 1)
