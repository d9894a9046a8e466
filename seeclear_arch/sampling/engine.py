"""The sampling engine: one clip (:func:`sample_clip`) and one sequence (:func:`sample_sequence`), Algorithm 1.

Everything that samples goes through here: ``SeeClearModel.test`` (validation and ``seeclear_arch.test``), user-video
inference (``seeclear_arch.inference.video``) and the benchmarks.

A sequence of ``N`` LR frames is cut into non-overlapping clips of ``m`` frames (docs/formulation.md D26), the tail
clip padded by mirroring and trimmed (:func:`~seeclear_arch.sampling.clips.split_clips`). The engine owns the
CaTeGory memory (the network holds no state): a sequence starts from the learned one (``None``); then per clip
(Alg. 1 l. 4-45): ``encode_condition(lq, y, memory)`` once, the process's sampler with ``T`` (or ``num_steps``)
network calls, the last one through ``final_step``, which also returns the memory built from that step's decoder
features, and that memory goes to the next clip (dropped with ``carry=False``, the ablation
``val.carry_memory: false``). Clip ``k`` draws its noise from a generator seeded with ``(seed, k)``
(:func:`clip_seed`), so a frame's noise does not depend on how the sequence is cut into chunks (``clips_per_chunk``)
or shards (``clip_range``); with the process's ``noise: shared`` every clip uses ``seed`` itself, so every clip draws
the same noise (and the frames of a clip share it): static content gets the same perturbation throughout the
sequence. ``noise_scale`` scales the
posterior noise of every step.

Spatial tiles (``tile``, ``tile_overlap``; ``seeclear_arch.sampling.tiling``): every diffusion step calls the network
on each LR tile and blends the tiles' ``x0_hat`` into one HR frame; the prior, the posterior and their noise stay
whole-frame, so overlapping tiles see the same noise. Each tile has its own CaTeGory memory across clips (the
engine's list ``memories``, one entry per tile): the memory is built from the features of the region the clip
covered (in training, a patch), so a tile's memory describes that tile, as the memory of an untiled run of that crop
would; one tile covering the frame is exactly the untiled run.

Precision (``dtype``: ``float32``, ``bfloat16``, ``float16``): only the network calls (``encode_condition``, the
steps, ``final_step``) run under ``torch.autocast``; their outputs are cast to float32, and the sampler state, the
posterior and its noise stay float32. Around the whole clip an outer autocast context that is itself off keeps
autocast's cache of the weights' low-precision copies alive from one network call to the next (autocast drops it when
its outermost context exits), so the weights are cast once per clip instead of at every step (same values).

Propagation (``propagation``, ``sampling.propagation``; off unless given): each sampled frame, once its clip is done,
is fused with the previous output frame warped along the condition's optical flow; the last fused frame is carried
from clip to clip and chunk to chunk like the memories, so chunking does not change the result.
"""
import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from seeclear_arch.archs.denoiser import encode_condition, final_step
from seeclear_arch.diffusion import BlurringResShift
from seeclear_arch.sampling.clips import split_clips
from seeclear_arch.sampling.precision import warn_if_slow_on_cpu
from seeclear_arch.sampling.progress import SamplingProgress
from seeclear_arch.sampling.propagation import FlowPropagation, PropagationState, propagation_options
from seeclear_arch.sampling.tiling import DEFAULT_OVERLAP, Tile, TileBlender, check_tiling, plan_tiles, tile_align

Clip = Tuple[List[int], int]  # (frame indices, number of valid outputs), as returned by ``split_clips``
ConditionFn = Callable[[torch.Tensor], torch.Tensor]  # LR frames (B, n, C, h, w) -> y (B, n, C, H, W), [0, 1]
ReadFn = Callable[[Sequence[int]], torch.Tensor]  # frame indices -> LR frames (1, n, C, h, w), [0, 1]
DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


def check_dtype(dtype: str) -> torch.dtype:
    """``val.dtype`` / ``--dtype`` as a torch dtype; raises naming the options."""
    if dtype not in DTYPES:
        raise ValueError(f'dtype (val.dtype / --dtype) must be one of {", ".join(DTYPES)}, got {dtype!r}.')
    return DTYPES[dtype]


