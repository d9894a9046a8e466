"""Lazy LR input for inference: a video file decoded in order, a bounded window at a time, or a frame folder
read on demand.

Both readers are :class:`LRSequence` objects: ``len(seq)``, ``seq.size`` (``(h, w)``), ``seq.fps`` (float or
None), ``seq.rate`` (the exact ``Fraction``, e.g. 30000/1001), ``seq.source`` and ``seq.clip(indices)`` ->
float32 ``(1, n, 3, h, w)`` RGB in [0, 1]. Neither holds the whole sequence, so host memory does not grow with
its length:

* :class:`VideoReader` decodes with PyAV (OpenCV when PyAV is missing) from the start, in order, and keeps
  only the decoded frames not older than the smallest index of the last request (``max_held`` records the
  largest number ever held). Inference asks for chunks in increasing order (a chunk's mirrored tail reaches
  back less than one clip), so each frame is decoded once; a request for a frame already dropped restarts
  decoding from the first frame (correct for any codec and variable frame rate, only slower). The frame count
  comes from demuxing the packets, without decoding.
* :class:`FrameFolderReader` lists the sorted image files and reads each on request (``frame_io`` policy:
  grayscale/RGBA converted with a warning or refused); all sizes are checked up front from the file headers
  (PIL, full decode as fallback), naming the first odd file.

:func:`decode_video` (all frames of a short video as a list, used by the demo data preparation) lives here too.
"""
import warnings
from fractions import Fraction
from os import path as osp
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from seeclear_arch.data.frame_io import frames_to_tensor, list_frames, read_frame_file

FrameIter = Iterator[np.ndarray]  # RGB uint8 (H, W, 3) frames


# ------------------------------------------------------------------------------------------ decoding
def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def decode_errors() -> Tuple[type, ...]:
    """Exceptions PyAV raises on an unreadable file (empty when PyAV is missing)."""
    if not _has_pyav():
        return ()
    import av
    return (av.error.FFmpegError, )


def _iter_pyav(path: str) -> FrameIter:
    import av
    with av.open(path) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format='rgb24')


def _iter_opencv(path: str) -> FrameIter:
    cap = cv2.VideoCapture(path)
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def iter_video(path: str) -> FrameIter:
    """RGB uint8 ``(H, W, 3)`` frames of a video in order, decoded one at a time (PyAV, OpenCV fallback)."""
    return _iter_pyav(path) if _has_pyav() else _iter_opencv(path)


