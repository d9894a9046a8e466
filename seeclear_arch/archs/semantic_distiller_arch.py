"""Semantic Distiller backends (paper Sec. 3.2, Eqs. 8-9; interface in ``distiller_base``; docs/formulation.md D9).

Every backend maps LR frames (N, 3, h, w) RGB in [0, 1] to ``(tokens, seg)``:
tokens (N, num_tokens, token_dim) = the top-k instance tokens ``O_i``; seg (N, seg_dim, h', w') =
the pixel-level segmentation features ``P_i``, with ``h' = ceil(h_in / seg_stride)`` where ``h_in`` is
the network input height (after the ``input_size`` resize).

Working size. A pretrained segmenter was trained on images of several hundred pixels (COCO at a shorter side of
about 800). Fed a 64x64 LR training crop, Swin's last stage would be 2x2. So the pretrained backends resize the LR
frames bicubically to a working size first (``input_size``, default: shorter side 512, aspect kept, sides multiples
of 32, so a 64x64 crop gives Swin a 16x16 last stage and a 180x320 REDS frame 512x896). The seg features come
back at the working size / ``seg_stride`` and ``SeeClearNet`` maps them onto its level-1 grid (resize to the
unpadded extent, then pad), for any LR size. The light distiller is trained with the network and runs at LR size.

* ``SeeClearLightDistiller``: a small trainable encoder, no pretrained weights (offline runs, CPU
  demo, ablations).
* ``SeeClearMask2FormerDistiller``: frozen Mask2Former from ``transformers`` (the closest maintained
  analogue of the paper's OpenSeeD); weights from a local folder or the Hugging Face cache, never
  downloaded here.
* ``SeeClearOpenSeeDDistiller``: frozen OpenSeeD (the paper's choice), only when OpenSeeD and
  detectron2 are installed.

All three select tokens with ``distiller_utils.select_topk_queries``.
"""
import copy
import importlib
import math
import os
import sys
from types import SimpleNamespace
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from seeclear_arch.archs.attention import MultiHeadAttention
from seeclear_arch.archs.distiller_base import SemanticDistiller
from seeclear_arch.archs.distiller_utils import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    resize_frames,
    scores_from_class_logits,
    scores_from_text_similarity,
    select_topk_queries,
)

InputSize = Optional[Union[int, Sequence[int]]]
DEFAULT_WORKING_SIZE = 512  # shorter side the pretrained segmenters run at (module docstring)


