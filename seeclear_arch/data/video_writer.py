"""Atomic mp4 output with PyAV: HR frames encoded as they come, the source's exact frame rate and its audio.

* Frame rate: a ``Fraction`` is kept exactly (the reader gives ``30000/1001`` for 29.97 fps sources); a float
  goes through :func:`~seeclear_arch.data.video_reader.exact_rate` (29.97 -> 30000/1001).
* Codec and quality: ``codec`` is any FFmpeg video encoder PyAV has (default ``libx264``, else ``mpeg4``).
  ``crf`` is the constant rate factor of the CRF encoders (:data:`CRF_CODECS`, lower is better; default 18 for
  ``libx264``) or, for the other encoders, the fixed quantiser ``q`` (1-31, FFmpeg's ``-q:v``; default 3);
  ``bitrate`` (bits/s) replaces both. (FFmpeg's ``-q:v`` sets each frame's quality, which PyAV does not
  expose, so the quantiser is fixed with ``qmin = qmax = q``.)
* Audio (:class:`AudioCopier`): the first audio stream of ``audio_source`` is remuxed packet by packet, without
  re-encoding, when mp4 accepts its codec (:data:`MP4_AUDIO_COPY`), else decoded and re-encoded to AAC. Packets
  are interleaved with the video as frames are written, shifted by the source video's start time, and cut at
  ``audio_end`` seconds when the video was cut (``--max-frames``).
* Atomic: everything goes to ``<path>.part``, renamed to ``path`` on success and removed on error.
"""
import os
from fractions import Fraction
from os import path as osp
from typing import Optional, Sequence, Union

import numpy as np

from seeclear_arch.data.video_reader import exact_rate

CRF_CODECS = ('libx264', 'libx265', 'libvpx-vp9', 'libaom-av1', 'libsvtav1')
MP4_AUDIO_COPY = ('aac', 'mp3', 'alac', 'ac3', 'eac3')
DEFAULT_CRF = 18
DEFAULT_QSCALE = 3


def default_codec() -> str:
    """``libx264`` when this PyAV build has it, else ``mpeg4`` (always built in)."""
    import av
    return 'libx264' if 'libx264' in av.codecs_available else 'mpeg4'


def encoder_options(codec: str, crf: Optional[float] = None, bitrate: Optional[int] = None) -> dict:
    """FFmpeg encoder options for ``codec`` at quality ``crf`` (see the module docstring) or ``bitrate``."""
    if bitrate is not None:
        if bitrate <= 0:
            raise ValueError(f'--bitrate must be positive (bits/s), got {bitrate}.')
        return {}
    if codec in CRF_CODECS:
        opts = {'crf': str(DEFAULT_CRF if crf is None else crf)}
        return dict(opts, b='0') if codec == 'libvpx-vp9' else opts
    q = DEFAULT_QSCALE if crf is None else crf
    if not 1 <= q <= 31:
        raise ValueError(f'--crf for codec {codec} is the quantiser q, expected 1..31 (lower is better), got {q}; '
                         f'CRF values apply to {", ".join(CRF_CODECS)}.')
    return {'qmin': str(int(q)), 'qmax': str(int(q))}  # a fixed quantiser (PyAV cannot set AVFrame.quality)


def _aac_layout(channels: int) -> str:
    """FFmpeg's default layout for ``channels`` (a PCM track may carry an unordered "N channels" layout)."""
    layouts = {1: 'mono', 2: 'stereo', 3: '2.1', 4: 'quad', 5: '5.0', 6: '5.1', 7: '6.1', 8: '7.1'}
    if channels not in layouts:
        raise ValueError(f'Cannot re-encode {channels}-channel audio to AAC; use --no-audio.')
    return layouts[channels]


class AudioCopier:
    """Copies the first audio stream of ``source`` into ``container`` (module docstring); a no-op without one."""

    def __init__(self, container, source: str, end: Optional[float] = None):
        import av
        self.src = av.open(source)
        self.out, self.end, self.stream = container, end, None
        if not self.src.streams.audio:
            self.src.close()
            self.src = None
            return
        audio = self.src.streams.audio[0]
        video = self.src.streams.video[0] if self.src.streams.video else None
        self.offset = float(video.start_time * video.time_base) if video is not None and video.start_time else 0.
        self.remux = audio.codec_context.name in MP4_AUDIO_COPY
        if self.remux:
            self.stream = container.add_stream(template=audio)
            self._items = self.src.demux(audio)
        else:
            self.stream = container.add_stream('aac', rate=audio.codec_context.sample_rate or 48000)
            self.stream.layout = _aac_layout(audio.codec_context.channels)
            self.stream.format = 'fltp'  # AAC's only sample format
            self.resampler = av.AudioResampler('fltp', self.stream.layout, self.stream.rate, frame_size=1024)
            self._items = self.src.decode(audio)
        self._pending, self._samples = None, 0

    def _time(self, item) -> Optional[float]:
        return None if item.pts is None else float(item.pts * item.time_base) - self.offset

    def _write(self, item) -> None:
        if self.remux:
            shift = int(round(self.offset / item.time_base)) if self.offset else 0
            if shift:
                item.pts, item.dts = item.pts - shift, (item.dts - shift if item.dts is not None else None)
            item.stream = self.stream
            self.out.mux(item)
        else:
            self._encode(self.resampler.resample(item))

    def _encode(self, frames) -> None:
        """AAC-encode resampled frames (fltp, 1024 samples each), numbered in samples from 0."""
        for frame in frames:
            frame.pts, frame.time_base = self._samples, Fraction(1, frame.sample_rate)
            self._samples += frame.samples
            self.out.mux(self.stream.encode(frame))

    def copy_until(self, seconds: Optional[float]) -> None:
        """Write the source audio that starts before ``seconds`` (all of it up to ``end`` when None)."""
        if self.stream is None:
            return
        limit = self.end if seconds is None else (seconds if self.end is None else min(seconds, self.end))
        while True:
            item = self._pending if self._pending is not None else next(self._items, None)
            self._pending = None
            if item is None:
                return
            t = self._time(item)
            if self.remux and item.dts is None:  # a demuxer flush packet
                continue
            if limit is not None and t is not None and t >= limit:
                self._pending = item
                return
            self._write(item)

    def close(self, ok: bool) -> None:
        if self.stream is not None and ok:
            self.copy_until(None)
            if not self.remux:
                self._encode(self.resampler.resample(None))
                self.out.mux(self.stream.encode())
        if self.src is not None:
            self.src.close()


