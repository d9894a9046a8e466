"""SeeClearREDSDataset / SeeClearVimeoDataset on disk and LMDB, with tiny synthetic trees."""
import random
from os import path as osp

import numpy as np
import pytest
import torch
from basicsr.data import build_dataloader, build_dataset
from basicsr.utils.matlab_functions import imresize

from seeclear_arch.data.frame_io import frames_to_tensor, read_frame_file
from seeclear_arch.data.prepare import make_lmdb
from seeclear_arch.data.reds_dataset import SeeClearREDSDataset
from seeclear_arch.data.vimeo_dataset import SeeClearVimeoDataset
from tests.helpers import make_tree, reds_opt


def test_reds_shapes_keys_and_registry(reds_tree):
    opt = reds_opt(reds_tree, gt_size=32, use_hflip=True, use_rot=True)
    dataset = build_dataset(opt)
    assert isinstance(dataset, SeeClearREDSDataset)
    assert len(dataset) == 4  # clip 001 only (REDS4 held out), 6 - 3 + 1 windows
    item = dataset[0]
    assert item['lq'].shape == (3, 3, 8, 8) and item['gt'].shape == (3, 3, 32, 32)
    assert item['lq'].dtype == torch.float32 and 0 <= item['lq'].min() and item['lq'].max() <= 1
    assert item['key'] == '001/00000000' and dataset[3]['key'] == '001/00000003'
    assert opt['io_backend'] == {'type': 'disk'}  # options are copied, never popped


def test_reds4_and_official_partitions(tmp_path):
    names = ('000', '001', '011', '015', '020', '240')
    tree = make_tree(str(tmp_path), {c: 3 for c in names}, lambda i: f'{i:08d}.png')
    clips = {key.split('/')[0] for key in (SeeClearREDSDataset(reds_opt(tree))[i]['key'] for i in range(2))}
    assert {c.name for c in SeeClearREDSDataset(reds_opt(tree)).clips} == {'001', '240'} and clips == {'001', '240'}
    official = SeeClearREDSDataset(reds_opt(tree, val_partition='official'))
    assert {c.name for c in official.clips} == {'000', '001', '011', '015', '020'}
    assert len(SeeClearREDSDataset(reds_opt(tree, val_partition=None)).clips) == 6


def test_reds_default_num_frame_is_five(reds_tree):
    opt = reds_opt(reds_tree)
    del opt['num_frame']
    assert SeeClearREDSDataset(opt)[0]['gt'].shape[0] == 5


def _interior_matches(item: dict) -> None:
    """lq crop == BI x4 of the gt crop away from the kernel's reach of the crop border (2 LR pixels)."""
    for lq, gt in zip(item['lq'], item['gt']):
        down = imresize(gt, 0.25)
        assert torch.allclose(down[:, 2:-3, 2:-3], lq[:, 2:-3, 2:-3], atol=1.01 / 255)


def test_crop_and_augment_align_lq_with_gt(reds_tree):
    dataset = SeeClearREDSDataset(reds_opt(reds_tree, gt_size=32, use_hflip=True, use_rot=True,
                                           use_temporal_reverse=True))
    for seed in range(6):
        random.seed(seed)
        _interior_matches(dataset[seed % len(dataset)])
    shifted = dataset[0]
    shifted['lq'] = torch.roll(shifted['lq'], 1, dims=-1)
    with pytest.raises(AssertionError):
        _interior_matches(shifted)


def test_temporal_reverse(reds_tree):
    dataset = SeeClearREDSDataset(reds_opt(reds_tree, use_temporal_reverse=True))
    paths = [osp.join(reds_tree['gt'], '001', f'{i:08d}.png') for i in range(1, 4)]
    forward = frames_to_tensor([read_frame_file(p) for p in paths])
    seen = set()
    for seed in range(12):
        random.seed(seed)
        item = dataset[1]
        assert item['key'] == '001/00000001'
        reversed_ = torch.equal(item['gt'], forward.flip(0))
        assert reversed_ or torch.equal(item['gt'], forward)
        seen.add(reversed_)
    assert seen == {True, False}
    assert torch.equal(SeeClearREDSDataset(reds_opt(reds_tree))[1]['gt'], forward)


def test_lmdb_backend_matches_disk(reds_tree, tmp_path):
    gt_lmdb, lq_lmdb = str(tmp_path / 'gt.lmdb'), str(tmp_path / 'lq.lmdb')
    make_lmdb(reds_tree['gt'], gt_lmdb)
    make_lmdb(reds_tree['lq'], lq_lmdb)
    disk = SeeClearREDSDataset(reds_opt(reds_tree))
    lmdb_opt = reds_opt(reds_tree, dataroot_gt=gt_lmdb, dataroot_lq=lq_lmdb, io_backend={'type': 'lmdb'})
    lmdb = SeeClearREDSDataset(lmdb_opt)
    assert len(lmdb) == len(disk)
    for i in (0, len(disk) - 1):
        a, b = disk[i], lmdb[i]
        assert a['key'] == b['key'] and torch.equal(a['lq'], b['lq']) and torch.equal(a['gt'], b['gt'])