def decode_video(path: str, max_frames: Optional[int] = None) -> List[np.ndarray]:
    """All RGB uint8 ``(H, W, 3)`` frames of a (short) video, or its first ``max_frames``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Video {path} does not exist.')
    frames = []
    for frame in iter_video(path):
        if max_frames is not None and len(frames) >= max_frames:
            break
        frames.append(frame)
    if not frames:
        raise ValueError(f'No frame could be decoded from {path}.')
    return frames


def video_rate(path: str) -> Optional[Fraction]:
    """Exact average frame rate of the first video stream (e.g. ``Fraction(30000, 1001)``); None if unknown."""
    if not _has_pyav():
        cap = cv2.VideoCapture(path)
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        return exact_rate(fps) if fps and fps > 0 else None
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate) if rate else None


def video_fps(path: str) -> Optional[float]:
    """:func:`video_rate` as a float."""
    rate = video_rate(path)
    return float(rate) if rate else None


def exact_rate(fps: float) -> Fraction:
    """A float frame rate as a fraction; NTSC rates (23.976, 29.97, 59.94, ...) become ``k * 1000 / 1001``."""
    if isinstance(fps, Fraction):
        return fps
    for base in (24, 30, 48, 60, 120, 240):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def count_video_frames(path: str) -> int:
    """Number of frames of the first video stream: its non-empty packets (PyAV, no decoding), or OpenCV grabs."""
    if not _has_pyav():
        cap, count = cv2.VideoCapture(path), 0
        while cap.grab():
            count += 1
        cap.release()
        return count
    import av
    with av.open(path) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


# ------------------------------------------------------------------------------------------ sequences
class LRSequence:
    """Interface of an LR input sequence (see the module docstring); subclasses implement ``_frames``."""

    source: str
    num_frames: int
    size: Tuple[int, int]
    rate: Optional[Fraction] = None

    def __len__(self) -> int:
        return self.num_frames

    @property
    def fps(self) -> Optional[float]:
        return float(self.rate) if self.rate else None

    def _frames(self, indices: Sequence[int]) -> torch.Tensor:
        """Frames ``indices`` as float32 ``(n, 3, h, w)`` in [0, 1]."""
        raise NotImplementedError

    def clip(self, indices: Sequence[int]) -> torch.Tensor:
        """Frames ``indices`` as a float32 batch ``(1, n, 3, h, w)`` in [0, 1]."""
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise IndexError(f'Frame {bad[0]} is out of range for {self.source} ({self.num_frames} frames).')
        return self._frames(indices).unsqueeze(0)


class VideoReader(LRSequence):
    """A video file decoded lazily, in order, holding a bounded window of frames (module docstring).

    Args:
        path: video file (anything FFmpeg or OpenCV reads).
        max_frames: keep only the first ``max_frames`` frames.
        frame_iter: ``path -> iterator of RGB uint8 frames`` (default :func:`iter_video`).
    """

    def __init__(self, path: str, max_frames: Optional[int] = None,
                 frame_iter: Callable[[str], FrameIter] = iter_video):
        self.source, self._open = path, frame_iter
        try:
            total = count_video_frames(path)
            self.rate = video_rate(path)
            self._restart()
            first = self._next_frame()
        except decode_errors() as err:
            raise ValueError(f'Cannot decode video {path} ({err}); expected a video file (mp4, mkv, avi, ...) '
                             'or a folder of frames.') from err
        if first is None:
            raise ValueError(f'No frame could be decoded from {path}; expected a video file or a folder of frames.')
        total = max(total, 1)  # a stream that lists no packet but decodes a frame
        self.total_frames = total
        self.num_frames = min(total, max_frames) if max_frames else total
        self.size = tuple(first.shape[1:])
        self._held: Dict[int, torch.Tensor] = {0: first}
        self.max_held, self.restarts = 1, 0

    def _restart(self) -> None:
        self._iter, self._next_index = self._open(self.source), 0

    def _next_frame(self) -> Optional[torch.Tensor]:
        rgb = next(self._iter, None)
        if rgb is None:
            return None
        self._next_index += 1
        return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)  # (3, h, w) uint8

    def _decode_through(self, last: int, keep_from: int) -> None:
        while self._next_index <= last:
            index, frame = self._next_index, self._next_frame()
            if frame is None:
                raise ValueError(f'Video {self.source} ended after {index} frames but its stream lists '
                                 f'{self.num_frames}; the file may be truncated (try --max-frames {index}).')
            if tuple(frame.shape[1:]) != self.size:
                raise ValueError(f'Frame {index} of {self.source} is {frame.shape[1]}x{frame.shape[2]} (HxW) but '
                                 f'frame 0 is {self.size[0]}x{self.size[1]}; mid-stream size changes are not '
                                 'supported.')
            if index >= keep_from:
                self._held[index] = frame
                self.max_held = max(self.max_held, len(self._held))

    def _frames(self, indices: Sequence[int]) -> torch.Tensor:
        lo, hi = min(indices), max(indices)
        if any(i not in self._held for i in indices if i < self._next_index):  # dropped: decode again
            self._held.clear()
            self._restart()
            self.restarts += 1
        for i in [i for i in self._held if i < lo]:
            del self._held[i]
        try:
            self._decode_through(hi, lo)
        except decode_errors() as err:
            raise ValueError(f'Cannot decode frame {self._next_index} of {self.source} ({err}).') from err
        out = torch.empty(len(indices), 3, *self.size)
        for k, i in enumerate(indices):
            out[k] = self._held[i]  # uint8 -> float32, one copy
        return out.div_(255.)


class FrameFolderReader(LRSequence):
    """The sorted image files of ``folder``, read on request (module docstring); ``non_rgb``: ``frame_io``."""

    def __init__(self, folder: str, max_frames: Optional[int] = None, non_rgb: str = 'convert'):
        names = list_frames(folder, 'Input frame folder')[:max_frames]
        self.source, self.non_rgb = folder, non_rgb
        self.paths = [osp.join(folder, n) for n in names]
        self.num_frames = len(self.paths)
        first = read_frame_file(self.paths[0], non_rgb)
        self.size = tuple(first.shape[:2])
        for p in self.paths[1:]:
            _check_size(p, self.size, self.paths[0])

    def _frames(self, indices: Sequence[int]) -> torch.Tensor:
        imgs = [read_frame_file(self.paths[i], self.non_rgb) for i in indices]
        for i, img in zip(indices, imgs):
            if img.shape[:2] != self.size:  # the header check was bypassed (file changed meanwhile)
                _size_error(self.paths[i], img.shape[:2], self.paths[0], self.size)
        return frames_to_tensor(imgs)


def _header_size(path: str) -> Optional[Tuple[int, int]]:
    """``(h, w)`` from the image header (PIL, no pixel decoding); None when PIL cannot tell."""
    try:
        from PIL import Image
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with Image.open(path) as img:
                return img.size[1], img.size[0]
    except Exception:  # noqa: BLE001 (any PIL failure: fall back to a full decode)
        return None


def _size_error(path: str, hw: Tuple[int, int], first: str, size: Tuple[int, int]) -> None:
    raise ValueError(f'Frame {path} is {hw[0]}x{hw[1]} (HxW) but {first} is {size[0]}x{size[1]}; all frames of a '
                     'sequence must have the same size.')


def _check_size(path: str, size: Tuple[int, int], first: str) -> None:
    hw = _header_size(path)
    if hw is None:
        hw = read_frame_file(path).shape[:2]  # raises naming the file when undecodable
    if tuple(hw) != tuple(size):
        _size_error(path, hw, first, size)


def load_sequence(path: str, max_frames: Optional[int] = None, non_rgb: str = 'convert') -> LRSequence:
    """A lazy reader for a video file or a folder of frames; ``max_frames`` keeps the first frames only."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f'max_frames must be >= 1, got {max_frames}')
    if osp.isdir(path):
        return FrameFolderReader(path, max_frames, non_rgb)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Input {path} does not exist (expected a video file or a folder of frames).')
    return VideoReader(path, max_frames)
