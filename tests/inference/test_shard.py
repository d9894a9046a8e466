"""Sharded inference (seeclear_arch/inference/shard.py): the same command under torchrun, one range of clips per
process, rank 0 joining the video."""
import subprocess
from fractions import Fraction

import pytest

from seeclear_arch.inference.resume import STATE_DIR
from seeclear_arch.inference.shard import split_clips_evenly
from tests.helpers import NTSC, PYTHON, stream_seconds, write_video
from tests.inference.test_inference_resume import _files

FRAMES = 20


def test_clip_ranges_cover_every_clip_once_in_order():
    assert split_clips_evenly(7, 1) == [(0, 7)]
    assert split_clips_evenly(7, 2) == [(0, 4), (4, 7)]
    assert split_clips_evenly(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert split_clips_evenly(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]  # more ranks than clips: some idle


def _cli(tiny, video, out, *extra, procs=1):
    launcher = [PYTHON, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={procs}'] if procs > 1 \
        else [PYTHON]
    return launcher + ['-m', 'seeclear_arch.inference', '-opt', tiny['yml'], '--input', video, '--output', out,
                       '--chunk', '3', '--video', '--quiet', *extra]


@pytest.mark.slow
def test_torchrun_two_processes_give_every_frame_once_with_the_rate_and_audio(tiny, tmp_path, repo_root,
                                                                            subprocess_env):
    """Without anything carried from clip to clip (a network without memory, no propagation) the two-process
    output equals the one-process output bit for bit; with propagation only the frames after the seam differ."""
    import av
    video = write_video(str(tmp_path / 'in.mp4'), FRAMES, audio='aac', noise=True)
    outs = {}
    for name, procs, extra in (('one', 1, ['--propagation', '0']), ('two', 2, ['--propagation', '0']),
                               ('one_prop', 1, ['--propagation', '0.5']), ('two_prop', 2, ['--propagation', '0.5'])):
        out = str(tmp_path / name)
        proc = subprocess.run(_cli(tiny, video, out, *extra, procs=procs), cwd=repo_root, env=subprocess_env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.count('frames: ') == 1  # one summary, from rank 0
        outs[name] = _files(out)
    two = outs['two']
    assert sorted(two) == [f'{k:08d}.png' for k in range(FRAMES)] + ['sr.mp4'] and STATE_DIR not in two
    assert two == outs['one']
    sr = str(tmp_path / 'two' / 'sr.mp4')
    with av.open(sr) as container:
        stream = container.streams.video[0]
        assert stream.frames == FRAMES and stream.average_rate == Fraction(30000, 1001)
    assert abs(stream_seconds(sr, 'audio') - stream_seconds(video, 'audio')) < 1 / NTSC
    # 7 clips of 3 frames: rank 1 starts at clip 4 = frame 12, after one warm-up clip
    differ = [k for k in range(FRAMES) if outs['two_prop'][f'{k:08d}.png'] != outs['one_prop'][f'{k:08d}.png']]
    assert differ and min(differ) >= 12