def _vimeo_opt(tree: dict, **kwargs) -> dict:
    opt = reds_opt(tree, type='SeeClearVimeoDataset', num_frame=5)
    opt.pop('val_partition')
    opt.update(kwargs)
    return opt


def test_vimeo_disk_and_lmdb(vimeo_tree, tmp_path):
    dataset = build_dataset(_vimeo_opt(vimeo_tree, gt_size=16))
    assert isinstance(dataset, SeeClearVimeoDataset)
    assert len(dataset) == 6  # 2 septuplets x 3 windows of 5
    assert [dataset[i]['key'] for i in range(3)] == ['00001/0001/im1', '00001/0001/im2', '00001/0001/im3']
    assert dataset[0]['lq'].shape == (5, 3, 4, 4) and dataset[0]['gt'].shape == (5, 3, 16, 16)
    make_lmdb(vimeo_tree['gt'], str(tmp_path / 'gt.lmdb'))
    make_lmdb(vimeo_tree['lq'], str(tmp_path / 'lq.lmdb'))
    lmdb = SeeClearVimeoDataset(_vimeo_opt(vimeo_tree, dataroot_gt=str(tmp_path / 'gt.lmdb'),
                                           dataroot_lq=str(tmp_path / 'lq.lmdb'), io_backend={'type': 'lmdb'}))
    disk = SeeClearVimeoDataset(_vimeo_opt(vimeo_tree))
    assert torch.equal(lmdb[5]['gt'], disk[5]['gt']) and lmdb[5]['key'] == '00001/0002/im3'


def test_vimeo_official_list_without_counts(vimeo_tree, tmp_path):
    trainlist = tmp_path / 'sep_trainlist.txt'
    trainlist.write_text('00001/0001\n00001/0002\n')
    assert len(SeeClearVimeoDataset(_vimeo_opt(vimeo_tree, meta_info_file=str(trainlist)))) == 6


def test_basicsr_dataloader_batches_clips(reds_tree):
    opt = reds_opt(reds_tree, gt_size=32, phase='train', use_shuffle=True, num_worker_per_gpu=0,
                   batch_size_per_gpu=2, dataset_enlarge_ratio=1)
    loader = build_dataloader(build_dataset(opt), opt, num_gpu=0, dist=False, sampler=None, seed=0)
    batch = next(iter(loader))
    assert batch['lq'].shape == (2, 3, 3, 8, 8) and batch['gt'].shape == (2, 3, 3, 32, 32)
    assert len(batch['key']) == 2 and np.isfinite(batch['gt'].numpy()).all()


def test_consecutive_clips_follow_each_other(reds_tree):
    """num_clips: 2 gives two back-to-back clips of one sequence (frames 0-2 and 3-5 of clip 001's 6)."""
    one = SeeClearREDSDataset(reds_opt(reds_tree))
    two = SeeClearREDSDataset(reds_opt(reds_tree, num_clips=2))
    assert len(two) == 1 and two[0]['lq'].shape[0] == 6 and two[0]['key'] == '001/00000000'
    assert torch.equal(two[0]['gt'][:3], one[0]['gt']) and torch.equal(two[0]['gt'][3:], one[3]['gt'])


def test_vimeo_septuplets_hold_two_clips_only_when_they_overlap(vimeo_tree):
    with pytest.raises(ValueError, match='fewer than the 10 an item needs'):
        SeeClearVimeoDataset(_vimeo_opt(vimeo_tree, num_clips=2))
    dataset = SeeClearVimeoDataset(_vimeo_opt(vimeo_tree, num_clips=2, clip_stride=2))
    single = SeeClearVimeoDataset(_vimeo_opt(vimeo_tree))
    assert len(dataset) == 2 and dataset[0]['gt'].shape[0] == 10
    assert torch.equal(dataset[0]['gt'][5:], single[2]['gt'])  # frames im3..im7


def test_clip_options_must_be_positive(reds_tree):
    with pytest.raises(ValueError, match='num_clips'):
        SeeClearREDSDataset(reds_opt(reds_tree, num_clips=0))


def _dihedral(x: torch.Tensor):
    """The 8 flips/transposes of BasicSR's ``augment`` on ``(C, H, W)`` tensors, as (name, function)."""
    for hflip in (False, True):
        for vflip in (False, True):
            for rot in (False, True):
                def f(t, hflip=hflip, vflip=vflip, rot=rot):
                    t = t.flip(2) if hflip else t
                    t = t.flip(1) if vflip else t
                    return t.transpose(1, 2) if rot else t
                yield (hflip, vflip, rot), f


