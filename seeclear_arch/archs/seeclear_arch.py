"""SeeClearNet: the Pixel Condenser with InCAM and CaTeGory, driven by a Semantic Distiller
(paper Sec. 3, App. C, Fig. 8, Algorithm 1). Denoiser contract: ``seeclear_arch.archs.denoiser``."""
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from seeclear_arch.archs.blocks import CondenserUnit, conv_weights_channels_last, group_norm, timestep_embedding
from seeclear_arch.archs.category import CaTeGoryMemory, Memory
from seeclear_arch.archs.checkpointing import checkpoint_block
from seeclear_arch.archs.denoiser import ClipChain, ClipDenoiser
from seeclear_arch.archs.incam import ClipTokens
from seeclear_arch.archs.plain_vsr import PlainVSRMixin, is_plain_call
from seeclear_arch.archs.seeclear_levels import (
    ClipCondition,
    ConditionDown,
    LevelCondition,
    LevelInputs,
    SemanticLevel,
    Semantics,
    crop_like_items,
    num_heads_for,
    to_level_grid,
)
from seeclear_arch.archs.wavelet import (
    ConvDownsample,
    ConvUpsample,
    WaveletDownsample,
    WaveletUpsample,
    dwt_to_channels,
    idwt_from_channels,
)
from seeclear_arch.archs.window import pad_image


