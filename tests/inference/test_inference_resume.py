"""Resumable inference (seeclear_arch/inference/resume.py): a stopped run, started again with the same command,
writes exactly the files of an uninterrupted run; other options refuse to resume."""
import os
import random
import signal
import subprocess
import time
from os import path as osp

import pytest

from seeclear_arch.inference import video as inference
from seeclear_arch.inference.resume import STATE_DIR
from seeclear_arch.inference.video import OutputOptions, SamplingOptions, run_inference
from tests.helpers import PYTHON, stream_seconds, write_video

pytestmark = pytest.mark.usefixtures('one_thread')
FRAMES = 40


@pytest.fixture(scope='module')
def long_video(tiny) -> str:
    return write_video(osp.join(tiny['root'], 'long.mp4'), FRAMES, audio='aac', noise=True)


def _files(out: str) -> dict:
    """Every file of an output folder (the mp4 as its video packets) -> bytes."""
    import av
    files = {}
    for name in sorted(os.listdir(out)):
        if name.endswith('.mp4'):
            with av.open(osp.join(out, name)) as container:
                stream = container.streams.video[0]
                files[name] = [(p.pts, p.dts, bytes(p)) for p in container.demux(stream) if p.dts is not None]
        elif osp.isfile(osp.join(out, name)):
            with open(osp.join(out, name), 'rb') as f:
                files[name] = f.read()
        else:
            files[name] = 'folder'
    return files


def _run(tiny, video, out, seed=0, **kwargs):
    return run_inference(tiny['opt'], video, out, chunk=3, seed=seed, video=osp.join(out, 'sr.mp4'),
                         sampling_opts=SamplingOptions(propagation=0.3, progress='off'), **kwargs)


def test_a_run_stopped_by_an_error_resumes_to_the_uninterrupted_files(tiny, long_video, tmp_path, monkeypatch):
    whole = str(tmp_path / 'whole')
    _run(tiny, long_video, whole)
    reference = _files(whole)
    assert sorted(reference) == [f'{k:08d}.png' for k in range(FRAMES)] + ['sr.mp4']  # no resume folder left
    assert abs(stream_seconds(osp.join(whole, 'sr.mp4'), 'audio') - stream_seconds(long_video, 'audio')) < 0.07

    out = str(tmp_path / 'stopped')
    write_chunk, calls = inference._write_chunk, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError('power cut')
        return write_chunk(*args, **kwargs)

    monkeypatch.setattr(inference, '_write_chunk', failing)
    with pytest.raises(RuntimeError, match='power cut'):
        _run(tiny, long_video, out)
    monkeypatch.setattr(inference, '_write_chunk', write_chunk)
    assert osp.isfile(osp.join(out, STATE_DIR, 'state.pt'))
    with pytest.raises(ValueError, match=r'unfinished run with other options \(sampling.seed: 0 -> 1\).*--restart'):
        _run(tiny, long_video, out, seed=1)  # another seed would mix two outputs
    with pytest.raises(ValueError, match='output'):
        run_inference(tiny['opt'], long_video, out, chunk=3, video=osp.join(out, 'sr.mp4'),
                      output=OutputOptions(crf=30), sampling_opts=SamplingOptions(propagation=0.3, progress='off'))
    resumed = []
    monkeypatch.setattr(inference, '_write_chunk', lambda out_dir, start, *a: resumed.append(start) or
                        write_chunk(out_dir, start, *a))
    _run(tiny, long_video, out)
    assert resumed[0] == 12  # four chunks of 3 frames were complete
    assert _files(out) == reference

    restarted = []
    monkeypatch.setattr(inference, '_write_chunk', lambda out_dir, start, *a: restarted.append(start) or
                        write_chunk(out_dir, start, *a))
    _run(tiny, long_video, out, seed=1, restart=True)
    assert restarted[0] == 0 and _files(out) != reference


def _cli(tiny, video, out):
    return [PYTHON, '-m', 'seeclear_arch.inference', '-opt', tiny['yml'], '--input', video, '--output', out,
            '--chunk', '3', '--video', '--propagation', '0.3', '--quiet']