@pytest.mark.parametrize('ext', ['npy', 'png'])
def test_precomputed_condition_is_the_whole_frame_output_at_the_gt_crop(reds_tree, tmp_path, ext):
    """Training crops of ``cond`` equal the same region (and flip, and frame) of the base network run on whole
    frames, as at test: found from where the GT crop lies in its whole GT frame."""
    from basicsr.archs import build_network

    from seeclear_arch.data.condition_cache import precompute
    from seeclear_arch.models.condition import Condition
    torch.manual_seed(0)
    base = build_network({'type': 'MSRResNet', 'num_feat': 4, 'num_block': 1, 'upscale': 4}).eval()
    condition = Condition(4, base, 'image')
    cond_root = str(tmp_path / 'cond')
    assert precompute(condition, reds_tree['lq'], cond_root, ext) == 18
    assert precompute(condition, reds_tree['lq'], cond_root, ext) == 0  # resumes: nothing left to do
    names = [f'{i:08d}.png' for i in range(6)]
    lq_full = frames_to_tensor([read_frame_file(osp.join(reds_tree['lq'], '001', n)) for n in names])
    gt_full = frames_to_tensor([read_frame_file(osp.join(reds_tree['gt'], '001', n)) for n in names])
    cond_full = condition(lq_full[None])[0]
    dataset = SeeClearREDSDataset(reds_opt(reds_tree, gt_size=32, use_hflip=True, use_rot=True,
                                           use_temporal_reverse=True, dataroot_cond=cond_root, cond_ext=ext))
    atol = 1e-6 if ext == 'npy' else 0.5 / 255 + 1e-6
    random.seed(3)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item['cond'].shape == item['gt'].shape == (3, 3, 32, 32)
        for gt, cond in zip(item['gt'], item['cond']):
            found = [(fn, j, r, c) for _, fn in _dihedral(gt) for j in range(6) for r in range(0, 17, 4)
                     for c in range(0, 33, 4) if torch.equal(fn(gt_full[j][:, r:r + 32, c:c + 32]), gt)]
            assert len(found) == 1  # noise frames: exactly one frame, place and flip
            fn, j, r, c = found[0]
            torch.testing.assert_close(cond, fn(cond_full[j][:, r:r + 32, c:c + 32]), atol=atol, rtol=0)


def test_condition_root_errors(reds_tree, tmp_path):
    with pytest.raises(FileNotFoundError, match='dataroot_cond'):
        SeeClearREDSDataset(reds_opt(reds_tree, dataroot_cond=str(tmp_path / 'none')))
    empty = tmp_path / 'cond'
    (empty / '001').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'condition \(dataroot_cond\) clip folder .*001'):
        SeeClearREDSDataset(reds_opt(reds_tree, dataroot_cond=str(empty)))
    with pytest.raises(ValueError, match='cond_ext'):
        SeeClearREDSDataset(reds_opt(reds_tree, dataroot_cond=str(empty), cond_ext='exr'))
    for i in range(6):
        np.save(empty / '001' / f'{i:08d}.npy', np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match='shape'):
        SeeClearREDSDataset(reds_opt(reds_tree, dataroot_cond=str(empty)))[0]


@pytest.mark.parametrize('with_cond', [False, True])
def test_whole_frame_lq_tells_the_crop_and_flips_without_changing_the_item(reds_tree, tmp_path, with_cond):
    """``whole_frame_lq``: cropping ``lq_whole`` at ``crop`` and flipping it as ``flips`` gives ``lq`` exactly; the
    item is the one the dataset gives without the option (same random draws)."""
    extra = {}
    if with_cond:
        from seeclear_arch.data.condition_cache import precompute
        from seeclear_arch.models.condition import Condition
        precompute(Condition(4), reds_tree['lq'], str(tmp_path / 'cond'))
        extra = dict(dataroot_cond=str(tmp_path / 'cond'))
    opt = reds_opt(reds_tree, gt_size=32, use_hflip=True, use_rot=True, use_temporal_reverse=True, **extra)
    plain, whole = SeeClearREDSDataset(opt), SeeClearREDSDataset(dict(opt, whole_frame_lq=True))
    seen_flips = set()
    for index in range(len(plain)):
        random.seed(index)
        expected = plain[index]
        random.seed(index)
        item = whole[index]
        for key in expected:
            assert torch.equal(item[key], expected[key]) if key != 'key' else item[key] == expected[key]
        top, left, h, w = item['crop'].tolist()
        assert item['lq_whole'].shape == (3, 3, 12, 16) and (h, w) == (8, 8)
        part = item['lq_whole'][..., top:top + h, left:left + w]
        hflip, vflip, rot90 = item['flips'].tolist()
        part = part.flip(-1) if hflip else part
        part = part.flip(-2) if vflip else part
        assert torch.equal(part.transpose(-2, -1) if rot90 else part, item['lq'])
        seen_flips.add((hflip, vflip, rot90))
    assert len(seen_flips) > 1  # the check ran over several flips
