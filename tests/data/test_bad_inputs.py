"""Bad data gives errors that name the file or option and what was expected."""
import logging
import os
import re
import shutil
from os import path as osp

import cv2
import numpy as np
import pytest

from seeclear_arch.data.clip_base import BadFrameError
from seeclear_arch.data.prepare import make_lmdb
from seeclear_arch.data.reds_dataset import SeeClearREDSDataset
from seeclear_arch.data.video_test_dataset import SeeClearVideoTestDataset
from tests.helpers import reds_opt


def _test_opt(tree: dict, **kwargs) -> dict:
    opt = {'name': 'Vid4', 'dataroot_gt': tree['gt'], 'dataroot_lq': tree['lq'], 'scale': 4}
    opt.update(kwargs)
    return opt


def _frame(tree: dict, kind: str, clip: str, index: int) -> str:
    return osp.join(tree[kind], clip, f'{index:08d}.png')


@pytest.mark.parametrize('option', ['dataroot_gt', 'dataroot_lq'])
def test_missing_or_unset_root(reds_tree, tmp_path, option):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match=f'`{option}`.*{re.escape(missing)} does not exist'):
        SeeClearREDSDataset(reds_opt(reds_tree, **{option: missing}))
    with pytest.raises(ValueError, match=f'`{option}` is required'):
        SeeClearREDSDataset(reds_opt(reds_tree, **{option: None}))


def test_a_missing_relative_demo_folder_says_where_it_looked_and_what_makes_it(reds_tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r'datasets/demo/test/BIx4 does not exist \(a relative path, read from '
                       rf'the working directory {re.escape(str(tmp_path))}\)\. .*python -m scripts\.prepare_demo_data'):
        SeeClearREDSDataset(reds_opt(reds_tree, dataroot_lq='datasets/demo/test/BIx4'))


def test_empty_roots(reds_tree, vid4_tree, tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f'`dataroot_lq`.*{re.escape(str(empty))} is empty'):
        SeeClearREDSDataset(reds_opt(reds_tree, dataroot_lq=str(empty)))
    with pytest.raises(FileNotFoundError, match='is empty'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree, dataroot_lq=str(empty)))
    os.makedirs(osp.join(vid4_tree['lq'], 'walk'))
    with pytest.raises(FileNotFoundError, match=r'LQ sequence folder .*walk contains no image files'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree))


def test_missing_or_malformed_meta_info(reds_tree, tmp_path):
    missing = str(tmp_path / 'meta_info_REDS_GT.txt')
    with pytest.raises(FileNotFoundError, match=f'`meta_info_file`: meta info file {re.escape(missing)} does not'):
        SeeClearREDSDataset(reds_opt(reds_tree, meta_info_file=missing))
    with pytest.raises(ValueError, match='`meta_info_file` is required'):
        SeeClearREDSDataset(reds_opt(reds_tree, meta_info_file=None))
    bad = tmp_path / 'bad.txt'
    bad.write_text('001 6 (48,64,3)\n001 six\n')
    with pytest.raises(ValueError, match=f'{re.escape(str(bad))}:2: cannot parse'):
        SeeClearREDSDataset(reds_opt(reds_tree, meta_info_file=str(bad)))


def test_frame_count_mismatch(reds_tree, vid4_tree):
    os.remove(_frame(reds_tree, 'lq', '001', 5))
    with pytest.raises(FileNotFoundError, match=r'LQ clip folder .*001 has 5 frames but meta info .* lists 6'):
        SeeClearREDSDataset(reds_opt(reds_tree))
    dataset = SeeClearREDSDataset(reds_opt(reds_tree, verify_files=False))  # then reading names the file
    with pytest.raises(FileNotFoundError, match=re.escape(_frame(reds_tree, 'lq', '001', 5))):
        dataset[len(dataset) - 1]
    os.remove(osp.join(vid4_tree['gt'], 'city', '0004.png'))
    with pytest.raises(ValueError, match=r'city: 5 LQ frames in .* but 4 GT frames'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree))


