"""Super-resolve a user's video (a video file or a folder of frames) with a trained ``SeeClearModel``.

``scripts/inference_seeclear.py`` is the command line; this module holds the logic:

* :func:`load_sequence`: LR frames from a video (``data.demo.decode_video``: PyAV, OpenCV fallback) or a frame
  folder (``data.frame_io``: sorted image files, grayscale/RGBA converted with a warning, one size enforced).
* :func:`load_inference_options` / :func:`build_inference_model`: the model from a test yml, weights from
  ``--weights`` or ``path.pretrain_network_g``.
* :func:`super_resolve`: the sequence sampled in chunks of ``chunk`` frames (a multiple of the clip length ``m``),
  yielding each chunk's HR frames so that long videos never hold the whole HR sequence.
* :func:`run_inference`: all of it, writing ``00000000.png ...`` atomically and optionally an mp4.

Chunking is exact: the clips are those of ``SeeClearModel.test`` on the whole sequence (``split_clips`` over all
``N`` frames, tail mirrored), the CaTeGory memory is reset once and carried across chunks, and one noise generator
seeded once is consumed clip after clip. So any ``chunk`` gives the same frames as ``test()``, as long as the
condition ``y`` is per frame (bicubic, the default). With ``network_base`` the condition is computed per chunk: a
recurrent base network (``base_mode: sequence``) sees only the chunk's frames and sliding windows are mirrored at
chunk edges, so frames near chunk boundaries can differ slightly from a whole-sequence run (use ``chunk=0``).
"""
import contextlib
import copy
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from os import path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from basicsr.models import build_model
from basicsr.utils import tensor2img
from basicsr.utils.options import ordered_yaml

from seeclear_arch.data.demo import decode_video
from seeclear_arch.data.frame_io import check_same_size, frames_to_tensor, list_frames, read_frame_file
from seeclear_arch.models import sampling
from seeclear_arch.models.sampling import Clip

DEFAULT_CHUNK_FRAMES = 50
DEFAULT_FPS = 25.0


# ------------------------------------------------------------------------------------------------- input
@dataclass
class LRSequence:
    """The LR frames of one sequence: ``frames`` RGB ``(N, 3, h, w)``, uint8 (video) or float32 in [0, 1]."""

    frames: torch.Tensor
    source: str
    fps: Optional[float] = None

    def __len__(self) -> int:
        return self.frames.size(0)

    @property
    def size(self) -> Tuple[int, int]:
        """``(h, w)`` of the LR frames."""
        return tuple(self.frames.shape[2:])

    def clip(self, indices: Sequence[int]) -> torch.Tensor:
        """Frames ``indices`` as a float32 batch ``(1, n, 3, h, w)`` in [0, 1]."""
        frames = self.frames[list(indices)]
        frames = frames.float() / 255. if frames.dtype == torch.uint8 else frames
        return frames.unsqueeze(0)


def _decode_errors() -> Tuple[type, ...]:
    try:
        import av
    except ImportError:
        return ()
    return (av.error.FFmpegError, )


def video_fps(path: str) -> Optional[float]:
    """Average frame rate of the first video stream (PyAV, OpenCV fallback); None if unknown."""
    try:
        import av
    except ImportError:
        cap = cv2.VideoCapture(path)
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        return float(fps) if fps and fps > 0 else None
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def load_video(path: str, max_frames: Optional[int] = None) -> LRSequence:
    """Decode a video file into an :class:`LRSequence` (uint8 RGB frames, all of one size by construction)."""
    try:
        frames = decode_video(path, max_frames)
        fps = video_fps(path)
    except _decode_errors() as err:
        raise ValueError(f'Cannot decode video {path} ({err}); expected a video file (mp4, mkv, avi, ...) or a '
                         'folder of frames.') from err
    stacked = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()  # (N, 3, h, w) uint8 RGB
    return LRSequence(stacked, path, fps)


def load_frame_folder(folder: str, max_frames: Optional[int] = None, non_rgb: str = 'convert') -> LRSequence:
    """Read the sorted image files of ``folder`` (``frame_io`` policy) into an :class:`LRSequence`."""
    names = list_frames(folder, 'Input frame folder')[:max_frames]
    paths = [osp.join(folder, n) for n in names]
    imgs = [read_frame_file(p, non_rgb) for p in paths]
    check_same_size(imgs, paths)
    return LRSequence(frames_to_tensor(imgs), folder, None)


