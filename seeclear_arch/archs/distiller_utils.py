"""Helpers shared by every Semantic Distiller backend (paper Sec. 3.2, Eqs. 8-9).

Eq. 9, ``O_i, P_i = top_k(Sim(F_img, F_txt))``, is split in two steps so that all backends run the
same selection code:

1. a per-query score ``(N, Q)``: either from class logits with a no-object column
   (:func:`scores_from_class_logits`, Mask2Former) or from the similarity between query and text
   embeddings of a vocabulary (:func:`scores_from_text_similarity`, OpenSeeD, literally Eq. 9);
2. :func:`select_topk_queries` keeps the ``k`` best queries, highest score first.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def select_topk_queries(scores: torch.Tensor, queries: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k`` highest-scoring queries of each frame (the ``top_k`` of Eq. 9).

    Args:
        scores: (N, Q) one score per query; higher is better.
        queries: (N, Q, d) query embeddings.
        k: number of tokens to keep, ``1 <= k <= Q``.

    Returns:
        tokens (N, k, d) in descending score order, and their query indices (N, k), int64.

    Ties are broken by the lower query index (a stable sort), so the result is deterministic on every
    device. ``k > Q`` raises ``ValueError`` rather than padding: padded tokens would be attended to
    as if they were instances, and the backends check ``k`` against their query count at
    construction, so the error shows up when the network is built.
    """
    if scores.dim() != 2 or queries.dim() != 3 or queries.shape[:2] != scores.shape:
        raise ValueError(f'expected scores (N, Q) and queries (N, Q, d), got {tuple(scores.shape)} '
                         f'and {tuple(queries.shape)}')
    num_queries = scores.shape[1]
    if not 1 <= k <= num_queries:
        raise ValueError(f'cannot select k={k} tokens from {num_queries} queries (need 1 <= k <= {num_queries})')
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]  # (N, k)
    tokens = torch.gather(queries, 1, order[..., None].expand(-1, -1, queries.shape[-1]))  # (N, k, d)
    return tokens, order


def scores_from_class_logits(logits: torch.Tensor, has_no_object: bool = True) -> torch.Tensor:
    """Query confidence from class logits: ``max_c softmax(logits)_c`` over real classes.

    Args:
        logits: (N, Q, C+1) with the no-object class last (Mask2Former/DETR convention), or (N, Q, C)
            when ``has_no_object`` is False.
        has_no_object: drop the last column after the softmax. Default True.

    Returns:
        (N, Q) scores in [0, 1].
    """
    probs = logits.float().softmax(dim=-1)
    if has_no_object:
        probs = probs[..., :-1]
    return probs.max(dim=-1).values


def scores_from_text_similarity(query_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """``Sim(F_img, F_txt)`` of Eq. 9: cosine similarity of each query to each vocabulary entry, max
    over the vocabulary.

    Args:
        query_emb: (N, Q, e) query embeddings projected into the text space.
        text_emb: (V, e) one embedding per vocabulary entry (need not be normalised).

    Returns:
        (N, Q) scores in [-1, 1].
    """
    sim = F.normalize(query_emb.float(), dim=-1) @ F.normalize(text_emb.float(), dim=-1).t()  # (N, Q, V)
    return sim.max(dim=-1).values


def working_size(size: Tuple[int, int], input_size: Optional[Union[int, Sequence[int]]],
                 multiple: int = 32) -> Tuple[int, int]:
    """The size a pretrained segmenter runs at for LR frames of ``size`` (h, w).

    ``input_size``: None keeps ``size``; an int is the shorter side (the aspect ratio kept, both sides rounded to a
    multiple of ``multiple``, the backbone's total stride, at least one); a pair is the exact (h, w).
    """
    if input_size is None:
        return tuple(size)
    if isinstance(input_size, int):
        ratio = input_size / min(size)
        return tuple(max(multiple, int(round(s * ratio / multiple)) * multiple) for s in size)
    return tuple(int(s) for s in input_size)


def resize_frames(frames: torch.Tensor, input_size: Optional[Union[int, Sequence[int]]]) -> torch.Tensor:
    """Bicubically resize (N, C, h, w) frames in [0, 1] to :func:`working_size` (clamped to [0, 1])."""
    size = working_size(tuple(frames.shape[-2:]), input_size)
    if tuple(frames.shape[-2:]) == size:
        return frames
    return F.interpolate(frames, size=size, mode='bicubic', align_corners=False).clamp(0, 1)
