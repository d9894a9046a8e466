"""The parts of SeeClearNet's U-Net (paper App. C, Fig. 8): the LR condition's downsampling, the per-clip and
per-step inputs of a level, and one decoder level with its semantic branches (G(P), InCAM, MFSA) and CaTeGory query.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from seeclear_arch.archs.attention import KV
from seeclear_arch.archs.blocks import CondenserUnit
from seeclear_arch.archs.category import CaTeGoryQuery, Memory
from seeclear_arch.archs.checkpointing import checkpoint_block
from seeclear_arch.archs.incam import InstanceActivation, MultiFrameAttention, SemanticModulation
from seeclear_arch.archs.wavelet import (
    dwt_to_channels,
)


def num_heads_for(ch: int, head_dim: int) -> int:
    """The largest head count <= ch // head_dim that divides ``ch`` (at least 1)."""
    return max(h for h in range(1, max(1, ch // head_dim) + 1) if ch % h == 0)


class ConditionDown(nn.Module):
    """One step of the LR-condition chain: all four Haar bands (pixel-unshuffle without DWT) -> conv -> SiLU."""

    def __init__(self, in_ch: int, out_ch: int, use_dwt: bool):
        super().__init__()
        self.use_dwt = use_dwt
        self.conv = nn.Conv2d(4 * in_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bands = dwt_to_channels(x, 1) if self.use_dwt else F.pixel_unshuffle(x, 2)  # (N, 4C, H/2, W/2)
        return F.silu(self.conv(bands))


@dataclass
class LevelCondition:
    """What one middle block / decoder level takes from the clip (each part's ``prepare``; None where switched off):
    ``G(P_i)`` and the frame tokens' keys/values (SemanticModulation), the clip tokens' keys/values (InstanceActivation)
    and the keys/values of the CaTeGory textures ``A T`` (CaTeGoryQuery)."""

    semantic: Optional[Tuple[torch.Tensor, torch.Tensor, KV]] = None
    incam: Optional[KV] = None
    category: Optional[KV] = None


Semantics = Tuple[torch.Tensor, torch.Tensor]  # the distiller's (tokens (N, k, d), seg (N, seg_dim, h', w'))


@dataclass
class ClipCondition:
    """What :meth:`SeeClearNet.encode_condition` returns for a clip of B x m frames: everything that depends only on
    the clip, so the T sampler steps share it. ``lq_chain``/``levels`` None: each forward computes them itself
    (``encode_condition(..., precompute=False)``, the reference the cached path is tested against)."""

    hr_size: Tuple[int, int]  # (H, W) of the frames the condition was made for
    tokens: Optional[torch.Tensor] = None  # (B*m, k, token_dim) frame tokens O_i, projected to the net's token_dim
    seg: Optional[torch.Tensor] = None  # (B*m, seg_dim, h', w') segmentation features P_i (None once in levels)
    clip_tokens: Optional[torch.Tensor] = None  # (B, num_clip_tokens, token_dim) O_c
    memory: Optional[Memory] = None  # (C_m, T_m) that every decoder level queries during the clip (Alg. 1 l. 38)
    lq_chain: Optional[List[torch.Tensor]] = None  # (B*m, C_k, H_k, W_k): the LR-condition chain on levels 1-4
    levels: Optional[List[LevelCondition]] = None  # the middle blocks', then the decoder levels'


@dataclass
class LevelInputs:
    """Per-forward inputs shared by the middle and decoder levels."""

    temb: torch.Tensor  # (B*m, time_dim)
    frames: int


class SemanticLevel(nn.Module):
    """A middle block or decoder level: [SemanticModulation] -> [InstanceActivation] -> [MFSA] -> units ->
    [CaTeGory query] (decoder levels; middle blocks too with ``category_in_middle``). Bracketed parts follow the
    switches.
    With ``grad_checkpoint`` (set by ``SeeClearNet.set_grad_checkpoint``) each of them is checkpointed."""

    def __init__(self, ch: int, num_heads: int, num_units: int, opt: Dict[str, Any]):
        super().__init__()
        self.grad_checkpoint = False
        self.semantic = SemanticModulation(ch, opt['seg_dim'], opt['token_dim'], num_heads) \
            if opt['use_semantic'] else None
        self.incam = InstanceActivation(ch, opt['token_dim'], num_heads) if opt['use_incam'] else None
        self.mfsa = MultiFrameAttention(ch, num_heads, opt['mfsa_window']) if opt['use_mfsa'] else None
        self.units = nn.ModuleList(CondenserUnit(ch, opt['time_dim'], num_heads, opt['window_size'],
                                                 opt['ffn_ratio']) for _ in range(num_units))
        self.category = CaTeGoryQuery(ch, opt['token_dim'], opt['memory_dim'], num_heads) \
            if opt['use_category'] and (opt['decoder'] or opt['category_in_middle']) else None
        self.clip_token_keys = opt['incam_tokens'] == 'clip'

    def zero_init_branches(self) -> None:
        """Zero the last layer of every semantic branch (G(P)'s last conv and the output projections of the
        cross-attentions and MFSA), so each branch starts as an exact identity (``zero_init_branches``)."""
        layers = []
        if self.semantic is not None:
            layers += [self.semantic.generator[-1], self.semantic.cross.attn.proj]
        if self.incam is not None:
            layers.append(self.incam.cross.attn.proj)
        if self.mfsa is not None:
            layers.append(self.mfsa.attn.attn.proj)
        for layer in layers:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def prepare(self, cond: ClipCondition, seg: Optional[torch.Tensor], size: Tuple[int, int],
                frames: int) -> LevelCondition:
        """The per-clip parts for features of ``size``; ``seg`` on the level-1 grid. Checkpointed like the blocks."""
        ckpt = self.grad_checkpoint
        semantic = incam = category = None
        if self.semantic is not None:  # Eq. 12's frame tokens O_i, or Alg. 1 l. 28/36's clip tokens (D5)
            tokens = cond.clip_tokens.repeat_interleave(frames, dim=0) if self.clip_token_keys else cond.tokens
            semantic = checkpoint_block(ckpt, self.semantic.prepare, seg, size, tokens)
        if self.incam is not None:
            incam = checkpoint_block(ckpt, self.incam.prepare, cond.clip_tokens, frames)
        if self.category is not None:
            category = checkpoint_block(ckpt, self.category.prepare, cond.clip_tokens, cond.memory, frames)
        return LevelCondition(semantic, incam, category)

    def forward(self, x: torch.Tensor, inputs: LevelInputs, prepared: LevelCondition) -> torch.Tensor:
        ckpt = self.grad_checkpoint
        if self.semantic is not None:
            x = checkpoint_block(ckpt, self.semantic, x, prepared.semantic)
        if self.incam is not None:
            x = checkpoint_block(ckpt, self.incam, x, prepared.incam)
        if self.mfsa is not None:
            x = checkpoint_block(ckpt, self.mfsa, x, inputs.frames)
        for unit in self.units:
            x = checkpoint_block(ckpt, unit, x, inputs.temb)
        if self.category is not None:
            x = checkpoint_block(ckpt, self.category, x, prepared.category)
        return x


def crop_like_items(seg: torch.Tensor, crop: torch.Tensor, flips: torch.Tensor, frames: int) -> torch.Tensor:
    """Whole-frame features ``(B*frames, C, h, w)`` cut to each item's crop ``(top, left, height, width)`` and
    flipped / transposed by its ``(hflip, vflip, rot90)``, as BasicSR's ``augment`` did to the item's frames."""
    crops = []
    for i, ((top, left, ch, cw), (hflip, vflip, rot90)) in enumerate(zip(crop.tolist(), flips.tolist())):
        part = seg[i * frames:(i + 1) * frames, :, top:top + ch, left:left + cw]
        part = part.flip(-1) if hflip else part
        part = part.flip(-2) if vflip else part
        crops.append(part.transpose(-2, -1) if rot90 else part)
    return torch.cat(crops).contiguous()


def to_level_grid(x: torch.Tensor, hr_size: Tuple[int, int], size: Tuple[int, int], wavelet_levels: int,
                  pad_mode: str) -> torch.Tensor:
    """Map LR-aligned maps (N, C, h, w) onto the padded level-1 grid ``size``: resize to the unpadded extent
    ``hr_size / 2^k`` (no-op when the SR scale is 2^k), then pad like the frames (``pad_mode``; replicate where
    the padding is as large as the extent, which reflection cannot do)."""
    extent = tuple(max(1, round(s / 2 ** wavelet_levels)) for s in hr_size)
    if tuple(x.shape[-2:]) != extent:
        x = F.interpolate(x, size=extent, mode='bilinear', align_corners=False)
    pad_h, pad_w = size[0] - extent[0], size[1] - extent[1]
    mode = pad_mode if pad_h < extent[0] and pad_w < extent[1] else 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else x