def load_sequence(path: str, max_frames: Optional[int] = None, non_rgb: str = 'convert') -> LRSequence:
    """A video file or a folder of frames; ``max_frames`` keeps the first frames only."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f'max_frames must be >= 1, got {max_frames}')
    if osp.isdir(path):
        return load_frame_folder(path, max_frames, non_rgb)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Input {path} does not exist (expected a video file or a folder of frames).')
    return load_video(path, max_frames)


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


def super_resolve(model, seq: LRSequence, chunk: Optional[int] = None, seed: Optional[int] = None,
                  num_steps: Optional[int] = None) -> Iterator[Tuple[int, torch.Tensor]]:
    """Yield ``(first frame index, HR frames (n, 3, H, W) in [0, 1])`` chunk by chunk (see the module docstring),
    through the sampling engine (``seeclear_arch.models.sampling.sample_sequence``).

    ``seed`` [``val.seed``, else 0] seeds one generator for the whole sequence; ``num_steps`` [``val.num_steps``].
    """
    val_opt = model.opt.get('val') or {}
    clip_len = model.clip_length()
    chunks = sampling.sample_sequence(
        model.inference_net(), model.diffusion, seq.clip, len(seq), clip_len, model.condition,
        seed=int(val_opt.get('seed', 0)) if seed is None else int(seed),
        num_steps=val_opt.get('num_steps') if num_steps is None else num_steps,
        carry=bool(val_opt.get('carry_memory', True)),
        clips_per_chunk=(resolve_chunk(chunk, clip_len) // clip_len) if chunk != 0 else 0, device=model.device)
    for start, frames in chunks:
        yield start, frames[0].cpu()


# ------------------------------------------------------------------------------------------------ output
def write_png(path: str, img: np.ndarray) -> None:
    """Write a uint8 BGR image as PNG atomically: a temporary file in the same folder, then ``os.replace``."""
    ok, buf = cv2.imencode('.png', img)
    if not ok:
        raise OSError(f'Cannot encode {path} as PNG.')
    tmp = f'{path}.tmp'
    with open(tmp, 'wb') as f:
        f.write(buf.tobytes())
    os.replace(tmp, path)


class Mp4Writer:
    """H.264 (MPEG-4 Part 2 without libx264) mp4 with PyAV, written to ``<path>.part`` and renamed on success."""

    def __init__(self, path: str, fps: float, height: int, width: int):
        import av
        self.path, self.tmp = path, f'{path}.part'
        self.container = av.open(self.tmp, mode='w', format='mp4')
        codec = 'libx264' if 'libx264' in av.codecs_available else 'mpeg4'
        self.stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, 'yuv420p'

    def write(self, rgb: np.ndarray) -> None:
        import av
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format='rgb24')):
            self.container.mux(packet)

    def __enter__(self) -> 'Mp4Writer':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for packet in self.stream.encode():  # flush
                self.container.mux(packet)
        self.container.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        elif osp.exists(self.tmp):
            os.remove(self.tmp)


@dataclass
class InferenceResult:
    """What :func:`run_inference` wrote."""

    num_frames: int
    lr_size: Tuple[int, int]
    sr_size: Tuple[int, int]
    frame_paths: List[str]
    video_path: Optional[str]
    seconds: float


def _write_chunk(out_dir: str, start: int, frames: torch.Tensor, writer: Optional[Mp4Writer]) -> List[str]:
    paths = []
    for k, frame in enumerate(frames):
        img = tensor2img(frame)  # uint8 BGR
        paths.append(osp.join(out_dir, f'{start + k:08d}.png'))
        write_png(paths[-1], img)
        if writer is not None:
            writer.write(img[:, :, ::-1])
    return paths


def run_inference(opt: dict, input_path: str, out_dir: str, weights: Optional[str] = None,
                  num_steps: Optional[int] = None, seed: Optional[int] = None, max_frames: Optional[int] = None,
                  chunk: Optional[int] = None, video: Optional[str] = None, fps: Optional[float] = None,
                  non_rgb: str = 'convert') -> InferenceResult:
    """Load the input, build the model from ``opt`` (a yml dict), write the HR frames to ``out_dir`` and,
    with ``video`` (a path), an mp4 at the source fps (``fps`` overrides; frame folders default to 25)."""
    seq = load_sequence(input_path, max_frames, non_rgb)
    model = build_inference_model(load_inference_options(opt, weights))
    os.makedirs(out_dir, exist_ok=True)
    h, w = seq.size
    sr_size = (h * model.scale, w * model.scale)
    rate = fps or seq.fps or DEFAULT_FPS
    began = time.perf_counter()
    paths: List[str] = []
    with Mp4Writer(video, rate, *sr_size) if video else contextlib.nullcontext() as writer:
        for start, frames in super_resolve(model, seq, chunk, seed, num_steps):
            paths += _write_chunk(out_dir, start, frames, writer)
    return InferenceResult(len(seq), (h, w), sr_size, paths, video, time.perf_counter() - began)


def summarize(result: InferenceResult) -> Dict[str, object]:
    """A printable summary of a run."""
    return {'frames': result.num_frames, 'lr_size': 'x'.join(map(str, result.lr_size)),
            'sr_size': 'x'.join(map(str, result.sr_size)), 'seconds': round(result.seconds, 2),
            'first_frame': result.frame_paths[0] if result.frame_paths else None, 'video': result.video_path}
