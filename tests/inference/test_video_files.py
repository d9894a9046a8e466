"""run_inference / the CLI on videos: lazy input, audio and exact frame rate kept, mp4-only output, colour fix."""
import os
import sys
from fractions import Fraction
from os import path as osp

import cv2
import pytest
import torch
from basicsr.utils import tensor2img

from seeclear_arch.inference import cli as infer_cli
from seeclear_arch.inference import video as inference
from seeclear_arch.inference.color_fix import color_fix
from seeclear_arch.inference.video import (
    OutputOptions,
    build_inference_model,
    load_inference_options,
    load_sequence,
    run_inference,
    super_resolve,
)
from seeclear_arch.models.condition import bicubic_upsample
from tests.helpers import (
    CLIP_LEN,
    NTSC,
    SCALE,
    random_inference_weights,
    stream_seconds,
    write_video,
    write_yml,
)

H, W = 16, 24  # LR frames


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> dict:
    """Tiny options (SeeClearConvDenoiser, clips of 3) with random weights, and a 7-frame 29.97 fps video with
    an AAC track."""
    root = str(tmp_path_factory.mktemp('inference_video'))
    opt, _ = random_inference_weights(root)
    return {'root': root, 'opt': opt, 'yml': write_yml(opt, osp.join(root, 'tiny.yml')),
            'video': write_video(osp.join(root, 'in.mp4'), 7, H, W, noise=True)}


def test_mp4_keeps_audio_and_exact_rate(tiny, tmp_path, monkeypatch):
    """mp4 only (no PNG); the reader never holds more than a chunk plus a clip and never decodes twice."""
    readers = []
    monkeypatch.setattr(inference, 'load_sequence', lambda *a: readers.append(load_sequence(*a)) or readers[-1])
    out = str(tmp_path / 'out')
    video = osp.join(out, 'sr.mp4')
    result = run_inference(tiny['opt'], tiny['video'], out, chunk=3, video=video, output=OutputOptions(png=False))
    assert os.listdir(out) == ['sr.mp4'] and result.frame_paths == []
    import av
    with av.open(video) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(30000, 1001) and stream.frames == 7
        assert (stream.width, stream.height) == (W * SCALE, H * SCALE)
        assert container.streams.audio[0].codec_context.name == 'aac'
    assert abs(stream_seconds(video, 'audio') - stream_seconds(tiny['video'], 'audio')) < 1 / NTSC
    assert readers[0].max_held <= 3 + CLIP_LEN and readers[0].restarts == 0


def test_max_frames_cuts_the_audio_too(tiny, tmp_path):
    video = str(tmp_path / 'cut.mp4')
    run_inference(tiny['opt'], tiny['video'], str(tmp_path / 'png'), max_frames=4, video=video)
    assert abs(stream_seconds(video, 'audio') - 4 / NTSC) < 1 / NTSC + 1024 / 16000  # one AAC frame of slack
    assert sorted(os.listdir(tmp_path / 'png')) == [f'{i:08d}.png' for i in range(4)]


def test_color_fix_applies_to_written_frames(tiny, tmp_path):
    """The written PNGs are the model's frames corrected against the bicubic-upsampled LR frames."""
    out = str(tmp_path / 'fixed')
    result = run_inference(tiny['opt'], tiny['video'], out, chunk=3, output=OutputOptions(color_fix='adain'))
    model = build_inference_model(load_inference_options(tiny['opt']))
    seq = load_sequence(tiny['video'])
    sr = torch.cat([frames for _, frames in super_resolve(model, seq, 3)], dim=0)
    expected = color_fix(sr, bicubic_upsample(seq.clip(range(len(seq))), SCALE)[0], 'adain')
    for path, frame, raw in zip(result.frame_paths, expected, sr):
        written = cv2.imread(path)
        assert (written == tensor2img(frame)).all() and not (written == tensor2img(raw)).all()


@pytest.mark.slow
def test_cli_video_options(tiny, tmp_path, repo_root, monkeypatch, capsys):
    script = 'seeclear-infer'
    out = str(tmp_path / 'cli')
    monkeypatch.setattr(sys, 'argv', [script, '-opt', tiny['yml'], '--input', tiny['video'], '--output', out,
                                      '--num-steps', '1', '--video', '--no-png', '--no-audio', '--codec', 'mpeg4',
                                      '--crf', '4', '--color-fix', 'wavelet', '--bitrate', '2M'])
    infer_cli.main()  # in-process: a subprocess would spend seconds importing
    assert 'frames: 7' in capsys.readouterr().out
    import av
    with av.open(osp.join(out, 'sr.mp4')) as container:
        assert [s.type for s in container.streams] == ['video']
        assert container.streams.video[0].codec_context.name == 'mpeg4'
    assert os.listdir(out) == ['sr.mp4']


def test_cli_refuses_bad_options(tiny, tmp_path, repo_root, monkeypatch, capsys):
    script = 'seeclear-infer'
    base = [script, '-opt', tiny['yml'], '--input', tiny['video'], '--output', str(tmp_path / 'x')]
    monkeypatch.setattr(sys, 'argv', base + ['--no-png'])
    with pytest.raises(SystemExit, match='error: Nothing to write'):
        infer_cli.main()
    monkeypatch.setattr(sys, 'argv', base + ['--video', '--bitrate', 'fast'])
    with pytest.raises(SystemExit):
        infer_cli.main()
    assert "--bitrate: expected a bit rate such as 8M" in capsys.readouterr().err


def test_nothing_to_write_is_refused(tiny, tmp_path):
    with pytest.raises(ValueError, match='--no-png.*--video'):
        run_inference(tiny['opt'], tiny['video'], str(tmp_path), output=OutputOptions(png=False))
    with pytest.raises(ValueError, match='--color-fix must be one of'):
        run_inference(tiny['opt'], tiny['video'], str(tmp_path), output=OutputOptions(color_fix='auto'))