@ARCH_REGISTRY.register()
class SeeClearNet(PlainVSRMixin, ClipDenoiser):
    """SeeClear's denoiser: Pixel Condenser U-Net in the wavelet domain with InCAM and CaTeGory.

    Data flow (Alg. 1): ``x_t`` and ``y`` -> k-level Haar packet (``wavelet_levels``, 2 -> LR size when the
    SR scale is 4) -> concatenated on channels with the LR frames -> conv -> 4 encoder levels (each
    ``num_units`` basic units; a wavelet downsample after levels 1-3 sends the low band down and the high
    bands to the skip; a parallel wavelet-downsample chain over the LR frames is re-injected at levels
    2-4) -> 3 middle blocks -> 4 decoder levels (wavelet upsample with the skip's high bands before
    levels 2-4) -> conv -> inverse DWT -> ``+ y``. Middle blocks and decoder levels carry InCAM
    (semantic modulation + cross-attention to ``O_i``, ``O_c`` activation, MFSA); each decoder level then
    queries CaTeGory. Frames of any size are padded (``pad_mode``) to a multiple of
    ``2^(wavelet_levels + 3)`` and cropped back; attention windows pad and mask internally.

    ``use_dwt=False`` (Table 2 row 6): pixel-unshuffle/shuffle replaces the k-level DWT/IDWT (same size,
    so the U-Net cost is unchanged and only the wavelet basis is ablated) and strided pixel-unshuffle
    convs with full-feature concatenation skips replace the wavelet down/upsamples.

    Sizes (the paper gives none). Defaults are the ``seeclear_paper`` configuration: num_feat 112 with
    multipliers (1, 2, 3, 4) (112/224/336/448 channels) and 2 units per level give 171.5M parameters
    without the distiller (backbone 132.0M, InCAM 36.4M with 256-channel Mask2Former seg features,
    CaTeGory 3.0M), so that with the Swin-T Mask2Former distiller (68.7M) the total is 240.2M, near the
    paper's 229.23M (``scripts/count_params.py -opt options/arch/seeclear_paper.yml --random-distiller``).
    28-channel heads (4/8/12/16 heads; Restormer/Swin use 24-32); 8x8 windows as in Swin/PSRT; 16 clip tokens
    (the distiller's k); J = 64 memory items of 256-d.

    Args:
        num_in_ch: image channels. Default 3.
        num_feat: width of encoder level 1. Default 112.
        channel_mult: width multipliers of the 4 levels. Default (1, 2, 3, 4).
        num_units: basic units per encoder level (decoder levels mirror them). Default (2, 2, 2, 2).
        num_middle_blocks: middle blocks. Default 3.
        head_dim: channels per attention head (heads = the largest divisor of the width <= width /
            head_dim). Default 28.
        window_size: spatial window of the window self-attention. Default 8.
        mfsa_window: spatial side of MFSA's (m, w, w) windows. Default 8.
        ffn_ratio: hidden ratio of the attention blocks' feed-forward. Default 2.0.
        wavelet_levels: k of the input/output Haar packet. Default 2.
        token_dim: width of frame/clip tokens inside the net. Default 256.
        num_clip_tokens: learned queries O_hat of the instance decoder. Default 16.
        clip_encoder_layers, clip_decoder_layers: depth of Enc and Dec (Eq. 14). Default 2, 2.
        memory_size: CaTeGory items J. Default 64.
        memory_dim: CaTeGory width. Default 256.
        memory_pool: decoder features are pooled to memory_pool^2 tokens per frame for M. Default 4.
        distiller: yml dict of the Semantic Distiller (built with ``build_network``). Default
            ``{'type': 'SeeClearLightDistiller'}``.
        freeze_distiller: freeze a trainable distiller. Default False (pretrained ones freeze themselves).
        use_dwt, use_semantic, use_mfsa, use_incam, use_category: ablation switches of Table 2; all True
            (the full model). ``use_incam``/``use_category`` need ``use_semantic``.
        incam_tokens: the tokens InCAM's cross-attention attends to: ``'frame'`` (Eq. 12, ``O_i``) or ``'clip'``
            (Algorithm 1 l. 28 and 36, the clip tokens ``O_c``). The paper contradicts itself
            (docs/formulation.md D5). Default 'frame'.
        category_in_middle: the middle blocks query CaTeGory too (Appendix C), not only the decoder levels
            (Algorithm 1 l. 38); the memory is still built from the decoder's features (l. 39). The paper contradicts
            itself (docs/formulation.md D6). Default False.
        pad_mode: 'reflect' or 'replicate' frame padding. Default 'reflect'.
        grad_checkpoint: activation checkpointing in training (``seeclear_arch.archs.checkpointing``): every
            basic unit of every U-Net level and every InCAM / CaTeGory attention block keeps only its input and
            runs again in the backward pass (about one extra forward pass of compute; same gradients). No effect in
            eval mode or without gradients. Also switched by ``set_grad_checkpoint`` (``train.grad_checkpoint`` of
            ``SeeClearModel``). Default False.
        channels_last: run the U-Net on channels-last features (``torch.channels_last``): its input, the LR-condition
            chain and ``G(P_i)`` are made channels-last and every block keeps that layout, and the convolution weights
            are stored channels-last (not the distiller's). Same outputs up to float rounding (tested); on CPU the
            convolutions run faster in it and LayerNorm2d / window attention need no transposing copies
            (docs/performance.md, "Sampling speed"). Default True; False: contiguous NCHW features.
        zero_init_branches: zero-initialise the last layer of every InCAM branch (semantic modulation G(P) and
            its cross-attention, the instance activation, MFSA), as CaTeGory's query always is, so a fresh full
            network computes exactly what the same weights compute as the DWT-only baseline (Table 2 row 1) and
            the semantic path grows from there (ControlNet-style zero init; our choice, the paper gives no init).
            Default False: on the demo it cost 1 dB (docs/results.md, "Training recipes").
    """

    # parameter-name fragments per component (``count_parameters_by_component``); the rest: the Pixel Condenser
    COMPONENTS = {
        'distiller': ('.distiller.',),
        'incam': ('.semantic.', '.incam.', '.mfsa.', '.clip_tokens.', '.token_proj.'),
        'category': ('.memory.', '.category.'),
    }

    def __init__(self, num_in_ch: int = 3, num_feat: int = 112, channel_mult: Sequence[int] = (1, 2, 3, 4),
                 num_units: Sequence[int] = (2, 2, 2, 2), num_middle_blocks: int = 3, head_dim: int = 28,
                 window_size: int = 8, mfsa_window: int = 8, ffn_ratio: float = 2.0, wavelet_levels: int = 2,
                 token_dim: int = 256, num_clip_tokens: int = 16, clip_encoder_layers: int = 2,
                 clip_decoder_layers: int = 2, memory_size: int = 64, memory_dim: int = 256, memory_pool: int = 4,
                 distiller: Optional[Dict[str, Any]] = None,
                 freeze_distiller: bool = False, use_dwt: bool = True,
                 use_semantic: bool = True, use_mfsa: bool = True, use_incam: bool = True,
                 use_category: bool = True, incam_tokens: str = 'frame', category_in_middle: bool = False,
                 pad_mode: str = 'reflect', grad_checkpoint: bool = False,
                 zero_init_branches: bool = False, channels_last: bool = True):
        super().__init__()
        if (use_incam or use_category) and not use_semantic:
            raise ValueError('use_incam and use_category need use_semantic=True (they use the distiller tokens)')
        if incam_tokens not in ('frame', 'clip'):
            raise ValueError(f"incam_tokens must be 'frame' (Eq. 12) or 'clip' (Algorithm 1), got {incam_tokens!r}")
        if category_in_middle and not use_category:
            raise ValueError('category_in_middle needs use_category=True')
        if incam_tokens == 'clip' and not use_semantic:
            raise ValueError("incam_tokens='clip' needs use_semantic=True (the cross-attention is part of it)")
        if len(channel_mult) != 4 or len(num_units) != 4:
            raise ValueError('channel_mult and num_units need one entry per level (4)')
        self.wavelet_levels, self.use_dwt, self.pad_mode = wavelet_levels, use_dwt, pad_mode
        self.num_feat = num_feat
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.chs = [num_feat * mult for mult in channel_mult]
        heads = [num_heads_for(ch, head_dim) for ch in self.chs]
        self.time_dim = 4 * num_feat
        self._unit_opt = dict(time_dim=self.time_dim, window_size=window_size, ffn_ratio=ffn_ratio)
        self.time_mlp = nn.Sequential(nn.Linear(num_feat, self.time_dim), nn.SiLU(),
                                      nn.Linear(self.time_dim, self.time_dim))
        needs_clip_tokens = use_incam or use_category or incam_tokens == 'clip'
        self._build_semantics(distiller, freeze_distiller, use_semantic, token_dim, num_clip_tokens, heads[-1],
                              clip_encoder_layers, clip_decoder_layers, needs_clip_tokens)
        opt = dict(seg_dim=self.seg_dim, token_dim=token_dim, use_semantic=use_semantic, use_incam=use_incam,
                   use_mfsa=use_mfsa, use_category=use_category, mfsa_window=mfsa_window,
                   memory_dim=memory_dim, incam_tokens=incam_tokens, category_in_middle=category_in_middle,
                   **self._unit_opt)
        self._build_encoder(num_in_ch, num_units, heads)
        self.middle = nn.ModuleList(SemanticLevel(self.chs[3], heads[3], 1, {**opt, 'decoder': False})
                                    for _ in range(num_middle_blocks))
        self._build_decoder(num_in_ch, num_units, heads, {**opt, 'decoder': True})
        self.memory = CaTeGoryMemory(memory_size, memory_dim, self.chs[::-1], num_heads_for(memory_dim, head_dim),
                                     memory_pool) if use_category else None
        if zero_init_branches:
            for level in (*self.middle, *self.decoder):
                level.zero_init_branches()
        if channels_last:
            conv_weights_channels_last(self, skip=self.distiller)
        self.set_grad_checkpoint(grad_checkpoint)

    def set_grad_checkpoint(self, enabled: bool) -> None:
        """Switch activation checkpointing of the U-Net's units and attention blocks (see ``grad_checkpoint``)."""
        self.grad_checkpoint = bool(enabled)
        for level in (*self.middle, *self.decoder):
            level.grad_checkpoint = self.grad_checkpoint

    # ----------------------------------------------------------------------------------------------- build
    def _build_semantics(self, distiller: Optional[Dict[str, Any]], freeze: bool, use_semantic: bool,
                         token_dim: int, num_clip_tokens: int, num_heads: int, enc_layers: int, dec_layers: int,
                         use_clip_tokens: bool) -> None:
        self.distiller, self.token_proj, self.clip_tokens, self.seg_dim = None, None, None, 0
        if not use_semantic:
            return
        self.distiller = build_network(copy.deepcopy(distiller or {'type': 'SeeClearLightDistiller'}))
        if freeze:
            self.distiller.freeze()
        self.seg_dim = self.distiller.seg_dim
        self.token_proj = nn.Linear(self.distiller.token_dim, token_dim)
        if use_clip_tokens:
            self.clip_tokens = ClipTokens(token_dim, num_clip_tokens, num_heads_for(token_dim, 32), enc_layers,
                                          dec_layers)

    def _units(self, ch: int, num_heads: int, num: int) -> nn.ModuleList:
        opt = self._unit_opt
        return nn.ModuleList(CondenserUnit(ch, opt['time_dim'], num_heads, opt['window_size'], opt['ffn_ratio'])
                             for _ in range(num))

    def _build_encoder(self, num_in_ch: int, num_units: Sequence[int], heads: Sequence[int]) -> None:
        band_ch = num_in_ch * 4 ** self.wavelet_levels
        self.head = nn.Conv2d(2 * band_ch + num_in_ch, self.chs[0], 3, 1, 1)  # [x_t bands, y bands, lq]
        down = WaveletDownsample if self.use_dwt else ConvDownsample
        self.encoder = nn.ModuleList(self._units(ch, h, n) for ch, h, n in zip(self.chs, heads, num_units))
        self.downs = nn.ModuleList(down(self.chs[i], self.chs[i + 1]) for i in range(3))
        self.lq_downs = nn.ModuleList(ConditionDown(num_in_ch if i == 0 else self.chs[i], self.chs[i + 1],
                                                    self.use_dwt) for i in range(3))
        self.lq_fuse = nn.ModuleList(nn.Conv2d(2 * self.chs[i + 1], self.chs[i + 1], 1) for i in range(3))

    def _build_decoder(self, num_in_ch: int, num_units: Sequence[int], heads: Sequence[int],
                       opt: Dict[str, Any]) -> None:
        up = WaveletUpsample if self.use_dwt else ConvUpsample
        self.decoder = nn.ModuleList(SemanticLevel(self.chs[i], heads[i], num_units[i], opt) for i in (3, 2, 1, 0))
        self.ups = nn.ModuleList(up(self.chs[i + 1], self.chs[i]) for i in (2, 1, 0))
        self.tail = nn.Sequential(group_norm(self.chs[0]), nn.SiLU(),
                                  nn.Conv2d(self.chs[0], num_in_ch * 4 ** self.wavelet_levels, 3, 1, 1))

    # ------------------------------------------------------------------------------------- per-clip hooks
    def encode_condition(self, lq: torch.Tensor, y: torch.Tensor, memory: Optional[Memory] = None,
                         precompute: bool = True, semantics: Optional[Semantics] = None) -> ClipCondition:
        """Once per clip (B, m, 3, h, w) with ``y`` (B, m, 3, H, W): the distiller's tokens and seg features, the clip
        tokens, the CaTeGory memory the clip queries (``memory``: the one ``final_step`` built from the previous
        clip; None: the learned one) and, with
        ``precompute``, everything the U-Net derives from them and from ``lq`` alone (``ClipCondition``).
        ``semantics``: the distiller's ``(tokens, seg)`` for these frames computed elsewhere (training crops: from the
        whole frames, :meth:`whole_frame_semantics`); the distiller is then not run."""
        b, m = lq.shape[:2]
        cond = ClipCondition(tuple(y.shape[-2:]))
        if self.distiller is not None:
            if semantics is not None:
                tokens, cond.seg = semantics
            else:
                with torch.set_grad_enabled(torch.is_grad_enabled() and self.distiller.trainable):
                    tokens, cond.seg = self.distiller(lq.flatten(0, 1))  # (B*m, k, d_dist), (B*m, seg_dim, h', w')
            cond.tokens = self.token_proj(tokens)  # (B*m, k, token_dim)
            if self.clip_tokens is not None:
                cond.clip_tokens = self.clip_tokens(cond.tokens.unflatten(0, (b, m)))
            if self.memory is not None:
                cond.memory = self.memory.clip_memory(b, memory)
        if precompute:
            cond.lq_chain, cond.levels = self._lq_chain(lq, cond.hr_size), self._prepare_levels(cond, m)
            # only _prepare_levels reads P_i: drop the largest per-clip tensor (80 of 125 MiB of a 5-frame 256^2 tile
            # in the paper configuration), which the engine would otherwise hold for every tile of the frame
            cond.seg = None
        return cond

    def final_step(self, x_t: torch.Tensor, y: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
                   cond: Optional[ClipCondition]) -> Tuple[torch.Tensor, Optional[Memory]]:
        """The clip's last network call: ``x0_hat`` and the next memory, built once by M from this step's
        multi-scale decoder features (Alg. 1 l. 43-44); nothing is stored."""
        if self.memory is None:
            return self(x_t, y, lq, t, cond), None
        cond = self.encode_condition(lq, y) if cond is None else cond
        x0, pooled = self._denoise(x_t, y, lq, t, cond, pool=True)
        return x0, self.memory.build(cond.memory, pooled, x_t.shape[1])

    # -------------------------------------------------------------------------------------------- forward
    def forward(self, x_t: torch.Tensor, y: Optional[torch.Tensor] = None, lq: Optional[torch.Tensor] = None,
                t: Optional[torch.Tensor] = None, cond: Optional[ClipCondition] = None,
                chain: Optional[ClipChain] = None, semantics: Optional[Semantics] = None) -> torch.Tensor:
        """``x0_hat`` (denoiser contract). ``chain`` (training only, with ``cond=None``): the rows are consecutive
        clips of sequences, and each clip queries the memory built from the previous one (:meth:`chain_memory`).
        ``semantics`` (training only, with ``cond=None``): the distiller's outputs for every frame of the rows,
        ``(B*m, ...)`` in row order (:meth:`whole_frame_semantics`).
        Called the plain BasicSR way, ``net(lq)``, it is a regression VSR network (``plain_vsr.py``)."""
        if is_plain_call(x_t, y, lq, t, cond):
            return self.regress(x_t)
        if cond is None:
            memory = self.chain_memory(chain, y, lq, semantics) \
                if chain is not None and self.memory is not None else None
            cond = self.encode_condition(lq, y, memory, semantics=semantics)
        return self._denoise(x_t, y, lq, t, cond)[0]

    @torch.no_grad()
    def whole_frame_semantics(self, lq_whole: torch.Tensor, crop: torch.Tensor, flips: torch.Tensor) -> Semantics:
        """A frozen distiller's outputs for training crops, computed on the whole LR frames as at test.

        ``lq_whole`` (B, n, 3, h, w) un-augmented whole frames; ``crop`` (B, 4) ``(top, left, height, width)`` of
        each item's LR crop in them; ``flips`` (B, 3) the ``(hflip, vflip, rot90)`` that BasicSR's ``augment``
        applied to the crop. Returns ``(tokens (B*n, k, d), seg (B*n, seg_dim, height, width))``: the seg features
        are put on the whole frame's LR grid (where :meth:`_to_level_grid` puts them at test), then cropped and
        flipped like the frames; the tokens are the whole frame's."""
        if self.distiller is None:
            raise ValueError('whole-frame semantics need a distiller (use_semantic: true)')
        if self.distiller.trainable:
            raise ValueError('whole-frame semantics are for a frozen distiller; this one is trainable '
                             '(set freeze_distiller: true, or drop the dataset option whole_frame_lq)')
        b, n, _, h, w = lq_whole.shape
        tokens, seg = self.distiller(lq_whole.flatten(0, 1))
        if tuple(seg.shape[-2:]) != (h, w):
            seg = F.interpolate(seg, size=(h, w), mode='bilinear', align_corners=False)
        return tokens, crop_like_items(seg, crop, flips, n)

    def chain_memory(self, chain: ClipChain, y: torch.Tensor, lq: torch.Tensor,
                     semantics: Optional[Semantics] = None) -> Memory:
        """Per-row memory for ``chain.num_clips`` consecutive clips per sequence (rows sequence-major): the learned
        memory for each sequence's first clip, then ``M`` applied to the previous clip's decoder features at the
        sampler's final step (``chain.x_t``, ``chain.t``), as at inference. The feature pass runs without gradients;
        ``M`` runs with them, so the learned memory, ``M`` and the queries are all trained."""
        k_clips, frames = chain.num_clips, y.shape[1]
        per_clip = [v.unflatten(0, (-1, k_clips)) for v in (chain.x_t, y, lq, chain.t)]  # (B, K, ...)
        per_clip_sem = None if semantics is None else [v.unflatten(0, (-1, k_clips, frames)) for v in semantics]
        memory = self.memory.learned(per_clip[0].shape[0])
        memories = [memory]
        for k in range(k_clips - 1):
            x_k, y_k, lq_k, t_k = (v[:, k] for v in per_clip)
            sem_k = None if per_clip_sem is None else tuple(v[:, k].flatten(0, 1) for v in per_clip_sem)
            with torch.no_grad():
                cond = self.encode_condition(lq_k, y_k, tuple(x.detach() for x in memory), semantics=sem_k)
                _, pooled = self._denoise(x_k, y_k, lq_k, t_k, cond, pool=True)
            memory = self.memory.build(memory, pooled, frames)
            memories.append(memory)
        return tuple(torch.stack([mem[i] for mem in memories], dim=1).flatten(0, 1) for i in range(2))

    def _denoise(self, x_t: torch.Tensor, y: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
                 cond: ClipCondition, pool: bool = False) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """The U-Net pass: ``x0_hat`` and, with ``pool``, the decoder features pooled for M (coarse to fine)."""
        b, m, c, h, w = x_t.shape
        if tuple(cond.hr_size) != (h, w):
            raise ValueError(f'the condition was encoded for {tuple(cond.hr_size)} frames, x_t is {h}x{w}')
        x, _ = pad_image(torch.cat([x_t, y], dim=2).flatten(0, 1), self.pad_multiple, self.pad_mode)
        lq_chain = cond.lq_chain if cond.lq_chain is not None else self._lq_chain(lq, (h, w))
        levels = cond.levels if cond.levels is not None else self._prepare_levels(cond, m)
        temb = self.time_mlp(timestep_embedding(t, self.num_feat))
        inputs = LevelInputs(temb.repeat_interleave(m, dim=0), m)
        head_in = torch.cat([self._analysis(x), lq_chain[0]], dim=1)  # x: (B*m, 2C, Hp, Wp)
        feat = self.head(head_in.contiguous(memory_format=self.memory_format))
        feat, skips = self._encode(feat, lq_chain, inputs)
        for block, prepared in zip(self.middle, levels):
            feat = block(feat, inputs, prepared)  # with category_in_middle it queries CaTeGory, not pooled for M
        feat, pooled = self._decode(feat, skips, inputs, levels[len(self.middle):], pool)
        out = self._synthesis(self.tail(feat))[..., :h, :w]  # (B*m, C, H, W)
        return y + out.view(b, m, c, h, w), pooled

    # ----------------------------------------------------------------------------------- per-clip parts
    @property
    def pad_multiple(self) -> int:
        """Frames are padded to multiples of this, so every level halves exactly."""
        return 2 ** (self.wavelet_levels + 3)

    def _level_size(self, hr_size: Tuple[int, int]) -> Tuple[int, int]:
        """The padded level-1 grid of ``hr_size`` frames."""
        return tuple(-(-s // self.pad_multiple) * self.pad_multiple >> self.wavelet_levels for s in hr_size)

    def _lq_chain(self, lq: torch.Tensor, hr_size: Tuple[int, int]) -> List[torch.Tensor]:
        """The parallel LR-condition chain: the LR frames (B, m, C, h, w) on the level-1 grid, then wavelet-downsampled
        and convolved for levels 2-4 (re-injected there by :meth:`_encode`)."""
        chain = [self._to_level_grid(lq.flatten(0, 1), hr_size, self._level_size(hr_size))]  # (B*m, C, H1, W1)
        for down in self.lq_downs:
            chain.append(down(chain[-1]))
        return [c.contiguous(memory_format=self.memory_format) for c in chain]

    def _prepare_levels(self, cond: ClipCondition, frames: int) -> List[LevelCondition]:
        """Each middle block's and decoder level's per-clip parts (:meth:`SemanticLevel.prepare`)."""
        size = self._level_size(cond.hr_size)
        seg = None if cond.seg is None else self._to_level_grid(cond.seg, cond.hr_size, size)
        if seg is not None:
            seg = seg.contiguous(memory_format=self.memory_format)  # G(P_i) then comes out in the U-Net's layout
        depth = len(self.decoder) - 1  # the middle blocks run on the coarsest grid
        depths = [depth] * len(self.middle) + list(range(depth, -1, -1))
        return [level.prepare(cond, seg, (size[0] >> d, size[1] >> d), frames)
                for level, d in zip((*self.middle, *self.decoder), depths)]

    def _analysis(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C * 4^k, H / 2^k, W / 2^k): Haar packet or pixel-unshuffle."""
        if self.use_dwt:
            return dwt_to_channels(x, self.wavelet_levels)
        return F.pixel_unshuffle(x, 2 ** self.wavelet_levels)

    def _synthesis(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_dwt:
            return idwt_from_channels(x, self.wavelet_levels)
        return F.pixel_shuffle(x, 2 ** self.wavelet_levels)

    def _to_level_grid(self, x: torch.Tensor, hr_size: Tuple[int, int], size: Tuple[int, int]) -> torch.Tensor:
        """:func:`to_level_grid` with this network's wavelet levels and padding mode."""
        return to_level_grid(x, hr_size, size, self.wavelet_levels, self.pad_mode)

    def _encode(self, feat: torch.Tensor, lq_chain: List[torch.Tensor],
                inputs: LevelInputs) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        skips = []
        for i, units in enumerate(self.encoder):
            if i > 0:
                feat, skip = self.downs[i - 1](feat)
                feat = self.lq_fuse[i - 1](torch.cat([feat, lq_chain[i]], dim=1))  # the LR-condition chain
                skips.append(skip)
            for unit in units:
                feat = checkpoint_block(self.grad_checkpoint, unit, feat, inputs.temb)
        return feat, skips

    def _decode(self, feat: torch.Tensor, skips: List[torch.Tensor], inputs: LevelInputs,
                levels: List[LevelCondition], pool: bool) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Decoder levels, each querying the clip's fixed memory (Alg. 1 l. 38; its textures are in ``levels``); with
        ``pool``, also the per-level features M builds the next memory from (l. 39)."""
        pooled = []
        for k, (level, prepared) in enumerate(zip(self.decoder, levels)):
            if k > 0:
                feat = self.ups[k - 1](feat, skips.pop())
            feat = level(feat, inputs, prepared)  # ends with the CaTeGory query
            if pool and level.category is not None:
                pooled.append(self.memory.pool(feat))
        return feat, pooled
