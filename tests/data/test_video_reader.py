"""Lazy LR readers: exact frames and frame rate, a bounded number of frames held, clear errors."""
import os
from fractions import Fraction
from os import path as osp

import cv2
import numpy as np
import pytest
import torch

from seeclear_arch.data import video_reader
from seeclear_arch.data.video_reader import (
    FrameFolderReader,
    VideoReader,
    count_video_frames,
    decode_video,
    exact_rate,
    load_sequence,
)
from tests.helpers import NTSC, frame_level, write_video


@pytest.fixture(scope='module')
def video(tmp_path_factory) -> str:
    return write_video(str(tmp_path_factory.mktemp('reader') / 'v.mp4'), 12)


def _chunks(seq, size: int):
    for start in range(0, len(seq), size):
        yield seq.clip(range(start, min(start + size, len(seq))))


def test_video_reader_matches_full_decode(video):
    seq = load_sequence(video)
    assert isinstance(seq, VideoReader) and len(seq) == 12 and seq.size == (24, 32)
    assert seq.rate == NTSC and seq.fps == pytest.approx(29.97, abs=1e-3)
    full = torch.from_numpy(np.stack(decode_video(video))).permute(0, 3, 1, 2).float() / 255.
    lazy = torch.cat(list(_chunks(seq, 5)), dim=1)[0]
    assert torch.equal(lazy, full)
    levels = lazy.mean((1, 2, 3)) * 255
    assert torch.allclose(levels, torch.tensor([frame_level(i) for i in range(12)], dtype=torch.float32), atol=3)
    assert seq.restarts == 0 and seq.max_held <= 5


def test_video_reader_mirrored_tail_and_going_back(video):
    seq = VideoReader(video, max_frames=7)
    assert len(seq) == 7 and seq.total_frames == 12
    first = seq.clip([0, 1, 2])
    tail = seq.clip([6, 5, 4])  # split_clips mirrors the tail clip back into the sequence
    assert seq.restarts == 0 and torch.equal(tail[0, 0], seq.clip([6])[0, 0])
    assert torch.equal(seq.clip([1, 0])[0, 1], first[0, 0]) and seq.restarts == 1  # dropped: decoded again
    with pytest.raises(IndexError, match='Frame 7 is out of range'):
        seq.clip([7])


def test_video_memory_does_not_grow_with_length(tmp_path):
    """Frames held while reading a 10- and a 60-frame video in chunks of 5: bounded by the chunk. (tracemalloc
    cannot measure this: PyAV's frames live in FFmpeg buffers it does not see.)"""
    held = []
    for n in (10, 60):
        seq = load_sequence(write_video(str(tmp_path / f'{n}.mp4'), n, 16, 16, audio=None, noise=True))
        for clip in _chunks(seq, 5):
            assert clip.shape[1] == 5
        held.append((seq.max_held, len(seq._held), seq.restarts))
    assert held == [(5, 5, 0), (5, 5, 0)]


def test_video_reader_truncated_stream(video, monkeypatch):
    monkeypatch.setattr(video_reader, 'count_video_frames', lambda path: 20)  # the stream lists more frames
    seq = VideoReader(video)
    with pytest.raises(ValueError, match=r'ended after 12 frames .*--max-frames 12'):
        seq.clip(range(15, 20))


def test_count_and_rate(video, tmp_path):
    assert count_video_frames(video) == 12
    assert exact_rate(29.97) == NTSC and exact_rate(23.976) == Fraction(24000, 1001)
    assert exact_rate(25.0) == 25 and exact_rate(12.5) == Fraction(25, 2) and exact_rate(NTSC) is NTSC
    (tmp_path / 'bad.mp4').write_bytes(b'\x00' * 64)
    with pytest.raises(ValueError, match='Cannot decode video .*bad.mp4'):
        load_sequence(str(tmp_path / 'bad.mp4'))


def _folder(tmp_path, n: int) -> str:
    folder = str(tmp_path / 'frames')
    os.makedirs(folder)
    for i in range(n):
        cv2.imwrite(osp.join(folder, f'{i:04d}.png'), np.full((8, 12, 3), frame_level(i), np.uint8))
    return folder


def test_folder_reader_reads_on_demand(tmp_path, monkeypatch):
    folder = _folder(tmp_path, 6)
    seq = load_sequence(folder, max_frames=5)
    assert isinstance(seq, FrameFolderReader) and len(seq) == 5 and seq.size == (8, 12) and seq.rate is None
    reads = []
    real = video_reader.read_frame_file
    monkeypatch.setattr(video_reader, 'read_frame_file', lambda p, *a: reads.append(osp.basename(p)) or real(p, *a))
    clip = seq.clip([3, 1])
    assert reads == ['0003.png', '0001.png'] and clip.shape == (1, 2, 3, 8, 12) and clip.dtype == torch.float32
    assert clip[0, 0].mean().item() * 255 == pytest.approx(frame_level(3))


def test_folder_reader_checks_sizes_up_front(tmp_path):
    folder = _folder(tmp_path, 3)
    cv2.imwrite(osp.join(folder, '0002.png'), np.zeros((8, 16, 3), np.uint8))
    with pytest.raises(ValueError, match=r'0002.png is 8x16 .*all frames of a sequence'):
        load_sequence(folder)
    with open(osp.join(folder, '0002.png'), 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError, match='Cannot decode frame .*0002.png'):
        load_sequence(folder)


def test_opencv_decoder_fallback(video):
    seq = VideoReader(video, frame_iter=video_reader._iter_opencv)
    clip = seq.clip(range(12))
    assert clip.shape == (1, 12, 3, 24, 32)
    levels = clip[0].mean((1, 2, 3)) * 255
    assert torch.allclose(levels, torch.tensor([frame_level(i) for i in range(12)], dtype=torch.float32), atol=4)
