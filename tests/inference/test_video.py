"""seeclear_arch.inference.video and its scripts on a tiny video / frame folder with a tiny random network."""
import json
import os
import sys
from os import path as osp

import cv2
import numpy as np
import pytest
import torch

from seeclear_arch.inference import cli as infer_cli
from seeclear_arch.inference.video import (
    Mp4Writer,
    build_inference_model,
    load_inference_options,
    load_sequence,
    plan_chunks,
    resolve_chunk,
    run_inference,
    super_resolve,
)
from seeclear_arch.sampling.clips import split_clips
from tests.helpers import CLIP_LEN, SCALE, H, W, run, write_folder


def _sr(model, seq, chunk, seed=0) -> torch.Tensor:
    return torch.cat([frames for _, frames in super_resolve(model, seq, chunk, seed)], dim=0)


def test_load_video_and_folder(tiny):
    seq = load_sequence(tiny['video'])
    assert len(seq) == 6 and seq.size == (H, W) and seq.fps == pytest.approx(10)
    assert seq.clip([0, 5]).shape == (1, 2, 3, H, W) and seq.clip([0]).max() <= 1
    assert len(load_sequence(tiny['video'], max_frames=4)) == 4
    folder = load_sequence(tiny['folder'], max_frames=5)
    assert len(folder) == 5 and folder.fps is None and folder.clip([1]).dtype == torch.float32


