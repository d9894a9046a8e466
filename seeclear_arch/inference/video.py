"""Super-resolve a user's video (a video file or a folder of frames) with a trained ``SeeClearModel``.

``seeclear_arch.inference.cli`` (``seeclear-infer``) is the command line; this module holds the logic:

* :func:`~seeclear_arch.data.video_reader.load_sequence`: a lazy LR reader, a video decoded in order with a
  bounded window of frames (PyAV, OpenCV fallback) or a frame folder read on demand (``data.frame_io`` policy:
  grayscale/RGBA converted with a warning, one size enforced), so memory does not grow with the length.
* :func:`load_inference_options` / :func:`build_inference_model`: the model from a test yml, weights from
  ``--weights`` or ``path.pretrain_network_g``.
* :func:`super_resolve`: the sequence sampled in chunks of ``chunk`` frames (a multiple of the clip length ``m``),
  yielding each chunk's HR frames so that long videos never hold the whole HR sequence.
* :func:`run_inference`: all of it, writing ``00000000.png ...`` atomically and optionally an mp4
  (``data.video_writer``: exact source frame rate, source audio, codec/quality options) as frames are
  produced, with an optional colour fix (``seeclear_arch.inference.color_fix``).

Chunking is exact: the clips are those of ``SeeClearModel.test`` on the whole sequence (``split_clips`` over all
``N`` frames, tail mirrored), the CaTeGory memory is reset once and carried across chunks, and each clip's noise is
seeded from ``(seed, clip index)``. So any ``chunk`` gives the same frames as ``test()``, as long as the
condition ``y`` is per frame (bicubic, the default). With ``network_base`` the condition is computed per chunk: a
recurrent base network (``base_mode: sequence``) sees only the chunk's frames and sliding windows are mirrored at
chunk edges, so frames near chunk boundaries can differ slightly from a whole-sequence run (use ``chunk=0``).
"""
import contextlib
import copy
import os
import time
from dataclasses import dataclass
from os import path as osp
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
from basicsr.models import build_model
from basicsr.utils import tensor2img
from basicsr.utils.options import ordered_yaml

from seeclear_arch.data.atomic_files import write_png
from seeclear_arch.data.video_reader import LRSequence, VideoReader, exact_rate, load_sequence
from seeclear_arch.data.video_writer import Mp4Writer, concat_segments
from seeclear_arch.inference import shard
from seeclear_arch.inference.color_fix import check_color_fix, color_fix
from seeclear_arch.inference.resume import ResumeStore, file_digest, saved_fingerprint
from seeclear_arch.models.condition import bicubic_upsample
from seeclear_arch.sampling import engine as sampling
from seeclear_arch.sampling import tiling
from seeclear_arch.sampling.cpu_memory import release_freed_memory
from seeclear_arch.sampling.engine import Clip
from seeclear_arch.sampling.presets import with_preset
from seeclear_arch.sampling.progress import SamplingProgress

DEFAULT_CHUNK_FRAMES = 50
DEFAULT_WARMUP_CLIPS = 1  # sharded runs: clips sampled before a shard's range to build its memory (docs/video.md)
MODEL_KEYS = ('model_type', 'scale', 'network_g', 'network_base', 'base_mode', 'diffusion', 'diffusion_range',
              'diffusion_input_scaling')  # the yml's keys that change the frames besides val's (resume fingerprint)
DEFAULT_FPS = 25.0


# ------------------------------------------------------------------------------------------------- model
def read_options(opt_path: str) -> dict:
    """The yml at ``opt_path`` as BasicSR reads it (``!!float`` etc.)."""
    import yaml
    if not osp.isfile(opt_path):
        raise FileNotFoundError(f'Option file {opt_path} does not exist.')
    with open(opt_path, encoding='utf-8') as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def load_inference_options(opt: dict, weights: Optional[str] = None, require_weights: bool = True,
                           num_gpu: Optional[int] = None) -> dict:
    """A test-mode copy of ``opt`` (``is_train`` and ``dist`` false) loading ``weights`` (else the yml's
    ``path.pretrain_network_g``); raises naming the file when it is missing. ``num_gpu`` [yml; ``auto`` = all]."""
    opt = copy.deepcopy(dict(opt))
    opt.update(is_train=False, dist=False, rank=0, world_size=1, auto_resume=False)
    gpus = opt.get('num_gpu', 'auto') if num_gpu is None else num_gpu
    opt['num_gpu'] = torch.cuda.device_count() if gpus == 'auto' else int(gpus)
    path = dict(opt.get('path') or {})
    weights = weights or path.get('pretrain_network_g')
    if weights:
        weights = osp.expanduser(str(weights))
        if not osp.isfile(weights):
            raise FileNotFoundError(f'Weights file {weights} does not exist (from --weights or the yml\'s '
                                    'path.pretrain_network_g); train a model first or pass --weights PATH.')
    elif require_weights:
        raise ValueError('No weights given: pass --weights PATH or set path.pretrain_network_g in the yml.')
    path['pretrain_network_g'] = weights or None
    opt['path'] = path
    return opt


