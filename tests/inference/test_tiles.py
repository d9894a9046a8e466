"""Inference with spatial tiles, --tile auto, precision and progress options (tiny random model)."""
import os
import sys

import pytest
import torch

from seeclear_arch.inference import cli as infer_cli
from seeclear_arch.inference.video import (
    SamplingOptions,
    auto_tile,
    build_inference_model,
    load_inference_options,
    load_sequence,
    run_inference,
    super_resolve,
)
from tests.helpers import SCALE, H, W

pytestmark = pytest.mark.usefixtures('one_thread')


def _sr(model, seq, **kwargs) -> torch.Tensor:
    return torch.cat([frames for _, frames in super_resolve(model, seq, 0, **kwargs)], dim=0)


def test_tiles_and_dtype_from_arguments_and_val(tiny):  # noqa: F811
    model = build_inference_model(load_inference_options(tiny['opt']))
    seq = load_sequence(tiny['folder'], max_frames=3)
    whole = _sr(model, seq)
    assert torch.equal(_sr(model, seq, tile=max(H, W)), whole)  # a tile covering the frame: untiled
    tiled = _sr(model, seq, tile=16, tile_overlap=4)
    assert tiled.shape == whole.shape and not torch.equal(tiled, whole)
    model.opt['val'].update(tile=16, tile_overlap=4)  # val.tile / val.tile_overlap: the same run
    try:
        assert torch.equal(_sr(model, seq), tiled)
        assert torch.equal(_sr(model, seq, tile=0), whole)  # the argument wins over the yml
    finally:
        del model.opt['val']['tile'], model.opt['val']['tile_overlap']
    bf16 = _sr(model, seq, dtype='bfloat16')
    assert torch.isfinite(bf16).all() and float((bf16 - whole).abs().mean()) < 0.05


def test_auto_tile_fits_the_budget(tiny):  # noqa: F811
    model = build_inference_model(load_inference_options(tiny['opt']))
    seq = load_sequence(tiny['folder'], max_frames=3)
    assert auto_tile(model, seq, 1024.0, probe_sizes=(8, 16)) == 0  # the whole frame fits in 1 TiB
    with pytest.raises(ValueError, match='--max-memory'):
        auto_tile(model, seq, 0.001, probe_sizes=(8, 16))  # less than this process already holds
    with pytest.raises(ValueError, match='--max-memory'):
        auto_tile(model, seq, None)


def test_run_inference_with_auto_tile_and_quiet_progress(tiny, tmp_path, capsys):  # noqa: F811
    out = str(tmp_path / 'out')
    result = run_inference(tiny['opt'], tiny['folder'], out, max_frames=3, chunk=3,
                           sampling_opts=SamplingOptions(tile='auto', max_memory=1024.0, dtype='bfloat16',
                                                         progress='steps'))
    assert result.tile == 0 and len(result.frame_paths) == 3
    assert capsys.readouterr().err == ''  # stderr is not a terminal here: no bars
    with pytest.raises(ValueError, match='progress'):
        run_inference(tiny['opt'], tiny['folder'], out, sampling_opts=SamplingOptions(progress='loud'))


def test_cli_tile_dtype_and_bad_values(tiny, tmp_path, repo_root, monkeypatch, capsys):  # noqa: F811
    script = 'seeclear-infer'
    out = str(tmp_path / 'cli')
    monkeypatch.setattr(sys, 'argv', [script, '-opt', tiny['yml'], '--input', tiny['folder'], '--output', out,
                                      '--max-frames', '3', '--num-steps', '1', '--tile', '16', '--tile-overlap', '4',
                                      '--dtype', 'bfloat16', '--quiet'])
    infer_cli.main()  # in-process: the CLI's parsing and wiring, no second import
    stdout = capsys.readouterr().out
    assert 'tile: 16' in stdout and f'sr_size: {H * SCALE}x{W * SCALE}' in stdout
    assert sorted(os.listdir(out)) == [f'{i:08d}.png' for i in range(3)]
    for bad, match in ((['--tile', 'big'], '--tile'), (['--tile', 'auto'], 'error: --tile auto needs --max-memory'),
                       (['--tile', '8', '--tile-overlap', '8'], 'error: tile_overlap')):
        monkeypatch.setattr(sys, 'argv', [script, '-opt', tiny['yml'], '--input', tiny['folder'], '--output', out,
                                          '--max-frames', '3', *bad])
        with pytest.raises(SystemExit, match=match if bad[1] != 'big' else None):
            infer_cli.main()
