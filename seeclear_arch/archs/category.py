"""Channel-wise Texture Aggregation Memory, CaTeGory (paper Sec. 3.3, Eqs. 16-20, Algorithm 1 l. 38-44).

The memory holds ``J`` pairs ``(C_j, T_j)`` of dimension ``dim``: channel-wise semantics ``C`` (keys,
compared with the clip tokens) and textures ``T`` (values).

Initialisation. The paper zero-initialises both ``C_bar`` and ``T_bar``. With ``T_hat = C x T`` that
gives both a zero gradient (each factor's gradient is the other factor), so we zero-initialise ``C_bar``
only, give ``T_bar`` a small random init, and use the residual product ``T_hat = T * (1 + C)`` (Eq. 17):
at init ``T_hat = T_bar``, and both parameters get gradients from the first step.

Construction ``M`` (Eqs. 16-18): ``T' = LN(SA(CA(T_hat, feats)))``, ``C' = LN(C + W T')``, where ``feats`` are
the decoder features, average-pooled per frame to ``pool x pool``, projected to ``dim`` and concatenated
over frames and levels. ``M`` runs inside every forward ("the update mechanism is reused" at sampling):
decoder level ``k`` queries the memory built from the current state and the features of levels
``1..k`` (coarse to fine), so ``M`` is trained. The state is the learned ``(C_bar, T_bar)`` in training and
at the start of each sequence; at inference :meth:`SeeClearNet.end_clip` replaces it by the memory built
from the final step's features of all four levels, carried to the next clip (Alg. 1, lines 42-44).

Training with carried memory. If training only ever starts ``M`` from the learned parameters, the
network never sees a carried state, and at inference every clip after the first starts from a memory
it was not trained on (we measured this: clips 2+ of a demo sequence fell from ~25 dB to ~11-18 dB).
So in training, with probability ``carry_prob`` per step, a clip starts from the detached memory built
by the previous training step (another clip, possibly itself started from a carried memory): truncated
back-propagation through the clip sequence, at no extra forward cost. The value is the carried state,
but it is written ``learned + (carried - learned).detach()`` so the learned parameters stay in the graph
(DDP needs every parameter used in every step) and receive the gradient of the state.

Query (Eqs. 19-20): ``A = softmax(q(O_c) C^T / sqrt(dim))`` (softmax over the ``J`` items), ``A T`` gives
one texture per clip token, and every pixel cross-attends to them: ``F~ = F + CA(LN(F), A T)``.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from seeclear_arch.archs.attention import CrossAttention2d, attend
from seeclear_arch.archs.blocks import LayerNorm2d, TokenBlock

Memory = Tuple[torch.Tensor, torch.Tensor]  # (C (B, J, dim), T (B, J, dim))


class CaTeGoryMemory(nn.Module):
    """The memory parameters, the construction ``M`` and the inference-time state."""

    def __init__(self, num_items: int, dim: int, feat_channels: Sequence[int], num_heads: int, pool_size: int,
                 carry_prob: float = 0.5):
        super().__init__()
        self.semantics = nn.Parameter(torch.zeros(num_items, dim))  # C_bar, zero-init
        self.textures = nn.Parameter(torch.randn(num_items, dim) * 0.02)  # T_bar
        self.feat_proj = nn.ModuleList(nn.Linear(ch, dim) for ch in feat_channels)
        self.level_embed = nn.Parameter(torch.randn(len(feat_channels), dim) * 0.02)
        self.cross = TokenBlock(dim, num_heads, self_attn=False, cross_attn=True)
        self.self_attn = TokenBlock(dim, num_heads)
        self.update_semantics = nn.Linear(dim, dim)
        # M's outputs are layer-normed: the memory is fed back into M clip after clip, and without a bound
        # the product T * (1 + C) grows geometrically along the chain (NaN after a few carried clips)
        self.norm_sem, self.norm_tex = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.pool_size = pool_size
        self.state: Optional[Memory] = None  # carried between clips at inference (not saved)
        self.carry_prob = carry_prob
        self.train_state: Optional[Memory] = None  # last training step's memory (see module docstring)

    def initial(self, batch: int) -> Memory:
        """The memory a clip starts from: the carried state at inference, else the learned parameters
        (in training, sometimes the previous step's memory; see the module docstring)."""
        learned = self.semantics.expand(batch, -1, -1), self.textures.expand(batch, -1, -1)
        if self.training:
            carried = self.train_state
            if carried is None or carried[0].shape[0] != batch or torch.rand(()).item() >= self.carry_prob:
                return learned
            return tuple(p + (c.to(p.dtype) - p).detach() for p, c in zip(learned, carried))
        if self.state is None:
            return learned
        sem, tex = self.state
        if sem.shape[0] not in (1, batch):
            raise ValueError(f'memory was carried for batch {sem.shape[0]}, got a clip batch of {batch}')
        return sem.expand(batch, -1, -1), tex.expand(batch, -1, -1)

    def pool(self, feat: torch.Tensor, level: int, frames: int) -> torch.Tensor:
        """Decoder feature (B*m, C, H, W) of ``level`` -> tokens (B, m * pool^2, dim)."""
        pooled = F.adaptive_avg_pool2d(feat, self.pool_size).flatten(2).transpose(1, 2)  # (B*m, p*p, C)
        tokens = self.feat_proj[level](pooled) + self.level_embed[level]
        return tokens.unflatten(0, (-1, frames)).flatten(1, 2)  # (B, m*p*p, dim)

    def forward(self, memory: Memory, feats: List[torch.Tensor]) -> Memory:
        """Construction M (Eqs. 16-18): memory and pooled feature tokens -> updated memory."""
        sem, tex = memory
        tex_hat = tex * (1 + sem)  # Eq. 17, residual product (see module docstring)
        tex_new = self.self_attn(self.cross(tex_hat, torch.cat(feats, dim=1)))  # Eq. 18
        return self.norm_sem(sem + self.update_semantics(tex_new)), self.norm_tex(tex_new)


class CaTeGoryQuery(nn.Module):
    """Eqs. 19-20 at one decoder level: clip tokens query the memory, pixels attend to the result."""

    def __init__(self, ch: int, token_dim: int, dim: int, num_heads: int):
        super().__init__()
        self.to_query = nn.Linear(token_dim, dim)
        self.norm = LayerNorm2d(ch)
        self.cross = CrossAttention2d(ch, num_heads, dim)

    def forward(self, f: torch.Tensor, clip_tokens: torch.Tensor, memory: Memory) -> torch.Tensor:
        """f (B*m, C, H, W); clip_tokens (B, n, token_dim); memory ((B, J, dim), (B, J, dim))."""
        sem, tex = memory
        query = self.to_query(clip_tokens)[:, None]  # (B, 1, n, dim): one head
        textures = attend(query, sem[:, None], tex[:, None])[:, 0]  # A T, (B, n, dim), Eq. 19
        textures = textures.repeat_interleave(f.shape[0] // textures.shape[0], dim=0)  # (B*m, n, dim)
        return f + self.cross(self.norm(f), textures)  # Eq. 20