def build_inference_model(opt: dict) -> torch.nn.Module:
    """``SeeClearModel`` (or the yml's ``model_type``) from options made by :func:`load_inference_options`."""
    return build_model(opt)


# ---------------------------------------------------------------------------------------------- sampling
def resolve_chunk(chunk: Optional[int], clip_len: int) -> int:
    """Frames per chunk: ``None`` -> ``DEFAULT_CHUNK_FRAMES`` rounded down to a multiple of ``clip_len`` (at
    least one clip); ``0`` -> the whole sequence (returned as 0); otherwise a positive multiple of ``clip_len``."""
    if chunk is None:
        return max(clip_len, DEFAULT_CHUNK_FRAMES // clip_len * clip_len)
    if chunk < 0 or chunk % clip_len:
        raise ValueError(f'chunk must be 0 (whole sequence) or a positive multiple of the clip length '
                         f'm = {clip_len}, got {chunk}.')
    return chunk


def plan_chunks(num_frames: int, clip_len: int, chunk: int) -> List[List[Clip]]:
    """The clips of the whole sequence (``split_clips``) grouped ``chunk // clip_len`` at a time (all if 0)."""
    return sampling.plan_chunks(num_frames, clip_len, resolve_chunk(chunk, clip_len) // clip_len if chunk else 0)


def super_resolve(*args: Any, **kwargs: Any) -> Iterator[Tuple[int, torch.Tensor]]:
    """:func:`super_resolve_chunks` yielding ``(first frame index, HR frames (n, 3, H, W) in [0, 1])`` only."""
    for chunk in super_resolve_chunks(*args, **kwargs):
        yield chunk.start, chunk.frames


def super_resolve_chunks(model, seq: LRSequence, chunk: Optional[int] = None, seed: Optional[int] = None,
                         num_steps: Optional[int] = None, tile: Optional[int] = None,
                         tile_overlap: Optional[int] = None, dtype: Optional[str] = None,
                         progress: Optional[SamplingProgress] = None, propagation: Optional[float] = None,
                         preset: Optional[str] = None, resume: Optional[sampling.SequenceState] = None,
                         clip_range: Optional[Tuple[int, int]] = None,
                         warmup_clips: int = 0) -> Iterator[sampling.SampledChunk]:
    """Yield the HR frames ``(n, 3, H, W)`` in [0, 1] chunk by chunk with the engine's state after each (see the
    module docstring), through the sampling engine (``seeclear_arch.sampling.engine.sample_chunks``).

    ``seed`` [``val.seed``, else 0] seeds each clip's noise with its clip index; ``num_steps`` [``val.num_steps``];
    ``tile`` / ``tile_overlap`` [``val.tile`` / ``val.tile_overlap``: LR pixels, 0 = no tiles]; ``dtype``
    [``val.dtype``, else float32]; ``progress``: bars advanced per clip and step; ``propagation``
    [``val.propagation``, else 0 = off]: strength of the flow-guided propagation (``sampling.propagation``);
    ``preset`` [``val.preset``]: steps and precision (``sampling.presets``), below the explicit arguments;
    ``resume``: a state this function yielded in an earlier run with the same arguments (start after that chunk);
    ``clip_range``, ``warmup_clips``: sample only these clips, after that many warm-up clips (a shard).
    """
    opts = resolve_sampling(model, seed=seed, num_steps=num_steps, tile=tile, tile_overlap=tile_overlap, dtype=dtype,
                            propagation=propagation, preset=preset)
    clip_len = model.clip_length()
    chunks = sampling.sample_chunks(
        model.inference_net(), model.diffusion, seq.clip, len(seq), clip_len, model.condition,
        clips_per_chunk=(resolve_chunk(chunk, clip_len) // clip_len) if chunk != 0 else 0, device=model.device,
        progress=progress, resume=resume, clip_range=clip_range, warmup_clips=warmup_clips, **opts)
    for start, frames, state in chunks:
        yield sampling.SampledChunk(start, frames[0].cpu(), state)


def resolve_sampling(model, preset: Optional[str] = None, **given: Any) -> Dict[str, Any]:
    """The engine's options: the yml's ``val``, then ``preset``, then the ``given`` arguments that are not None."""
    return sampling.sampling_options(dict(with_preset(model.opt.get('val'), preset),
                                          **{k: v for k, v in given.items() if v is not None}))


def auto_tile(model, seq: LRSequence, max_memory_gib: float, chunk: Optional[int] = None,
              dtype: Optional[str] = None, probe_sizes: Tuple[int, int] = (32, 64),
              tile_overlap: int = tiling.DEFAULT_OVERLAP) -> int:
    """``--tile auto``: the largest LR tile whose estimated peak memory fits ``max_memory_gib`` (0 = no tiles).

    The peak of one clip's largest network call is measured at two probe tile sizes (``tiling.measure_peak``:
    CUDA's allocator peak, else the sampled RSS of this process) and extrapolated linearly per pixel (x1.25), plus
    the per-clip conditions of the other tiles (the engine holds one per tile for the whole clip; their size is
    measured at the larger probe), the engine's full-frame buffers and this process's memory now
    (``tiling.MemoryModel``)."""
    if max_memory_gib is None or max_memory_gib <= 0:
        raise ValueError(f'--tile auto needs --max-memory GIB (a positive number of GiB), got {max_memory_gib!r}.')
    clip_len, scale, device = model.clip_length(), model.scale, model.device
    dtype = dtype or str((model.opt.get('val') or {}).get('dtype') or 'float32')
    net = model.inference_net()

    def probe_clip(size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        lq = torch.rand(1, clip_len, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
        return lq, model.condition(lq)

    def probe(size: int) -> int:
        lq, y = probe_clip(size)
        return tiling.measure_peak(lambda: sampling.probe_network_call(net, model.diffusion, lq, y, dtype), device)

    def cond_bytes(size: int) -> int:
        return tiling.tensor_bytes(sampling.clip_condition(net, model.diffusion, *probe_clip(size), dtype))

    if device.type != 'cuda':
        release_freed_memory()  # the RSS then counts live memory only (seeclear_arch.sampling.cpu_memory)
    fixed = torch.cuda.memory_allocated(device) if device.type == 'cuda' else tiling.current_rss()
    chunk_len = resolve_chunk(chunk, clip_len) if chunk != 0 else len(seq)
    align = tiling.tile_align(scale)
    memory = tiling.fit_memory_model(probe, probe_sizes, scale, clip_len, fixed, chunk_len, cond_bytes=cond_bytes,
                                     overlap=tile_overlap, align=align)
    return tiling.choose_tile(seq.size, max_memory_gib * 2**30, memory.peak, align=align)


# ------------------------------------------------------------------------------------------------ output
@dataclass
class InferenceResult:
    """What :func:`run_inference` wrote."""

    num_frames: int
    lr_size: Tuple[int, int]
    sr_size: Tuple[int, int]
    frame_paths: List[str]
    video_path: Optional[str]
    seconds: float
    tile: int = 0  # LR tile size used (0: whole frames)


@dataclass
class OutputOptions:
    """What to write besides the model's frames (CLI flags of the same names).

    ``png``: write ``00000000.png ...`` (else only the mp4); ``codec``, ``crf``, ``bitrate``: the mp4's encoder
    (``data.video_writer``); ``audio``: copy the source video's audio into the mp4; ``color_fix``: ``none``,
    ``wavelet`` or ``adain`` against the bicubic-upsampled LR frame (``seeclear_arch.inference.color_fix``).
    """

    png: bool = True
    codec: Optional[str] = None
    crf: Optional[float] = None
    bitrate: Optional[int] = None
    audio: bool = True
    color_fix: str = 'none'


@dataclass
class SamplingOptions:
    """How to sample (CLI flags of the same names); None: the yml's ``val`` value.

    ``tile``: LR pixels (0 = off) or ``'auto'`` (the largest tile that fits ``max_memory`` GiB, see
    :func:`auto_tile`); ``tile_overlap``: LR pixels; ``dtype``: the network's autocast dtype;
    ``progress``: ``'off'``, ``'clips'`` (a bar over frames, clip by clip, with ETA) or ``'steps'`` (also each
    clip's steps); bars appear only when stderr is a terminal.
    """

    tile: Union[int, str, None] = None
    tile_overlap: Optional[int] = None
    max_memory: Optional[float] = None
    dtype: Optional[str] = None
    propagation: Optional[float] = None
    preset: Optional[str] = None
    progress: str = 'clips'


def _resolve_tile(model, seq: LRSequence, opts: SamplingOptions, chunk: Optional[int]) -> Optional[int]:
    if opts.tile != 'auto':
        return opts.tile
    overlap = opts.tile_overlap
    if overlap is None:
        overlap = int((model.opt.get('val') or {}).get('tile_overlap', tiling.DEFAULT_OVERLAP))
    return auto_tile(model, seq, opts.max_memory, chunk, opts.dtype, tile_overlap=overlap)


def _write_chunk(out_dir: str, start: int, frames: torch.Tensor, writer: Optional[Mp4Writer],
                 png: bool = True) -> List[str]:
    paths = []
    for k, frame in enumerate(frames):
        img = tensor2img(frame)  # uint8 BGR
        if png:
            paths.append(osp.join(out_dir, f'{start + k:08d}.png'))
            write_png(paths[-1], img)
        if writer is not None:
            writer.write(img[:, :, ::-1])
    return paths


def _fix_colors(seq: LRSequence, start: int, frames: torch.Tensor, scale: int, mode: str) -> torch.Tensor:
    """``frames`` (HR frames ``start ...``) colour-corrected against their bicubic-upsampled LR frames."""
    if mode == 'none':
        return frames
    ref = bicubic_upsample(seq.clip(range(start, start + frames.size(0))), scale)[0]
    return color_fix(frames, ref, mode)


def _segment_writer(path: str, rate, sr_size: Tuple[int, int], out: OutputOptions) -> Mp4Writer:
    """One chunk's mp4 segment: video only (the audio is added when the segments are joined)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    return Mp4Writer(path, rate, *sr_size, codec=out.codec, crf=out.crf, bitrate=out.bitrate, b_frames=False)


def _join_video(video: str, segments: List[str], seq: LRSequence, rate, out: OutputOptions) -> None:
    """The final mp4: the segments joined, with the source's audio (cut where ``--max-frames`` cut the video)."""
    audio = seq.source if out.audio and isinstance(seq, VideoReader) else None
    cut = audio is not None and len(seq) < seq.total_frames
    concat_segments(segments, video, audio_source=audio, audio_end=float(len(seq) / rate) if cut else None,
                    frames=len(seq))


def _fingerprint(opt: dict, input_path: str, seq: LRSequence, model, sampling_opts: Dict[str, Any], chunk: int,
                 video: Optional[str], rate, out: OutputOptions, non_rgb: str,
                 shards: Dict[str, int]) -> Dict[str, Any]:
    """What the output depends on (``inference.resume``): a resumed run must match it exactly."""
    path = model.opt['path']
    weights = {k: {'path': path.get(k), 'sha256': file_digest(path[k]) if path.get(k) else None}
               for k in ('pretrain_network_g', 'pretrain_network_base')}
    weights['keys'] = {k: path.get(k) for k in ('param_key_g', 'strict_load_g', 'param_key_base', 'strict_load_base')}
    return {'input': osp.abspath(input_path), 'frames': len(seq), 'lr_size': list(seq.size), 'non_rgb': non_rgb,
            'weights': weights, 'compile': bool((opt.get('val') or {}).get('compile')),
            'model': {k: opt.get(k) for k in MODEL_KEYS}, 'clip_len': model.clip_length(),
            'sampling': sampling_opts, 'chunk': chunk, 'shards': shards,
            'output': {'png': out.png, 'video': osp.abspath(video) if video else None, 'rate': str(rate),
                       'codec': out.codec, 'crf': out.crf, 'bitrate': out.bitrate, 'audio': out.audio,
                       'color_fix': out.color_fix}}


def run_inference(opt: dict, input_path: str, out_dir: str, weights: Optional[str] = None,
                  num_steps: Optional[int] = None, seed: Optional[int] = None, max_frames: Optional[int] = None,
                  chunk: Optional[int] = None, video: Optional[str] = None, fps: Optional[float] = None,
                  non_rgb: str = 'convert', output: Optional[OutputOptions] = None,
                  sampling_opts: Optional[SamplingOptions] = None, restart: bool = False,
                  warmup_clips: int = DEFAULT_WARMUP_CLIPS) -> InferenceResult:
    """Load the input, build the model from ``opt`` (a yml dict), write the HR frames to ``out_dir`` and,
    with ``video`` (a path), an mp4 at the source's exact frame rate with its audio (``fps`` overrides; frame
    folders default to 25). ``output``: see :class:`OutputOptions`; ``sampling_opts``: tiles, precision and
    progress (:class:`SamplingOptions`). Frames are written as they are produced, chunk by chunk; a run stopped
    midway resumes from its last completed chunk when started again (``inference.resume``; ``restart``: start
    over). Under ``torchrun`` each process samples its own range of clips after ``warmup_clips`` warm-up clips
    (``inference.shard``)."""
    out = output or OutputOptions()
    how = sampling_opts or SamplingOptions()
    if how.progress not in ('off', 'clips', 'steps'):
        raise ValueError(f"progress must be off, clips or steps, got {how.progress!r}.")
    if warmup_clips < 0:
        raise ValueError(f'--warmup-clips must be >= 0, got {warmup_clips}.')
    check_color_fix(out.color_fix)
    if not (out.png or video):
        raise ValueError('Nothing to write: PNG frames are off (--no-png) and no --video was asked.')
    rank = shard.rank_from_env()
    with shard.process_group(rank):
        seq = load_sequence(input_path, max_frames, non_rgb)
        model = build_inference_model(load_inference_options(opt, weights))
        os.makedirs(out_dir, exist_ok=True)
        h, w = seq.size
        sr_size = (h * model.scale, w * model.scale)
        rate = exact_rate(fps) if fps else (seq.rate or exact_rate(DEFAULT_FPS))
        if not rank.main:
            shard.barrier(rank)  # rank 0 cleans up, chooses an auto tile and writes run.json first
        previous = None if restart and rank.main else saved_fingerprint(out_dir)
        tile_request = {'tile': how.tile, 'max_memory': how.max_memory}
        if how.tile == 'auto' and previous and previous.get('tile_request') == tile_request:
            tile = previous['sampling']['tile']  # the tile rank 0 or the interrupted run measured, not measured anew
        else:
            tile = _resolve_tile(model, seq, how, chunk)
        given = dict(seed=seed, num_steps=num_steps, tile=tile, tile_overlap=how.tile_overlap, dtype=how.dtype,
                     propagation=how.propagation, preset=how.preset)
        clip_len = model.clip_length()
        frames_per_chunk = resolve_chunk(chunk, clip_len) if chunk != 0 else 0
        clip_range = shard.split_clips_evenly(-(-len(seq) // clip_len), rank.world_size)[rank.rank]
        shards = {'world_size': rank.world_size, 'warmup_clips': warmup_clips if rank.world_size > 1 else 0}
        fingerprint = dict(_fingerprint(opt, input_path, seq, model, resolve_sampling(model, **given),
                                        frames_per_chunk, video, rate, out, non_rgb, shards), tile_request=tile_request)
        store = ResumeStore(out_dir, fingerprint, restart=restart, rank=rank.rank, world_size=rank.world_size)
        if rank.main:
            shard.barrier(rank)
        resume = store.load()
        done = resume.start - clip_range[0] * clip_len if resume is not None else 0  # this rank's frames written
        began = time.perf_counter()
        progress = SamplingProgress(len(seq), osp.basename(osp.normpath(input_path)), done=done,
                                    enabled=False if how.progress == 'off' or not rank.main else None,
                                    steps=how.progress == 'steps' and rank.world_size == 1)
        watch = shard.ProgressWatcher(store.dir, rank.world_size, progress.set_done) \
            if rank.main and rank.world_size > 1 else contextlib.nullcontext()
        with progress, watch:
            for start, frames, state in super_resolve_chunks(
                    model, seq, frames_per_chunk, progress=progress if rank.world_size == 1 else None, resume=resume,
                    clip_range=clip_range, warmup_clips=warmup_clips if rank.world_size > 1 else 0, **given):
                frames = _fix_colors(seq, start, frames, model.scale, out.color_fix)
                with _segment_writer(store.segment(start), rate, sr_size, out) if video else \
                        contextlib.nullcontext() as writer:
                    _write_chunk(out_dir, start, frames, writer, out.png)
                store.save(state)  # only now: a kill before this redoes the chunk
                done += frames.size(0)
                shard.record_progress(store.dir, rank, done)
            shard.barrier(rank)  # every rank's frames and segments are in place
        if rank.main:
            if video:
                _join_video(video, store.segments(), seq, rate, out)
            store.finish()
        paths = [osp.join(out_dir, f'{k:08d}.png') for k in range(len(seq))] if out.png else []
        return InferenceResult(len(seq), (h, w), sr_size, paths, video, time.perf_counter() - began, tile or 0)


def summarize(result: InferenceResult) -> Dict[str, object]:
    """A printable summary of a run."""
    return {'frames': result.num_frames, 'lr_size': 'x'.join(map(str, result.lr_size)),
            'sr_size': 'x'.join(map(str, result.sr_size)), 'tile': result.tile, 'seconds': round(result.seconds, 2),
            'first_frame': result.frame_paths[0] if result.frame_paths else None, 'video': result.video_path}