def _conv_block(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """3x3 conv (optionally strided) -> LeakyReLU -> 3x3 conv -> LeakyReLU."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True))


@ARCH_REGISTRY.register()
class SeeClearLightDistiller(SemanticDistiller):
    """A light learned Semantic Distiller: trainable, no pretrained weights.

    A strided conv pyramid gives segmentation features at ``1/seg_stride`` of the input and one
    coarser context level (``1/(2*seg_stride)``). The context is average-pooled to a
    ``pool_size x pool_size`` grid (plus a learned position embedding) that ``num_queries`` learned
    queries cross-attend to (one pre-norm decoder layer: cross-attention + MLP). A linear head scores
    each query and the shared ``select_topk_queries`` keeps the ``num_tokens`` best, as the pretrained
    backends do. The kept tokens are scaled by ``sigmoid(score)`` so the score head is trained too
    (a hard top-k alone passes it no gradient). The segmentation features are an FPN-style sum of
    the seg level and the upsampled context.

    Sizes are chosen for 64x64 LR training patches on CPU: ``seg_stride=4`` matches the 1/4 mask
    features of Mask2Former/OpenSeeD, so backends are interchangeable; 16 queries / 8 tokens are
    enough for the few dominant regions of a small LR patch; about 0.15M parameters with the defaults.

    Args:
        num_in_ch: input channels. Default 3.
        num_feat: conv width (the context level uses ``2 * num_feat``). Default 32.
        seg_dim: channels of the segmentation features. Default 32.
        token_dim: width of queries/tokens. Default 64.
        num_tokens: tokens kept per frame (k). Default 8.
        num_queries: learned queries scored before the top-k (Q >= k). Default 16.
        num_heads: cross-attention heads. Default 4.
        seg_stride: stride of the segmentation features, 2 or 4. Default 4.
        pool_size: side of the pooled context grid the queries attend to. Default 8.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 32, seg_dim: int = 32, token_dim: int = 64,
                 num_tokens: int = 8, num_queries: int = 16, num_heads: int = 4, seg_stride: int = 4,
                 pool_size: int = 8):
        super().__init__()
        if seg_stride not in (2, 4):
            raise ValueError(f'seg_stride must be 2 or 4, got {seg_stride}')
        if not 1 <= num_tokens <= num_queries:
            raise ValueError(f'need 1 <= num_tokens ({num_tokens}) <= num_queries ({num_queries})')
        self.num_tokens, self.token_dim, self.seg_dim, self.seg_stride = num_tokens, token_dim, seg_dim, seg_stride
        self.trainable = True
        num_down = int(math.log2(seg_stride))
        self.stem = _conv_block(num_in_ch, num_feat, 1)
        self.down = nn.Sequential(*[_conv_block(num_feat, num_feat, 2) for _ in range(num_down)])  # 1/seg_stride
        self.context = _conv_block(num_feat, 2 * num_feat, 2)  # 1/(2*seg_stride)
        self.lateral = nn.Conv2d(2 * num_feat, num_feat, 1)
        self.seg_head = nn.Conv2d(num_feat, seg_dim, 3, 1, 1)
        self.pool_size = pool_size
        self.pos_embed = nn.Parameter(torch.zeros(1, pool_size * pool_size, 2 * num_feat))
        self.queries = nn.Parameter(torch.randn(num_queries, token_dim) * 0.02)
        self.norm_q = nn.LayerNorm(token_dim)
        self.norm_kv = nn.LayerNorm(2 * num_feat)
        self.norm_mlp = nn.LayerNorm(token_dim)
        self.cross_attn = MultiHeadAttention(token_dim, num_heads, context_dim=2 * num_feat)  # SDPA
        self.mlp = nn.Sequential(nn.Linear(token_dim, 2 * token_dim), nn.GELU(), nn.Linear(2 * token_dim, token_dim))
        self.score_head = nn.Linear(token_dim, 1)

    def forward(self, frames: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """frames (N, 3, h, w) in [0, 1] -> tokens (N, k, token_dim), seg (N, seg_dim, ceil(h/s), ceil(w/s))."""
        feat = self.down(self.stem(frames))  # (N, C, h/s, w/s)
        ctx = self.context(feat)  # (N, 2C, h/2s, w/2s)
        up = F.interpolate(self.lateral(ctx), size=feat.shape[-2:], mode='bilinear', align_corners=False)
        seg = self.seg_head(feat + up)  # (N, seg_dim, h/s, w/s)
        return self._tokens(ctx), seg

    def _tokens(self, ctx: torch.Tensor) -> torch.Tensor:
        memory = F.adaptive_avg_pool2d(ctx, self.pool_size).flatten(2).transpose(1, 2)  # (N, p*p, 2C)
        memory = self.norm_kv(memory + self.pos_embed)
        x = self.queries.unsqueeze(0).expand(ctx.shape[0], -1, -1)  # (N, Q, d)
        x = x + self.cross_attn(self.norm_q(x), memory)
        x = x + self.mlp(self.norm_mlp(x))
        scores = self.score_head(x).squeeze(-1)  # (N, Q)
        tokens, idx = select_topk_queries(scores, x, self.num_tokens)  # (N, k, d), (N, k)
        return tokens * torch.sigmoid(scores.gather(1, idx)).unsqueeze(-1)


_M2F_HOWTO = ("On a machine with internet run `huggingface-cli download {model_id} --local-dir /path/to/{name}` "
              "(or `huggingface-cli download {model_id}` to fill the Hugging Face cache), copy it here and set "
              "`pretrained_path: /path/to/{name}`. Nothing is downloaded by SeeClear.")
_DEFAULT_M2F_ID = 'facebook/mask2former-swin-tiny-coco-panoptic'


def _load_mask2former(pretrained_path: Optional[str], model_id: Optional[str], config: Optional[Dict[str, Any]],
                      cache_dir: Optional[str]) -> nn.Module:
    """Build ``Mask2FormerForUniversalSegmentation`` from exactly one of the three sources, offline."""
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation

    if sum(x is not None for x in (pretrained_path, model_id, config)) != 1:
        raise ValueError('give exactly one of pretrained_path, model_id or config to SeeClearMask2FormerDistiller')
    if config is not None:  # random weights: tests and ablations only; deepcopy: the config pops nested keys
        return Mask2FormerForUniversalSegmentation(Mask2FormerConfig(**copy.deepcopy(config)))
    source = pretrained_path if pretrained_path is not None else model_id
    hint_id = model_id or _DEFAULT_M2F_ID
    howto = _M2F_HOWTO.format(model_id=hint_id, name=hint_id.split('/')[-1])
    if pretrained_path is not None and not os.path.isfile(os.path.join(pretrained_path, 'config.json')):
        raise FileNotFoundError(f'Mask2Former weights not found: pretrained_path={pretrained_path!r} is not a '
                                f'folder with config.json and weights. {howto}')
    try:
        return Mask2FormerForUniversalSegmentation.from_pretrained(source, local_files_only=True, cache_dir=cache_dir)
    except OSError as err:
        raise FileNotFoundError(f'Mask2Former weights not found locally for {source!r}. {howto}') from err


class ContiguousKeyValueAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` that makes its query, key and value contiguous before projecting them.

    Mask2Former's decoder cross-attends to pixel features that ``transformers`` hands over as permuted views
    (sequence-first, ``(H*W, N, d)`` from ``(N, d, H*W)``). ``F.linear`` cannot fold such a view into one matrix
    product, so each key/value projection became a batched matmul with the weight expanded over the H*W rows; under
    bf16 autocast that expanded weight is materialised (4096 copies of a 256 x 256 matrix at the 1/8 grid of a 512²
    frame). One contiguous copy of the features instead gives a single matmul and the same products (tested); in a
    bf16 clip of the paper configuration ``aten::copy_`` fell by more than half (docs/performance.md).
    """

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: Any,
                **kwargs: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        k = key.contiguous()
        v = k if value is key else value.contiguous()  # keeps a shared key/value one tensor (a packed projection)
        q = k if query is key else query.contiguous()
        return super().forward(q, k, v, *args, **kwargs)


def use_contiguous_cross_attention(model: nn.Module) -> int:
    """Make every ``nn.MultiheadAttention`` inside ``model`` a :class:`ContiguousKeyValueAttention` (same weights);
    returns how many. Only this model's modules change, not the class other code uses."""
    swapped = [m for m in model.modules() if type(m) is nn.MultiheadAttention]
    for module in swapped:
        module.__class__ = ContiguousKeyValueAttention
    return len(swapped)


@ARCH_REGISTRY.register()
class SeeClearMask2FormerDistiller(SemanticDistiller):
    """Frozen Mask2Former (``transformers.Mask2FormerForUniversalSegmentation``) as Semantic Distiller.

    Tokens: the layer-normed queries of the last decoder layer (the input of the class head), top-k
    by class confidence ``max_c softmax(logits)_c`` without the no-object class. Segmentation
    features: the pixel decoder's mask features (its highest-resolution output, stride
    ``config.common_stride`` = 4 for Swin/ResNet backbones). Raw sizes are kept:
    ``token_dim = config.hidden_dim`` and ``seg_dim = config.mask_feature_size`` (256 and 256 for the
    COCO checkpoints); InCAM projects them.

    Frames in [0, 1] are resized to the working size (``input_size``, see the module docstring) and normalised
    with ImageNet mean/std (as the Mask2Former image processor does). Runs under ``torch.no_grad``.

    Args:
        num_tokens: tokens kept per frame (k <= config.num_queries). Default 16.
        pretrained_path: local folder with ``config.json`` and weights (``from_pretrained``,
            ``local_files_only=True``).
        model_id: Hugging Face id already in the local cache, e.g.
            ``facebook/mask2former-swin-tiny-coco-panoptic``; never downloaded.
        config: kwargs of ``Mask2FormerConfig`` for a randomly initialised model. Tests and ablations
            only: random weights carry no semantics.
        input_size: working size: int (the shorter side, aspect kept, multiples of 32), (h, w), or None (the LR
            size). Default 512.
        cache_dir: Hugging Face cache folder for ``model_id``. Default None (the standard cache).
    """

    def __init__(self, num_tokens: int = 16, pretrained_path: Optional[str] = None, model_id: Optional[str] = None,
                 config: Optional[Dict[str, Any]] = None, input_size: InputSize = DEFAULT_WORKING_SIZE,
                 cache_dir: Optional[str] = None):
        super().__init__()
        self.model = _load_mask2former(pretrained_path, model_id, config, cache_dir)
        use_contiguous_cross_attention(self.model)  # one matmul per key/value projection (see the class)
        cfg = self.model.config
        if not 1 <= num_tokens <= cfg.num_queries:
            raise ValueError(f'need 1 <= num_tokens ({num_tokens}) <= num_queries ({cfg.num_queries})')
        self.num_tokens, self.token_dim, self.seg_dim = num_tokens, cfg.hidden_dim, cfg.mask_feature_size
        self.seg_stride = cfg.common_stride
        self.input_size = input_size
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """frames (N, 3, h, w) in [0, 1] -> tokens (N, k, hidden_dim), seg (N, mask_feature_size, h/4, w/4)."""
        x = (resize_frames(frames, self.input_size) - self.mean) / self.std
        x = x.to(self.mean.dtype)
        out = self.model.model(pixel_values=x, output_hidden_states=True, return_dict=True)
        queries = out.transformer_decoder_intermediate_states[-1].transpose(0, 1)  # (Q, N, d) -> (N, Q, d)
        logits = self.model.class_predictor(queries)  # (N, Q, num_labels + 1), no-object last
        tokens, _ = select_topk_queries(scores_from_class_logits(logits), queries, self.num_tokens)
        seg = out.pixel_decoder_last_hidden_state  # mask features (N, mask_feature_size, h/4, w/4)
        return tokens.to(frames.dtype), seg.to(frames.dtype)


_OPENSEED_INSTALL = (
    'SeeClearOpenSeeDDistiller needs OpenSeeD and detectron2, which are not installed ({err}). Install them on a '
    'machine with internet: `pip install "git+https://github.com/facebookresearch/detectron2.git"`, '
    '`git clone https://github.com/IDEA-Research/OpenSeeD && pip install -r OpenSeeD/requirements.txt` and build '
    'its deformable-attention op (`cd OpenSeeD/openseed/body/encoder/ops && sh make.sh`); then set '
    '`openseed_root: /path/to/OpenSeeD`, `config_path` (e.g. configs/openseed/openseed_swint_lang.yaml) and '
    '`weights_path` (the released .pt checkpoint). Without them use SeeClearMask2FormerDistiller or '
    'SeeClearLightDistiller.')

