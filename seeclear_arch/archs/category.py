"""Channel-wise Texture Aggregation Memory, CaTeGory (paper Sec. 3.3, Eqs. 16-20, Algorithm 1 l. 38, 43-44).

The memory holds ``J`` pairs ``(C_j, T_j)`` of dimension ``dim``: channel-wise semantics ``C`` (keys, compared
with the clip tokens) and textures ``T`` (values).

Life cycle (Algorithm 1). The memory is a value, not module state: :class:`CaTeGoryMemory` owns its parameters and
the maths, the sampling engine owns the memory of each sequence (and spatial tile) and passes it in:

* ``clip_memory(batch, memory)``: the memory ``(C_m, T_m)`` that clip ``m`` queries: the one built from the previous
  clip, or the learned memory ``(C_bar, T_bar)`` for a sequence's first clip (``memory=None``). It is fixed for the
  whole clip: every decoder level of every one of the clip's ``T`` denoising steps queries the same memory (l. 38).
* ``build(memory, pooled)``: the construction ``M`` (Eqs. 16-18), once per clip, from the multi-scale decoder
  features of the clip's final denoising step (l. 43-44). A pure function: it returns the next memory, which the
  engine passes to the next clip (l. 44), or drops for the ablation ``val.carry_memory: false``.

Initialisation (docs/formulation.md D7-D8). The paper zero-initialises both ``C_bar`` and ``T_bar``. With ``T_hat =
C x T`` that gives both a zero gradient (each factor's gradient is the other factor), so we zero-initialise
``C_bar`` only, give ``T_bar`` a small random init, and use the residual product ``T_hat = T * (1 + C)`` (Eq. 17):
at init ``T_hat = T_bar``, and both parameters get gradients from the first step. The query's output projection is
zero-initialised, so a fresh network with CaTeGory computes exactly what it computes without it: stage 1 (the Pixel
Condenser alone, CaTeGory frozen) trains the condenser around an exact identity, and stage 2 starts from the
condenser it was given.

Construction ``M`` (Eqs. 16-18): ``T' = LN(SA(CA(T_hat, feats)))``, ``C' = LN(C + W T')``, where ``feats`` are the
decoder features average-pooled per frame to ``pool x pool`` (:meth:`CaTeGoryMemory.pool`, no parameters),
projected to ``dim`` with a per-level embedding and concatenated over frames and levels. The outputs are
layer-normed: the memory is fed back into ``M`` clip after clip, and without a bound the product ``T * (1 + C)``
grows geometrically along the chain (we measured NaN after a few carried clips).

Training (``SeeClearModel``): a training item holds consecutive clips of one sequence. The memory of clip
``k + 1`` is built from clip ``k``'s decoder features at the sampler's final step (a no-grad pass), the way
inference builds it; ``M`` itself runs with gradients, and so does the query of the trained clips.

Query (Eqs. 19-20): ``A = softmax(q(O_c) C^T / sqrt(dim))`` (softmax over the ``J`` items), ``A T`` gives one
texture per clip token, and every pixel cross-attends to them: ``F~ = F + CA(LN(F), A T)``. ``A T`` and its
keys/values depend only on the clip (tokens and memory are fixed within it): :meth:`CaTeGoryQuery.prepare` computes
them once per clip.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from seeclear_arch.archs.attention import KV, CrossAttention2d, attend
from seeclear_arch.archs.blocks import LayerNorm2d, TokenBlock

Memory = Tuple[torch.Tensor, torch.Tensor]  # (C (B, J, dim), T (B, J, dim))


class CaTeGoryMemory(nn.Module):
    """The memory parameters and the construction ``M`` (see the module docstring); it holds no carried state."""

    def __init__(self, num_items: int, dim: int, feat_channels: Sequence[int], num_heads: int, pool_size: int):
        super().__init__()
        self.semantics = nn.Parameter(torch.zeros(num_items, dim))  # C_bar, zero-init
        self.textures = nn.Parameter(torch.randn(num_items, dim) * 0.02)  # T_bar
        self.feat_proj = nn.ModuleList(nn.Linear(ch, dim) for ch in feat_channels)
        self.level_embed = nn.Parameter(torch.randn(len(feat_channels), dim) * 0.02)
        self.cross = TokenBlock(dim, num_heads, self_attn=False, cross_attn=True)
        self.self_attn = TokenBlock(dim, num_heads)
        self.update_semantics = nn.Linear(dim, dim)
        self.norm_sem, self.norm_tex = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.pool_size = pool_size

    # ------------------------------------------------------------------------------------------ query
    def learned(self, batch: int) -> Memory:
        """``(C_bar, T_bar)`` broadcast to ``batch`` clips."""
        return self.semantics.expand(batch, -1, -1), self.textures.expand(batch, -1, -1)

    def clip_memory(self, batch: int, memory: Optional[Memory] = None) -> Memory:
        """The memory a clip batch of ``batch`` queries: ``memory`` (built from the previous clip), else the learned
        one."""
        if memory is None:
            return self.learned(batch)
        sem, tex = memory
        if sem.shape[0] not in (1, batch):
            raise ValueError(f'the memory was built for a batch of {sem.shape[0]} clips, got a clip batch of {batch}')
        return sem.expand(batch, -1, -1), tex.expand(batch, -1, -1)

    # ------------------------------------------------------------------------------------ construction
    def pool(self, feat: torch.Tensor) -> torch.Tensor:
        """Decoder feature (B*m, C, H, W) -> per-frame pooled tokens (B*m, pool^2, C); no parameters."""
        return F.adaptive_avg_pool2d(feat, self.pool_size).flatten(2).transpose(1, 2)

    def build(self, memory: Memory, pooled: List[torch.Tensor], frames: int) -> Memory:
        """Construction M (Eqs. 16-18): ``memory`` and the pooled features of the decoder levels (coarse to
        fine, from :meth:`pool`, ``frames`` per clip) -> the next memory."""
        tokens = [(self.feat_proj[k](p) + self.level_embed[k]).unflatten(0, (-1, frames)).flatten(1, 2)
                  for k, p in enumerate(pooled)]  # (B, m * pool^2, dim) per level
        sem, tex = memory
        tex_hat = tex * (1 + sem)  # Eq. 17, residual product (see the module docstring)
        tex_new = self.self_attn(self.cross(tex_hat, torch.cat(tokens, dim=1)))  # Eq. 18
        return self.norm_sem(sem + self.update_semantics(tex_new)), self.norm_tex(tex_new)


class CaTeGoryQuery(nn.Module):
    """Eqs. 19-20 at one decoder level: clip tokens query the memory, pixels attend to the result.

    The cross-attention's output projection starts at zero, so the query is an exact identity at initialisation.
    """

    def __init__(self, ch: int, token_dim: int, dim: int, num_heads: int):
        super().__init__()
        self.to_query = nn.Linear(token_dim, dim)
        self.norm = LayerNorm2d(ch)
        self.cross = CrossAttention2d(ch, num_heads, dim)
        nn.init.zeros_(self.cross.attn.proj.weight)
        nn.init.zeros_(self.cross.attn.proj.bias)

    def prepare(self, clip_tokens: torch.Tensor, memory: Memory, frames: int) -> KV:
        """The per-clip part: clip_tokens (B, n, token_dim) query memory ((B, J, dim), (B, J, dim)); the keys/values
        of the textures ``A T``, repeated for the ``frames`` of a clip."""
        sem, tex = memory
        query = self.to_query(clip_tokens)[:, None]  # (B, 1, n, dim): one head
        textures = attend(query, sem[:, None], tex[:, None])[:, 0]  # A T, (B, n, dim), Eq. 19
        return self.cross.project_kv(textures.repeat_interleave(frames, dim=0))  # (B*m, heads, n, d) each

    def forward(self, f: torch.Tensor, kv: KV) -> torch.Tensor:
        """f (B*m, C, H, W) and :meth:`prepare`'s keys/values -> (B*m, C, H, W)."""
        return f + self.cross(self.norm(f), kv=kv)  # Eq. 20
