"""Generate a synthetic test video with an audio track, e.g. the 300-frame 270x480 benchmark input.

Usage: python -m scripts.make_test_video --out bench.mp4 [--frames 300] [--size 270x480] [--fps 29.97]
           [--codec libx264] [--no-audio]

Frames: a smooth colour field panning one pixel per frame plus a moving checkerboard patch (texture and motion
for a VSR model); audio: a 440 Hz tone (AAC, 48 kHz stereo) as long as the video. Deterministic. Written to
``OUT.part`` and renamed.
"""
import argparse
import os
import sys

import cv2
import numpy as np

from seeclear_arch.data.video_reader import exact_rate
from seeclear_arch.data.video_writer import default_codec

SAMPLE_RATE = 48000


def _frame(t: int, h: int, w: int, field: np.ndarray) -> np.ndarray:
    img = field[:, t % w:t % w + w].copy()
    y, x = np.mgrid[0:h // 3, 0:w // 4]
    top, left = (t * 2) % (h - h // 3), (t * 3) % (w - w // 4)
    checker = ((x // 6 + y // 6) % 2 * 180 + 40).astype(np.uint8)
    img[top:top + h // 3, left:left + w // 4] = checker[..., None]
    return img


def _audio(container):
    stream = container.add_stream('aac', rate=SAMPLE_RATE)
    stream.layout = 'stereo'
    return stream


def _encode_audio(container, stream, seconds: float) -> None:
    import av
    n = int(round(seconds * SAMPLE_RATE))
    for start in range(0, n, 1024):
        t = np.arange(start, min(start + 1024, n)) / SAMPLE_RATE
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format='fltp', layout='stereo')
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def make_video(out: str, frames: int, h: int, w: int, fps: float, codec: str, audio: bool) -> None:
    import av
    rate = exact_rate(fps)
    rng = np.random.default_rng(0)
    field = cv2.resize(rng.integers(0, 256, (4, 8, 3), dtype=np.uint8), (2 * w, h), interpolation=cv2.INTER_CUBIC)
    tmp = f'{out}.part'
    with av.open(tmp, mode='w', format='mp4') as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, 'yuv420p'
        sound = _audio(container) if audio else None
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(_frame(t, h, w, field), format='rgb24')
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if sound is not None:
            _encode_audio(container, sound, float(frames / rate))
    os.replace(tmp, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True)
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--size', default='270x480', help='HxW (even sides)')
    parser.add_argument('--fps', type=float, default=29.97)
    parser.add_argument('--codec', help='video encoder (default: libx264 if available, else mpeg4)')
    parser.add_argument('--no-audio', action='store_true')
    args = parser.parse_args()
    try:
        h, w = (int(v) for v in args.size.lower().split('x'))
    except ValueError:
        sys.exit(f'error: --size expects HxW, got {args.size!r}')
    if h % 2 or w % 2 or h < 12 or w < 16 or args.frames < 1:
        sys.exit(f'error: --size needs even sides of at least 12x16 and --frames >= 1, got {args.size}, {args.frames}')
    make_video(args.out, args.frames, h, w, args.fps, args.codec or default_codec(), not args.no_audio)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
