"""Mp4Writer: exact frame rate, source audio (remuxed or re-encoded, cut with the video), codec options, atomicity."""
import os
from fractions import Fraction

import numpy as np
import pytest

from seeclear_arch.data.video_reader import decode_video
from seeclear_arch.data.video_writer import Mp4Writer, encoder_options
from tests.helpers import NTSC, stream_seconds, write_video


def _copy(src: str, dst: str, n: int, scale: int = 2, **kwargs) -> str:
    frames = decode_video(src, n)
    h, w = frames[0].shape[:2]
    with Mp4Writer(dst, NTSC, h * scale, w * scale, audio_source=src, **kwargs) as writer:
        for rgb in frames:
            writer.write(np.kron(rgb, np.ones((scale, scale, 1), np.uint8)))
    return dst


def _streams(path: str) -> dict:
    import av
    with av.open(path) as container:
        out = {s.type: s for s in container.streams}
        return {k: (s.codec_context.name, s.average_rate if k == 'video' else s.sample_rate, s.frames)
                for k, s in out.items()}


def test_audio_remuxed_and_rate_exact(tmp_path):
    src = write_video(str(tmp_path / 'src.mp4'), 15, audio='aac')
    out = _copy(src, str(tmp_path / 'out.mp4'), None)
    streams = _streams(out)
    assert streams['video'][1:] == (Fraction(30000, 1001), 15)  # 29.97 stays 30000/1001, not 2997/100
    assert streams['audio'][:2] == ('aac', 16000)
    frame = 1001 / 30000
    assert abs(stream_seconds(out, 'audio') - stream_seconds(src, 'audio')) < frame
    assert abs(stream_seconds(out, 'audio') - stream_seconds(out, 'video')) < frame
    import av
    with av.open(src) as a, av.open(out) as b:  # remuxed: the very same audio packets
        assert [bytes(p) for p in a.demux(audio=0)] == [bytes(p) for p in b.demux(audio=0)]


def test_audio_reencoded_when_mp4_cannot_hold_it(tmp_path):
    src = write_video(str(tmp_path / 'src.mkv'), 12, audio='pcm_s16le')
    out = _copy(src, str(tmp_path / 'out.mp4'), None)
    assert _streams(out)['audio'][:2] == ('aac', 16000)
    assert abs(stream_seconds(out, 'audio') - 12 / NTSC) < 1001 / 30000 + 1024 / 16000  # one AAC frame of slack


def test_audio_cut_with_the_video(tmp_path):
    src = write_video(str(tmp_path / 'src.mp4'), 15, audio='aac')
    out = _copy(src, str(tmp_path / 'out.mp4'), 6, audio_end=float(6 / NTSC))
    assert _streams(out)['video'][2] == 6
    assert abs(stream_seconds(out, 'audio') - 6 / NTSC) < 1001 / 30000 + 1024 / 16000


def test_no_audio_source_and_options(tmp_path):
    src = write_video(str(tmp_path / 'src.mp4'), 4, audio=None, noise=True)
    big = _copy(src, str(tmp_path / 'q2.mp4'), None, codec='mpeg4', crf=2)
    small = _copy(src, str(tmp_path / 'q31.mp4'), None, codec='mpeg4', crf=31)
    assert set(_streams(big)) == {'video'} and _streams(big)['video'][0] == 'mpeg4'
    assert os.path.getsize(big) > os.path.getsize(small)  # the quality option reaches the encoder
    assert encoder_options('libx264') == {'crf': '18'} and encoder_options('libx264', 23) == {'crf': '23'}
    assert encoder_options('mpeg4', bitrate=4_000_000) == {} and encoder_options('mpeg4', 5)['qmax'] == '5'
    with pytest.raises(ValueError, match='--crf for codec mpeg4 is the quantiser q'):
        encoder_options('mpeg4', 40)
    with pytest.raises(ValueError, match='--codec nope is not available'):
        Mp4Writer(str(tmp_path / 'x.mp4'), 25, 16, 16, codec='nope')
    assert sorted(os.listdir(tmp_path)) == ['q2.mp4', 'q31.mp4', 'src.mp4']


def test_writer_leaves_nothing_on_error(tmp_path):
    src = write_video(str(tmp_path / 'src.mp4'), 4, audio='aac')
    path = str(tmp_path / 'x.mp4')
    with pytest.raises(RuntimeError), Mp4Writer(path, 25.0, 16, 16, audio_source=src) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
        raise RuntimeError('interrupted')
    assert sorted(os.listdir(tmp_path)) == ['src.mp4']


def test_make_test_video_script(tmp_path, repo_root, monkeypatch):
    import runpy
    import sys
    script = os.path.join(repo_root, 'scripts', 'make_test_video.py')
    out = str(tmp_path / 'bench.mp4')
    monkeypatch.setattr(sys, 'argv', [script, '--out', out, '--frames', '5', '--size', '24x32', '--codec', 'mpeg4'])
    runpy.run_path(script, run_name='__main__')
    assert _streams(out) == {'video': ('mpeg4', NTSC, 5), 'audio': ('aac', 48000, _streams(out)['audio'][2])}
    assert abs(stream_seconds(out, 'audio') - 5 / NTSC) < 1 / NTSC
    assert os.listdir(tmp_path) == ['bench.mp4']
    monkeypatch.setattr(sys, 'argv', [script, '--out', out, '--size', '25x32'])
    with pytest.raises(SystemExit, match='even sides'):
        runpy.run_path(script, run_name='__main__')