def _kill_when(proc, ready, timeout=120.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False when it exited first."""
    began = time.monotonic()
    while proc.poll() is None and time.monotonic() - began < timeout:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
def test_kill_9_at_random_moments_then_the_same_command_gives_the_uninterrupted_files(tiny, long_video, tmp_path,
                                                                                     repo_root, subprocess_env):
    """SIGKILL while frames are written (after a random number of frames), and in the middle of writing the resume
    state (paused there by $SEECLEAR_FAULT_SAVE_SLEEP); each time the same command finishes the run."""
    whole = str(tmp_path / 'whole')
    subprocess.run(_cli(tiny, long_video, whole), cwd=repo_root, env=subprocess_env, check=True, timeout=300)
    reference = _files(whole)
    out = str(tmp_path / 'killed')
    rng = random.Random(0)
    state_dir = osp.join(out, STATE_DIR)

    def frames_written() -> int:
        return len([n for n in os.listdir(out) if n.endswith('.png')]) if osp.isdir(out) else 0

    def writing_state() -> bool:
        return osp.isdir(state_dir) and any(n.startswith('.state.pt.tmp-') for n in os.listdir(state_dir))

    killed = 0
    for kind in ('frames', 'state', 'frames', 'state', 'frames'):
        env = dict(subprocess_env)
        if kind == 'state':
            env['SEECLEAR_FAULT_SAVE_SLEEP'] = '0.5'
        target = frames_written() + rng.randrange(1, 7)  # new frames this run writes before it is killed
        proc = subprocess.Popen(_cli(tiny, long_video, out), cwd=repo_root, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        killed += _kill_when(proc, writing_state if kind == 'state' else (lambda n=target: frames_written() >= n))
    assert killed >= 4  # the run was cut at least four times before it could finish
    subprocess.run(_cli(tiny, long_video, out), cwd=repo_root, env=subprocess_env, check=True, timeout=300)
    assert _files(out) == reference


def test_an_mp4_only_run_resumes_to_the_same_video(tiny, long_video, tmp_path, monkeypatch):
    """``--no-png``: the segments are the only output until the end; a stopped run still resumes to the same mp4."""
    def run(out):
        return run_inference(tiny['opt'], long_video, out, chunk=6, video=osp.join(out, 'sr.mp4'),
                             output=OutputOptions(png=False), sampling_opts=SamplingOptions(progress='off'))

    whole = str(tmp_path / 'whole')
    run(whole)
    out = str(tmp_path / 'stopped')
    write_chunk, calls = inference._write_chunk, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the third chunk
        return write_chunk(*args, **kwargs)

    monkeypatch.setattr(inference, '_write_chunk', failing)
    with pytest.raises(KeyboardInterrupt):
        run(out)
    monkeypatch.setattr(inference, '_write_chunk', write_chunk)
    assert sorted(os.listdir(osp.join(out, STATE_DIR, 'segments'))) == ['00000000.mp4', '00000006.mp4']
    run(out)
    assert os.listdir(out) == ['sr.mp4'] and _files(out) == _files(whole)


class _Foreign:
    """Not a resume state: loading a pickle of it must not run its code."""

    def __reduce__(self):
        return (os.system, ('echo should-not-run',))


def test_the_state_loads_without_unpickling_arbitrary_objects(tmp_path):
    import torch

    from seeclear_arch.inference.resume import ResumeStore
    from seeclear_arch.sampling.engine import SequenceState
    from seeclear_arch.sampling.propagation import PropagationState
    store = ResumeStore(str(tmp_path), {'seed': 0})
    memory = (torch.randn(1, 4, 8), torch.randn(1, 4, 8))
    fused = PropagationState(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    store.save(SequenceState(chunk=2, start=6, memories=[memory, None], fused=fused))
    loaded = store.load()
    assert (loaded.chunk, loaded.start, loaded.memories[1]) == (2, 6, None)
    assert all(torch.equal(a, b) for a, b in zip(loaded.memories[0], memory))
    assert isinstance(loaded.fused, PropagationState) and torch.equal(loaded.fused.output, fused.output)
    torch.save(_Foreign(), store.state_path)
    with pytest.raises(Exception, match='Weights only load failed'):
        store.load()