# A small default vocabulary for natural videos (REDS/Vimeo: streets, people, vehicles, scenery).
DEFAULT_VOCABULARY = ('person', 'car', 'bus', 'truck', 'bicycle', 'motorcycle', 'dog', 'bird', 'tree', 'grass',
                      'building', 'road', 'sidewalk', 'sky', 'water', 'wall', 'fence', 'sign', 'window', 'text')


def _import_openseed(openseed_root: Optional[str]) -> SimpleNamespace:
    """Import OpenSeeD's model builder, ``BaseModel`` and config loader (a clone's top-level ``openseed``
    and ``utils`` packages); raise ``ImportError`` with install instructions when they are missing."""
    if openseed_root is not None and openseed_root not in sys.path:
        sys.path.insert(0, openseed_root)
    try:
        importlib.import_module('detectron2')
        openseed = importlib.import_module('openseed')
        base = importlib.import_module('openseed.BaseModel')
        arguments = importlib.import_module('utils.arguments')
    except ImportError as err:
        raise ImportError(_OPENSEED_INSTALL.format(err=err)) from err
    return SimpleNamespace(build_model=openseed.build_model, BaseModel=base.BaseModel,
                           load_opt=lambda path: arguments.load_opt_from_config_files([path]))


@ARCH_REGISTRY.register()
class SeeClearOpenSeeDDistiller(SemanticDistiller):
    """Frozen OpenSeeD (the paper's Semantic Distiller), literally Eqs. 8-9.

    Eq. 8: OpenSeeD yields the decoder queries ``F_img`` and text embeddings ``F_txt`` of
    ``vocabulary`` (its CLIP-style language encoder). Eq. 9: each query is projected to the text
    space by the decoder's ``class_embed`` and scored by ``scores_from_text_similarity`` (cosine
    similarity, max over the vocabulary); ``select_topk_queries`` keeps the ``num_tokens`` best,
    whose normed decoder queries (``HIDDEN_DIM`` = 256) are the tokens. The seg features are the
    pixel decoder's mask features (``MASK_DIM`` = 256, stride 4).

    OpenSeeD and detectron2 are imported only here, in the constructor; when they are missing an
    ``ImportError`` says how to install them. Untested here beyond that (they cannot be installed
    in this environment); the wrapping is exercised in tests with a stand-in module.

    Args:
        config_path: OpenSeeD yaml, e.g. ``configs/openseed/openseed_swint_lang.yaml``.
        weights_path: OpenSeeD checkpoint (``.pt``).
        num_tokens: tokens kept per frame (k <= NUM_OBJECT_QUERIES = 300). Default 16.
        vocabulary: class names for ``F_txt``. Default ``DEFAULT_VOCABULARY`` (20 street/scene words).
        openseed_root: a clone of OpenSeeD to put on ``sys.path``. Default None (already importable).
        input_size: working size as for ``SeeClearMask2FormerDistiller``. Default 512.
    """

    def __init__(self, config_path: str, weights_path: str, num_tokens: int = 16,
                 vocabulary: Optional[Sequence[str]] = None, openseed_root: Optional[str] = None,
                 input_size: InputSize = DEFAULT_WORKING_SIZE):
        super().__init__()
        api = _import_openseed(openseed_root)
        for name, path in (('config_path', config_path), ('weights_path', weights_path)):
            if not os.path.isfile(path):
                raise FileNotFoundError(f'OpenSeeD {name} not found: {path!r}')
        opt = api.load_opt(config_path)
        self.net = api.BaseModel(opt, api.build_model(opt)).from_pretrained(weights_path).model
        self.vocabulary = list(vocabulary or DEFAULT_VOCABULARY)
        self.net.sem_seg_head.predictor.lang_encoder.get_text_embeddings(self.vocabulary, is_eval=True)
        dec = opt['MODEL']['DECODER']
        if not 1 <= num_tokens <= dec['NUM_OBJECT_QUERIES']:
            raise ValueError(f"need 1 <= num_tokens ({num_tokens}) <= NUM_OBJECT_QUERIES ({dec['NUM_OBJECT_QUERIES']})")
        self.num_tokens, self.token_dim = num_tokens, dec['HIDDEN_DIM']
        self.seg_dim, self.seg_stride = opt['MODEL']['ENCODER']['MASK_DIM'], opt['MODEL']['ENCODER']['COMMON_STRIDE']
        self.input_size = input_size
        self.freeze()

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """frames (N, 3, h, w) in [0, 1] -> tokens (N, k, HIDDEN_DIM), seg (N, MASK_DIM, h/4, w/4)."""
        queries, mask_features = self._run_openseed(resize_frames(frames, self.input_size))
        predictor = self.net.sem_seg_head.predictor
        text_emb = predictor.lang_encoder.default_text_embeddings  # (V, e), set by get_text_embeddings
        scores = scores_from_text_similarity(queries @ predictor.class_embed, text_emb)  # Eq. 9 Sim
        tokens, _ = select_topk_queries(scores, queries, self.num_tokens)
        return tokens.to(frames.dtype), mask_features.to(frames.dtype)

    def _run_openseed(self, frames: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """OpenSeeD's backbone, pixel decoder and query decoder (``OpenSeeD.forward_seg`` without the
        post-processing); returns normed queries (N, Q, d) and mask features (N, MASK_DIM, H/4, W/4)."""
        net, h, w = self.net, frames.shape[-2], frames.shape[-1]
        x = (frames * 255.0 - net.pixel_mean) / net.pixel_std  # OpenSeeD normalises 0-255 images
        div = max(int(net.size_divisibility), 1)
        x = F.pad(x, (0, -w % div, 0, -h % div))  # ImageList.from_tensors pads bottom/right
        captured = []
        # decoder_norm(queries) is the input of class_embed and mask_embed; its last call is the last layer
        hook = net.sem_seg_head.predictor.decoder_norm.register_forward_hook(lambda m, i, o: captured.append(o))
        try:
            mask_features, _, multi_scale = net.sem_seg_head.pixel_decoder.forward_features(net.backbone(x), None)
            net.sem_seg_head.predictor(multi_scale, mask_features, None)
        finally:
            hook.remove()
        queries = captured[-1].transpose(0, 1)  # forward_prediction_heads norms (Q, N, d) -> (N, Q, d)
        out_h, out_w = math.ceil(h / self.seg_stride), math.ceil(w / self.seg_stride)
        return queries, mask_features[..., :out_h, :out_w]  # drop the padding