class Mp4Writer:
    """An mp4 written frame by frame to ``<path>.part`` and renamed on success (module docstring).

    Args:
        path: output file.
        fps: frame rate, a ``Fraction`` (kept exactly) or a float.
        height, width: frame size (even, for yuv420p).
        codec, crf, bitrate: see the module docstring.
        audio_source: a media file whose first audio stream is copied (None: no audio).
        audio_end: cut the audio at this many seconds (None: all of it).
        b_frames: let the encoder use B-frames (False for :func:`concat_segments`' segments).
    """

    def __init__(self, path: str, fps: Union[float, Fraction], height: int, width: int, codec: Optional[str] = None,
                 crf: Optional[float] = None, bitrate: Optional[int] = None, audio_source: Optional[str] = None,
                 audio_end: Optional[float] = None, b_frames: bool = True):
        import av
        codec = codec or default_codec()
        if codec not in av.codecs_available:
            raise ValueError(f'--codec {codec} is not available in this PyAV/FFmpeg build; try libx264 or mpeg4.')
        options = encoder_options(codec, crf, bitrate)
        if not b_frames:  # no reordering: decode order is presentation order, so segments join end to end
            options['bf'] = '0'
        self.path, self.tmp = path, f'{path}.part'
        self.rate = exact_rate(fps)
        self.container = av.open(self.tmp, mode='w', format='mp4')
        self.audio = None
        try:
            self.stream = self.container.add_stream(codec, rate=self.rate, options=options)
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, 'yuv420p'
            if bitrate is not None:
                self.stream.bit_rate = int(bitrate)
            if audio_source is not None:
                self.audio = AudioCopier(self.container, audio_source, audio_end)
        except Exception:
            self._abort()
            raise
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 ``(H, W, 3)`` frame (and the source audio up to its end time)."""
        import av
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format='rgb24')
        frame.pts, frame.time_base = self.count, 1 / self.rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1
        if self.audio is not None:
            self.audio.copy_until(float(self.count / self.rate))

    def _abort(self) -> None:
        if self.audio is not None:
            self.audio.close(ok=False)
        self.container.close()
        if osp.exists(self.tmp):
            os.remove(self.tmp)

    def __enter__(self) -> 'Mp4Writer':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            for packet in self.stream.encode():  # flush
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.close(ok=True)
            self.container.close()
        except Exception:
            if osp.exists(self.tmp):
                os.remove(self.tmp)
            raise
        os.replace(self.tmp, self.path)


def concat_segments(segments: Sequence[str], path: str, audio_source: Optional[str] = None,
                    audio_end: Optional[float] = None, frames: Optional[int] = None) -> None:
    """Join mp4 ``segments`` (one video stream each, same encoder and size, written by :class:`Mp4Writer` with
    ``b_frames=False``, so that each starts at time 0 with no edit list) into
    ``path`` without re-encoding, each shifted to start where the one before ended, with the first audio stream of
    ``audio_source`` (see :class:`AudioCopier`). Written to ``<path>.part`` and renamed on success, so the result
    depends only on the segments' bytes (resumable inference joins the same segments to the same file). ``frames``:
    how many frames the segments must hold together; otherwise nothing is written and the error says so."""
    import av
    if not segments:
        raise ValueError(f'No segments to join into {path}.')
    tmp = f'{path}.part'
    out = av.open(tmp, mode='w', format='mp4')
    audio = None
    try:
        offset, stream, count = 0, None, 0  # offset: where the segments so far end, in their (shared) time base
        for segment in segments:
            with av.open(segment) as src:
                video = src.streams.video[0]
                if stream is None:
                    stream = out.add_stream(template=video)
                    if audio_source is not None:
                        audio = AudioCopier(out, audio_source, audio_end)
                end = offset
                for packet in src.demux(video):
                    if packet.dts is None:  # a demuxer flush packet
                        continue
                    duration = packet.duration or 0
                    packet.pts, packet.dts = packet.pts + offset, packet.dts + offset
                    end = max(end, packet.pts + duration)
                    packet.stream = stream
                    out.mux(packet)
                    count += 1
                offset = end
        if frames is not None and count != frames:
            folder = osp.dirname(segments[0])
            raise RuntimeError(f'The mp4 segments in {folder} hold {count} frames, not {frames}: some chunks are '
                               'missing; run the same command with --restart.')
        if audio is not None:
            audio.close(ok=True)
        out.close()
    except BaseException:
        if audio is not None:
            audio.close(ok=False)
        out.close()
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)