def test_gt_not_scale_times_lq(reds_tree, vid4_tree):
    bad = _frame(reds_tree, 'gt', '001', 0)
    cv2.imwrite(bad, np.zeros((44, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=f'GT frame {re.escape(bad)} is 44x64 .* LQ frame .* is 12x16; '
                                         'expected GT = 4 x LQ = 48x64'):
        SeeClearREDSDataset(reds_opt(reds_tree))[0]
    cv2.imwrite(osp.join(vid4_tree['gt'], 'city', '0000.png'), np.zeros((40, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r'GT frame .*city.0000.png is 40x64'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree))[1]


def test_frames_of_one_sequence_differ_in_size(vid4_tree):
    cv2.imwrite(osp.join(vid4_tree['lq'], 'city', '0003.png'), np.zeros((10, 16, 3), np.uint8))
    with pytest.raises(ValueError, match=r'Frame .*city.0003.png is 10x16 .* but .*0000.png is 12x16'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree, dataroot_gt=None))[1]


def _corrupt(path: str) -> str:
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n truncated')
    return path


def test_corrupt_frame(reds_tree, vid4_tree):
    bad = _corrupt(_frame(reds_tree, 'lq', '001', 1))
    with pytest.raises(BadFrameError, match=f'max_bad_samples=0; the last: Cannot decode frame {re.escape(bad)}'):
        SeeClearREDSDataset(reds_opt(reds_tree, max_bad_samples=0))[0]
    open(osp.join(vid4_tree['lq'], 'city', '0002.png'), 'wb').close()
    with pytest.raises(ValueError, match=r'Cannot decode frame .*city.0002.png'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree, cache_data=True))


def test_corrupt_frame_is_skipped_and_counted(reds_tree):
    bad = _corrupt(_frame(reds_tree, 'lq', '001', 1))
    dataset = SeeClearREDSDataset(reds_opt(reds_tree))  # verify_files: true only checks that files exist
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger('basicsr')
    logger.addHandler(handler)
    try:
        item = dataset[0]  # frames 0-2 of clip 001: replaced by a clip without frame 1
    finally:
        logger.removeHandler(handler)
    assert item['key'] in ('001/00000002', '001/00000003')
    assert dataset.num_bad == len(records) >= 1
    assert bad in records[0].getMessage() and 'max_bad_samples=100' in records[0].getMessage()


def test_verify_files_decode_names_every_bad_file(reds_tree):
    bad = [_corrupt(_frame(reds_tree, 'lq', '001', 1)), _corrupt(_frame(reds_tree, 'gt', '001', 4))]
    SeeClearREDSDataset(reds_opt(reds_tree))  # existence check passes
    with pytest.raises(ValueError, match='2 of 12 frames cannot be read') as err:
        SeeClearREDSDataset(reds_opt(reds_tree, verify_files='decode'))
    assert all(path in str(err.value) for path in bad)
    with pytest.raises(ValueError, match='verify_files'):
        SeeClearREDSDataset(reds_opt(reds_tree, verify_files='yes'))


def test_missing_data_points_to_the_data_readme(reds_tree, tmp_path):
    with pytest.raises(FileNotFoundError, match='datasets/README.md'):
        SeeClearREDSDataset(reds_opt(reds_tree, dataroot_gt=str(tmp_path / 'nowhere')))
    os.remove(_frame(reds_tree, 'gt', '001', 5))
    with pytest.raises(FileNotFoundError, match='datasets/README.md'):
        SeeClearREDSDataset(reds_opt(reds_tree))


@pytest.mark.parametrize('shape, kind', [((12, 16), 'grayscale'), ((12, 16, 4), 'RGBA')])
def test_gray_and_rgba_frames_converted_or_refused(vid4_tree, shape, kind):
    bad = osp.join(vid4_tree['lq'], 'calendar', '0001.png')
    cv2.imwrite(bad, np.full(shape, 200, np.uint8))
    with pytest.warns(UserWarning, match=f'Frame {re.escape(bad)} is {kind}; converted to RGB'):
        item = SeeClearVideoTestDataset(_test_opt(vid4_tree))[0]
    assert item['lq'].shape == (3, 3, 12, 16) and item['lq'][1].eq(200 / 255.).all()
    with pytest.raises(ValueError, match=f'Frame {re.escape(bad)} is {kind}, but non_rgb_frames is "error"'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree, non_rgb_frames='error'))[0]


def test_sequence_shorter_than_clip(reds_tree):
    with pytest.raises(ValueError, match=r'Clip 001 has 6 frames .* fewer than the 7 an item needs'):
        SeeClearREDSDataset(reds_opt(reds_tree, num_frame=7))


def test_lmdb_errors(reds_tree, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'`dataroot_gt`: .* is not an LMDB'):
        SeeClearREDSDataset(reds_opt(reds_tree, io_backend={'type': 'lmdb'}))
    shutil.rmtree(osp.join(reds_tree['gt'], '000'))
    gt_lmdb, lq_lmdb = str(tmp_path / 'gt.lmdb'), str(tmp_path / 'lq.lmdb')
    make_lmdb(reds_tree['gt'], gt_lmdb)
    make_lmdb(reds_tree['lq'], lq_lmdb)
    lmdb_opt = reds_opt(reds_tree, dataroot_gt=gt_lmdb, dataroot_lq=lq_lmdb, io_backend={'type': 'lmdb'},
                        val_partition=None)
    with pytest.raises(KeyError, match=r'GT LMDB .*gt.lmdb lacks 6 key\(s\) of clip 000'):
        SeeClearREDSDataset(lmdb_opt)
    with pytest.raises(FileNotFoundError, match=r'GT LMDB key 000/00000000 in .*gt.lmdb not found'):
        SeeClearREDSDataset(dict(lmdb_opt, verify_files=False))[0]


def test_bad_options(reds_tree, vid4_tree):
    with pytest.raises(ValueError, match=r'`gt_size` \(30\) must be a multiple of `scale` \(4\)'):
        SeeClearREDSDataset(reds_opt(reds_tree, gt_size=30))
    with pytest.raises(ValueError, match="`val_partition` must be 'REDS4', 'official' or none"):
        SeeClearREDSDataset(reds_opt(reds_tree, val_partition='REDS5'))
    with pytest.raises(ValueError, match="io_backend type must be 'disk'"):
        SeeClearVideoTestDataset(_test_opt(vid4_tree, io_backend={'type': 'lmdb'}))
    with pytest.raises(FileNotFoundError, match=r'LQ sequence folder .*walk does not exist'):
        SeeClearVideoTestDataset(_test_opt(vid4_tree, folders=['walk']))