def test_bad_inputs(tmp_path, tiny):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_sequence(str(tmp_path / 'missing.mp4'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='contains no image'):
        load_sequence(str(tmp_path / 'empty'))
    (tmp_path / 'bad.mp4').write_text('not a video')
    with pytest.raises(ValueError, match='Cannot decode video'):
        load_sequence(str(tmp_path / 'bad.mp4'))
    mixed = write_folder(str(tmp_path / 'mixed'), 2)
    cv2.imwrite(osp.join(mixed, '0002.png'), np.zeros((H, W + 4, 3), np.uint8))
    with pytest.raises(ValueError, match='same size'):
        load_sequence(mixed)
    gray = write_folder(str(tmp_path / 'gray'), 1)
    cv2.imwrite(osp.join(gray, '0001.png'), np.zeros((H, W), np.uint8))
    seq = load_sequence(gray)  # frames are read lazily: the colour policy applies when a frame is read
    with pytest.warns(UserWarning, match='grayscale'):
        assert seq.clip(range(2)).shape == (1, 2, 3, H, W)
    with pytest.raises(ValueError, match='0001.png is grayscale'):
        load_sequence(gray, non_rgb='error').clip([1])


def test_options_need_existing_weights(tiny, tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_inference_options(tiny['opt'], missing)
    no_weights = dict(tiny['opt'], path={'pretrain_network_g': None})
    with pytest.raises(ValueError, match='--weights'):
        load_inference_options(no_weights)
    opt = load_inference_options(no_weights, tiny['weights'])
    assert opt['path']['pretrain_network_g'] == tiny['weights'] and not opt['is_train'] and not opt['dist']
    assert tiny['opt']['path']['pretrain_network_g'] == tiny['weights']  # input not mutated


def test_plan_chunks_regroups_the_whole_sequence_clips():
    for n, chunk in [(7, 3), (7, 6), (10, 0), (2, 6)]:
        plan = plan_chunks(n, CLIP_LEN, chunk)
        assert [clip for part in plan for clip in part] == split_clips(n, CLIP_LEN)
    assert resolve_chunk(None, 5) == 50 and resolve_chunk(None, 3) == 48 and resolve_chunk(None, 64) == 64
    with pytest.raises(ValueError, match='multiple of the clip length'):
        resolve_chunk(4, CLIP_LEN)


def test_chunked_equals_unchunked_and_model_test(tiny):
    """7 frames, clips of 3: chunks of 3 frames (the tail clip mirrors into the previous chunk) give the
    frames of one whole-sequence run and of SeeClearModel.test(); the seed decides the noise."""
    model = build_inference_model(load_inference_options(tiny['opt']))
    seq = load_sequence(tiny['folder'])
    whole = _sr(model, seq, chunk=0)
    assert whole.shape == (7, 3, H * SCALE, W * SCALE)
    assert torch.equal(_sr(model, seq, chunk=3), whole)
    assert torch.equal(_sr(model, seq, chunk=6), whole)
    model.feed_data({'lq': seq.clip(range(len(seq)))})
    model.test()  # val.seed = 0
    assert torch.equal(model.output[0], whole)
    assert torch.equal(_sr(model, seq, chunk=0, seed=0), whole)
    assert not torch.equal(_sr(model, seq, chunk=3, seed=1), whole)


def test_run_inference_writes_frames_and_video(tiny, tmp_path):
    import av
    out = str(tmp_path / 'out')
    result = run_inference(tiny['opt'], tiny['video'], out, chunk=3, video=osp.join(out, 'sr.mp4'))
    assert result.num_frames == 6 and result.sr_size == (H * SCALE, W * SCALE)
    assert sorted(os.listdir(out)) == [f'{i:08d}.png' for i in range(6)] + ['sr.mp4']  # no temporary files
    assert all(cv2.imread(p).shape == (H * SCALE, W * SCALE, 3) for p in result.frame_paths)
    with av.open(result.video_path) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, float(stream.average_rate)) == (W * SCALE, H * SCALE, 10.0)
        assert sum(1 for _ in container.decode(video=0)) == 6


@pytest.mark.slow
def test_inference_cli(tiny, tmp_path, repo_root, subprocess_env):
    out = str(tmp_path / 'cli')
    proc = run([sys.executable, '-m', 'seeclear_arch.inference', '-opt', tiny['yml'], '--input', tiny['folder'],
                '--output', out, '--max-frames', '4', '--num-steps', '1', '--seed', '3'],
               cwd=str(tmp_path), env=subprocess_env)
    assert 'frames: 4' in proc.stdout and f'sr_size: {H * SCALE}x{W * SCALE}' in proc.stdout
    assert sorted(os.listdir(out)) == [f'{i:08d}.png' for i in range(4)]


def test_inference_cli_reports_missing_weights(tiny, tmp_path, repo_root, monkeypatch):
    script = 'seeclear-infer'
    monkeypatch.setattr(sys, 'argv', [script, '-opt', tiny['yml'], '--input', tiny['folder'], '--output',
                                      str(tmp_path / 'out'), '--weights', str(tmp_path / 'missing.pth')])
    with pytest.raises(SystemExit, match='error: Weights file .*missing.pth does not exist'):
        infer_cli.main()


def test_mp4_writer_leaves_nothing_on_error(tmp_path):
    path = str(tmp_path / 'x.mp4')
    with pytest.raises(RuntimeError), Mp4Writer(path, 25.0, 16, 16) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
        raise RuntimeError('interrupted')
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_compare_sampling_speed_against_the_same_checkout_is_bit_identical(tiny, tmp_path, repo_root, subprocess_env):
    script = osp.join(repo_root, 'benchmarks', 'compare_sampling_speed.py')
    proc = run([sys.executable, script, '-opt', tiny['yml'], '--base', repo_root, '--lr-size', '8x12', '--clip', '3',
                '--steps', '2', '--rounds', '2'], cwd=str(tmp_path), env=subprocess_env)
    assert 'round 1 base' in proc.stdout and 'round 1 new' in proc.stdout
    assert 'bit-identical True  max|diff| 0' in proc.stdout


@pytest.mark.slow
def test_benchmark_script(tiny, tmp_path, repo_root, subprocess_env):
    script = osp.join(repo_root, 'benchmarks', 'benchmark_sampling.py')
    proc = run([sys.executable, script, '-opt', tiny['yml'], '--lr-size', '8x12', '--clip', '3', '--steps', '2',
                '--repeats', '1', '--matmul-size', '64', '--profile', '3', '--parts', '--json',
                str(tmp_path / 'row.json')],
               cwd=str(tmp_path), env=subprocess_env)
    for key in ('s/clip', 's/frame', 's/step', 'peak MiB'):
        assert key in proc.stdout
    assert 'SeeClearConvDenoiser' in proc.stdout and '32x48' in proc.stdout
    with open(tmp_path / 'row.json') as f:
        row = json.load(f)
    assert float(row['GFLOP/frame']) > 0 and float(row['matmul GFLOP/s']) > 0 and 0 < float(row['of matmul'])
    assert 'Self CPU' in row['profile'] and 'Self CPU' in proc.stdout  # the operator table
    assert int(row['page faults/clip']) >= 0 and float(row['system s/clip']) >= 0
    assert float(row['step s']) > 0 and float(row['step GFLOP']) > 0 and 0 < float(row['step of matmul'])


def test_benchmark_can_switch_off_keeping_freed_memory(repo_root):
    import importlib.util
    from types import SimpleNamespace
    from unittest import mock
    spec = importlib.util.spec_from_file_location('benchmark_sampling',
                                                  osp.join(repo_root, 'benchmarks', 'benchmark_sampling.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = SimpleNamespace(opt=None, random_distiller=False, device='cpu', clip=3, compile=False,
                           no_keep_freed_memory=True)
    read = {'network_g': {'type': 'SeeClearConvDenoiser'}, 'path': {}}
    with mock.patch.object(bench, 'read_options', lambda path: read), \
            mock.patch.object(bench, 'load_inference_options', lambda opt, **kwargs: opt):
        assert bench.benchmark_options(args)['cpu_keep_freed_memory'] is False
        args.no_keep_freed_memory = False
        assert 'cpu_keep_freed_memory' not in bench.benchmark_options(args)


@pytest.mark.slow
def test_benchmark_single_run_for_peak_memory(tiny, tmp_path, repo_root, subprocess_env):
    # --warmup 0 --no-flops --repeats 1: the clip runs once and the FLOP fields say they were not counted
    script = osp.join(repo_root, 'benchmarks', 'benchmark_sampling.py')
    run([sys.executable, script, '-opt', tiny['yml'], '--lr-size', '8x12', '--clip', '3', '--steps', '2',
         '--repeats', '1', '--warmup', '0', '--no-flops', '--matmul-size', '64', '--json', str(tmp_path / 'row.json')],
        cwd=str(tmp_path), env=subprocess_env)
    with open(tmp_path / 'row.json') as f:
        row = json.load(f)
    assert row['warmup'] == 0 and row['GFLOP/frame'] == row['of matmul'] == 'n/a' and float(row['peak MiB']) > 0