def network_autocast(device: torch.device, dtype: str) -> ContextManager:
    """``torch.autocast`` for the network calls at ``dtype`` (nothing for float32)."""
    if check_dtype(dtype) == torch.float32:
        return contextlib.nullcontext()
    warn_if_slow_on_cpu(DTYPES[dtype], device, f'val.dtype / --dtype {dtype}')
    return torch.autocast(device.type, dtype=DTYPES[dtype])


def clip_cast_scope(device: torch.device, dtype: str) -> ContextManager:
    """Around a clip: autocast off (the sampler stays float32) but nested, so the weights' casts are cached across
    the clip's network calls (nothing for float32)."""
    if check_dtype(dtype) == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, enabled=False)


def sampling_options(val_opt: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The engine's keyword arguments from a yml's ``val`` section: ``seed``, ``num_steps``, ``carry_memory``,
    ``tile``, ``tile_overlap``, ``dtype``, ``noise_scale`` (defaults: 0, T, true, 0 = off, 8, float32, 1) and
    ``propagation`` (``propagation_threshold``, ``propagation_flow``; default off, ``sampling.propagation``)."""
    val_opt = val_opt or {}
    opts = {'seed': int(val_opt.get('seed', 0)), 'num_steps': val_opt.get('num_steps'),
            'carry': bool(val_opt.get('carry_memory', True)), 'tile': int(val_opt.get('tile') or 0),
            'tile_overlap': int(val_opt.get('tile_overlap', DEFAULT_OVERLAP)),
            'dtype': str(val_opt.get('dtype') or 'float32'), 'noise_scale': float(val_opt.get('noise_scale', 1.0)),
            'propagation': propagation_options(val_opt)}
    check_tiling(opts['tile'], opts['tile_overlap'] if opts['tile'] else 0)
    check_dtype(opts['dtype'])
    if not opts['noise_scale'] >= 0:
        raise ValueError(f"val.noise_scale must be >= 0, got {opts['noise_scale']}")
    return opts


def _crop(x: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    return x[..., rows, cols].contiguous()


def sample_clip(net: nn.Module, process: BlurringResShift, lq: torch.Tensor, y: torch.Tensor,
                generator: torch.Generator, num_steps: Optional[int] = None, carry: bool = True,
                tiles: Optional[Sequence[Tile]] = None, memories: Optional[List[Any]] = None, dtype: str = 'float32',
                progress: Optional[SamplingProgress] = None, noise_scale: float = 1.0) -> torch.Tensor:
    """Sample one clip: LR ``lq`` ``(B, m, C, h, w)`` and condition ``y`` ``(B, m, C, H, W)`` in [0, 1] -> HR frames
    in [0, 1]. The process owns the value range and the network's input scaling.

    ``tiles``: LR tiles (``tiling.plan_tiles``; None: the whole frame); ``memories``: the memory each tile's clip
    queries (None entries or no list: the learned memory), replaced in place by the memory this clip builds when
    ``carry``; ``dtype``: the network's autocast dtype; ``noise_scale``:
    the posterior noise multiplier (``BlurringResShift.p_step``)."""
    with clip_cast_scope(y.device, dtype):
        return _sample_clip(net, process, lq, y, generator, num_steps, carry, tiles, memories, dtype, progress,
                            noise_scale)


def _sample_clip(net: nn.Module, process: BlurringResShift, lq: torch.Tensor, y: torch.Tensor,
                 generator: torch.Generator, num_steps: Optional[int], carry: bool, tiles: Optional[Sequence[Tile]],
                 memories: Optional[List[Any]], dtype: str, progress: Optional[SamplingProgress],
                 noise_scale: float = 1.0) -> torch.Tensor:
    y = process.to_range(y)
    scale = y.shape[-1] // lq.shape[-1]
    tiled = tiles is not None and len(tiles) > 1
    tiles = list(tiles) if tiled else [Tile(0, lq.shape[-2], 0, lq.shape[-1])]
    memories = memories if memories is not None else [None] * len(tiles)
    if len(memories) != len(tiles):
        raise ValueError(f'{len(memories)} memories for {len(tiles)} tiles')
    autocast = network_autocast(y.device, dtype)
    crops = [(_crop(lq, *t.lr()), _crop(y, *t.hr(scale))) if tiled else (lq, y) for t in tiles]
    conds = []
    for k, (lq_k, y_k) in enumerate(crops):
        with autocast:
            conds.append(encode_condition(net, lq_k, y_k, memories[k]))
    last = process.timesteps(num_steps)[-1]
    updates: List[Any] = [None] * len(tiles)
    blender = TileBlender(tiles, scale, y) if tiled else None
    if progress is not None:
        progress.start_clip(len(process.timesteps(num_steps)))

    def call(k: int, u_in: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        (lq_k, y_k), cond = crops[k], conds[k]
        u_k = _crop(u_in, *tiles[k].hr(scale)) if tiled else u_in
        with autocast:
            if carry and int(t[0]) == last:  # Alg. 1 l. 43: the final step also yields the next clip's memory
                x0_hat, updates[k] = final_step(net, u_k, y_k, lq_k, t, cond)
            else:
                x0_hat = net(u_k, y_k, lq_k, t) if cond is None else net(u_k, y_k, lq_k, t, cond)
        return x0_hat.float()

    def denoise_fn(u_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        u_in = process.scale_model_input(u_t, t)
        preds = [call(k, u_in, t) for k in range(len(tiles))]
        if progress is not None:
            progress.step()
        return blender.blend(preds) if tiled else preds[0]

    out = process.sample(denoise_fn, y, generator=generator, num_steps=num_steps, noise_scale=noise_scale)
    if carry:  # Alg. 1 l. 44: each tile's next clip queries the memory built from this one
        memories[:] = updates
    return process.from_range(out).clamp(0, 1)


@torch.no_grad()
def clip_condition(net: nn.Module, process: BlurringResShift, lq: torch.Tensor, y: torch.Tensor,
                   dtype: str = 'float32') -> Any:
    """What :func:`sample_clip` holds per tile for a clip: ``encode_condition(lq, y)`` (y in [0, 1])."""
    with network_autocast(y.device, dtype):
        return encode_condition(net, lq, process.to_range(y))


@torch.no_grad()
def probe_network_call(net: nn.Module, process: BlurringResShift, lq: torch.Tensor, y: torch.Tensor,
                       dtype: str = 'float32') -> None:
    """The largest network call of a clip, as :func:`sample_clip` makes it: ``encode_condition`` and
    ``final_step`` at ``t = T`` on the prior (for ``--tile auto``'s memory probe)."""
    cond = clip_condition(net, process, lq, y, dtype)
    y = process.to_range(y)
    t = torch.full((y.shape[0], ), float(process.timesteps()[0]), device=y.device)
    u = process.scale_model_input(process.prior_sample(y, torch.Generator(device=y.device).manual_seed(0)), t)
    with network_autocast(y.device, dtype):
        final_step(net, u, y, lq, t, cond)


NumberedClip = Tuple[int, Clip]  # (clip index in the sequence, clip)


def numbered_chunks(num_frames: int, clip_len: int, clips_per_chunk: int = 0,
                    clip_range: Optional[Tuple[int, int]] = None) -> List[List[NumberedClip]]:
    """The clips ``clip_range`` (default: all) of the sequence (``split_clips``), numbered, in chunks of
    ``clips_per_chunk`` (0: one chunk) cut on the whole sequence's grid (multiples of ``clips_per_chunk`` from clip
    0), so a shard cuts the chunks a one-process run cuts and a per-chunk condition (e.g. a recurrent base network)
    differs only at the seams."""
    numbered = list(enumerate(split_clips(num_frames, clip_len)))
    first, end = clip_range if clip_range is not None else (0, len(numbered))
    if not 0 <= first <= end <= len(numbered):
        raise ValueError(f'clip_range {clip_range} is outside the sequence\'s {len(numbered)} clips.')
    per_chunk = clips_per_chunk or max(end - first, 1)
    grid = first - first % per_chunk if clips_per_chunk else first
    return [numbered[max(i, first):min(i + per_chunk, end)] for i in range(grid, end, per_chunk)]


def plan_chunks(num_frames: int, clip_len: int, clips_per_chunk: int = 0) -> List[List[Clip]]:
    """The clips of the whole sequence (``split_clips``) grouped ``clips_per_chunk`` at a time (all if 0)."""
    return [[clip for _, clip in chunk] for chunk in numbered_chunks(num_frames, clip_len, clips_per_chunk)]


@dataclass
class SequenceState:
    """All a chunk depends on besides its frames: the state after the chunks before it (resumable inference).

    ``chunk``: the index of the next chunk (of the range); ``start``: its first frame; ``memories``: one CaTeGory
    memory per tile; ``fused``: the propagation's last frame. (The noise needs no state: it is seeded per clip.)"""

    chunk: int
    start: int
    memories: List[Any]
    fused: Optional[PropagationState] = None


def _on(value: Any, device: torch.device) -> Any:
    """``value`` (tensors in tuples, named tuples, lists and dicts) with its tensors moved to ``device``."""
    if torch.is_tensor(value):
        return value.to(device)
    if isinstance(value, tuple) and hasattr(value, '_fields'):
        return type(value)(*(_on(v, device) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_on(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _on(v, device) for k, v in value.items()}
    return value


class SampledChunk(NamedTuple):
    """A chunk of the sequence: its first frame index, HR frames (1, n, C, H, W) in [0, 1], the state after it."""

    start: int
    frames: torch.Tensor
    state: SequenceState


def sample_sequence(*args: Any, **kwargs: Any) -> Iterator[Tuple[int, torch.Tensor]]:
    """:func:`sample_chunks` yielding ``(first frame index, HR frames)`` only."""
    for chunk in sample_chunks(*args, **kwargs):
        yield chunk.start, chunk.frames


def clip_seed(seed: int, clip: int, noise: str = 'iid') -> int:
    """The seed of clip ``clip``'s noise: ``seed`` for every clip with shared noise, else a 32-bit hash of
    ``(seed, clip)`` (torch's CPU generator keeps only 32 bits of a seed, so ``seed * 2**32 + clip`` would not do)."""
    if noise == 'shared':
        return int(seed)
    return int.from_bytes(hashlib.sha256(f'{int(seed)}/{int(clip)}'.encode()).digest()[:4], 'little')


@torch.no_grad()
def sample_chunks(net: nn.Module, process: BlurringResShift, read_frames: ReadFn, num_frames: int, clip_len: int,
                  condition: ConditionFn, seed: int = 0, num_steps: Optional[int] = None, carry: bool = True,
                  clips_per_chunk: int = 0, device: Optional[torch.device] = None,
                  progress: Optional[SamplingProgress] = None, tile: int = 0,
                  tile_overlap: int = DEFAULT_OVERLAP, dtype: str = 'float32', noise_scale: float = 1.0,
                  propagation: Optional[FlowPropagation] = None, resume: Optional[SequenceState] = None,
                  clip_range: Optional[Tuple[int, int]] = None, warmup_clips: int = 0) -> Iterator[SampledChunk]:
    """Yield the sequence chunk by chunk (see the module docstring), each with the state after it.

    Args:
        net: the denoiser, in eval mode.
        process: the diffusion process (sampler, value range, input scaling).
        read_frames: LR frames for a list of indices, ``(1, n, C, h, w)`` in [0, 1] (read once per chunk).
        num_frames, clip_len: ``N`` and ``m``.
        condition: ``y`` for the LR frames of a chunk (bicubic, or a frozen base network).
        seed: the noise seed; clip ``k`` draws its noise from :func:`clip_seed` (on ``device``).
        num_steps: sampler steps (default ``T``).
        carry: carry the memory from clip to clip (Alg. 1 l. 44).
        clips_per_chunk: clips per yielded chunk; 0 yields the whole sequence (or range) at once.
        device: where the network runs (default: the device of its first parameter).
        progress: bars advanced per clip and per step (``sampling.progress``).
        tile, tile_overlap: LR tile size (0 = whole frames) and overlap, see ``sampling.tiling``.
        dtype: autocast dtype of the network calls (``float32``: none).
        noise_scale: posterior noise multiplier of every step (1: the exact posterior).
        propagation: flow-guided fusion of each output frame with the previous one (``sampling.propagation``),
            carried across clips and chunks; None: off (Algorithm 1's frames as sampled).
        resume: a chunk's ``state`` from an earlier run with the same arguments: start after that chunk, with
            exactly the frames the uninterrupted run gives from there.
        clip_range: ``(first, end)``: sample only clips ``first .. end - 1`` of the sequence (a shard).
        warmup_clips: sample this many clips before ``first`` (when there are) and drop their frames: their
            memory and propagation state start the range as the frames before it would.
    """
    device = device or next(net.parameters()).device
    check_dtype(dtype)
    chunks = numbered_chunks(num_frames, clip_len, clips_per_chunk, clip_range)
    numbered = list(enumerate(split_clips(num_frames, clip_len)))  # for the warm-up clips before the range
    first, end = clip_range if clip_range is not None else (0, len(numbered))
    generator = torch.Generator(device=device)
    tiles: Optional[List[Tile]] = None
    memories: List[Any] = []
    fused: Optional[PropagationState] = None  # the propagation's last frame, carried like the memories
    start = numbered[first][1][0][0] if first < end else 0
    if resume is not None:
        if not 0 <= resume.chunk <= len(chunks):
            raise ValueError(f'Cannot resume at chunk {resume.chunk}: the range has {len(chunks)} chunks.')
        fused, start = _on(resume.fused, device), resume.start

    def run(clips: List[NumberedClip], keep: bool) -> Optional[torch.Tensor]:
        nonlocal tiles, memories, fused
        needed = sorted({i for _, (indices, _) in clips for i in indices})
        local = {frame: k for k, frame in enumerate(needed)}
        lq = read_frames(needed).to(device)
        with network_autocast(device, dtype):  # a frozen base network runs at the sampling precision
            y = condition(lq).float()
        if tiles is None:
            align = tile_align(y.shape[-1] // lq.shape[-1], process.patch_size)
            tiles = plan_tiles(tuple(lq.shape[-2:]), tile, tile_overlap if tile else 0, align)
            memories = [None] * len(tiles)  # every tile starts from the learned memory
            if resume is not None:
                if len(resume.memories) != len(tiles):
                    raise ValueError(f'Cannot resume: {len(resume.memories)} saved memories for {len(tiles)} tiles.')
                memories = _on(list(resume.memories), device)
        outputs = []
        for clip, (indices, num_valid) in clips:
            idx = torch.as_tensor([local[i] for i in indices], device=device)
            generator.manual_seed(clip_seed(seed, clip, process.noise))
            frames = sample_clip(net, process, lq[:, idx], y[:, idx], generator, num_steps, carry, tiles, memories,
                                 dtype, progress if keep else None, noise_scale)[:, :num_valid]
            if propagation is not None:
                frames, fused = propagation.apply(frames, y[:, idx[:num_valid]], fused)
            if keep:
                outputs.append(frames)
                if progress is not None:
                    progress.end_clip(num_valid)
        return torch.cat(outputs, dim=1) if keep else None

    carried = carry or propagation is not None  # otherwise warm-up clips would change nothing
    if resume is None and warmup_clips > 0 and 0 < first < end and carried:
        run(numbered[max(0, first - warmup_clips):first], keep=False)
    for index, clips in enumerate(chunks):
        if resume is not None and index < resume.chunk:
            continue
        frames = run(clips, keep=True)
        state = SequenceState(index + 1, start + frames.size(1), list(memories), fused)
        yield SampledChunk(start, frames, state)
        start += frames.size(1)
