"""Tiny generated videos for the reader/writer/inference tests: flat frames whose grey level encodes the frame
index, at an exact frame rate, optionally with a 440 Hz tone as audio (AAC or PCM)."""
from fractions import Fraction
from typing import Optional

import numpy as np

NTSC = Fraction(30000, 1001)
SAMPLE_RATE = 16000


def frame_level(i: int) -> int:
    """Grey level of frame ``i`` (distinct for 0..19, far apart so that lossy coding keeps them apart)."""
    return 20 + (i * 11) % 220


def _add_audio(container, codec: str):
    stream = container.add_stream(codec, rate=SAMPLE_RATE)
    stream.layout = 'mono'
    return stream


def _write_audio(container, stream, codec: str, seconds: float) -> None:
    import av
    fmt = 's16' if codec.startswith('pcm') else 'fltp'
    t = np.arange(int(round(seconds * SAMPLE_RATE))) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    pcm = (tone * 32767).astype(np.int16) if fmt == 's16' else tone.astype(np.float32)
    for start in range(0, pcm.size, 1024):
        frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format=fmt, layout='mono')
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def write_video(path: str, n: int, h: int = 24, w: int = 32, rate: Fraction = NTSC, audio: Optional[str] = 'aac',
                codec: str = 'mpeg4', noise: bool = False) -> str:
    """An ``n``-frame video at ``rate`` fps (container from ``path``'s extension) with ``audio`` (codec name, or
    None) as long as the video; ``noise`` adds seeded noise to the flat frames."""
    import av
    rng = np.random.default_rng(0)
    with av.open(path, mode='w') as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, 'yuv420p'
        sound = _add_audio(container, audio) if audio else None  # every stream before the first packet
        for i in range(n):
            img = np.full((h, w, 3), frame_level(i), np.uint8)
            if noise:
                img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio:
            _write_audio(container, sound, audio, float(n / rate))
    return path


def stream_seconds(path: str, kind: str) -> float:
    """Duration in seconds of the first ``kind`` ('audio' or 'video') stream of ``path`` (the container's
    stream duration: AAC priming samples excluded)."""
    import av
    with av.open(path) as container:
        stream = getattr(container.streams, kind)[0]
        return float(stream.duration * stream.time_base)
