"""Sharded inference (seeclear_arch/inference/shard.py): the same command under torchrun, one range of clips per
process, rank 0 joining the video."""
import copy
import subprocess
from fractions import Fraction
from os import path as osp

import pytest
import torch

from seeclear_arch.inference.resume import STATE_DIR
from seeclear_arch.inference.shard import split_clips_evenly
from tests.helpers import (
    NTSC,
    PYTHON,
    inference_options,
    stream_seconds,
    tiny_opt,
    trained_like,
    write_video,
    write_yml,
)
from tests.inference.test_inference_resume import _files

FRAMES = 20


def test_clip_ranges_cover_every_clip_once_in_order():
    assert split_clips_evenly(7, 1) == [(0, 7)]
    assert split_clips_evenly(7, 2) == [(0, 4), (4, 7)]
    assert split_clips_evenly(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert split_clips_evenly(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]  # more ranks than clips: some idle


@pytest.fixture(scope='module')
def memory_model(tmp_path_factory) -> dict:
    """A tiny SeeClearNet whose CaTeGory memory matters (``trained_like``), one sampler step; ymls with the memory
    carried from clip to clip (the default) and without it."""
    root = str(tmp_path_factory.mktemp('shard'))
    torch.manual_seed(0)
    net = trained_like()
    weights = osp.join(root, 'net_g.pth')
    torch.save({'params': net.state_dict()}, weights)
    opt = inference_options(root, weights)
    opt['network_g'] = tiny_opt()
    opt['val'].update(num_steps=1)
    ymls = {}
    for carry in (True, False):
        opt['val']['carry_memory'] = carry
        ymls[carry] = write_yml(copy.deepcopy(opt), osp.join(root, f'carry_{carry}.yml'))
    return ymls


def _cli(yml, video, out, *extra, procs=1):
    launcher = [PYTHON, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={procs}'] if procs > 1 \
        else [PYTHON]
    return launcher + ['-m', 'seeclear_arch.inference', '-opt', yml, '--input', video, '--output', out,
                       '--chunk', '3', '--video', '--quiet', *extra]


@pytest.mark.slow
def test_torchrun_two_processes_give_every_frame_once_with_the_rate_and_audio(memory_model, tmp_path, repo_root,
                                                                            subprocess_env):
    """With nothing carried from clip to clip (``carry_memory: false``, no propagation) the two-process output equals
    the one-process output bit for bit; with the memory carried and propagation, only frames after the seam differ
    (the second process starts from one warm-up clip instead of the whole history)."""
    import av
    video = write_video(str(tmp_path / 'in.mp4'), FRAMES, audio='aac', noise=True)
    outs = {}
    for name, procs, carry, extra in (('one', 1, False, ['--propagation', '0']),
                                      ('two', 2, False, ['--propagation', '0']),
                                      ('one_c', 1, True, ['--propagation', '0.5']),
                                      ('two_c', 2, True, ['--propagation', '0.5'])):
        out = str(tmp_path / name)
        proc = subprocess.run(_cli(memory_model[carry], video, out, *extra, procs=procs), cwd=repo_root,
                              env=subprocess_env, capture_output=True, text=True, timeout=300)
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
    # 7 clips of 3 frames: the second process starts at clip 4 = frame 12, after one warm-up clip
    differ = [k for k in range(FRAMES) if outs['two_c'][f'{k:08d}.png'] != outs['one_c'][f'{k:08d}.png']]
    assert differ and min(differ) == 12
