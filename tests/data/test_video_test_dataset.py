"""SeeClearVideoTestDataset: whole sequences, with and without GT, through BasicSR's dataloader."""
from collections import Counter
from os import path as osp

import torch
from basicsr.data import build_dataloader, build_dataset

from seeclear_arch.data.frame_io import frames_to_tensor, read_frame_file
from seeclear_arch.data.video_test_dataset import SeeClearVideoTestDataset, frame_names_from_batch


def _opt(tree: dict, **kwargs) -> dict:
    opt = {'name': 'Vid4', 'type': 'SeeClearVideoTestDataset', 'dataroot_gt': tree['gt'], 'dataroot_lq': tree['lq'],
           'io_backend': {'type': 'disk'}, 'scale': 4}
    opt.update(kwargs)
    return opt


def test_sequences_with_gt(vid4_tree):
    dataset = build_dataset(_opt(vid4_tree))
    assert isinstance(dataset, SeeClearVideoTestDataset) and len(dataset) == 2
    item = dataset[1]
    assert item['folder'] == 'city' and item['frame_names'] == ['0000', '0001', '0002', '0003', '0004']
    assert item['lq'].shape == (5, 3, 12, 16) and item['gt'].shape == (5, 3, 48, 64)
    assert item['lq_path'] == osp.join(vid4_tree['lq'], 'city')
    expected = frames_to_tensor([read_frame_file(osp.join(vid4_tree['gt'], 'city', f'{i:04d}.png')) for i in range(5)])
    assert torch.equal(item['gt'], expected)
    assert Counter(dataset.data_info['folder']) == {'calendar': 3, 'city': 5}  # what VideoRecurrentModel counts


def test_lq_only_and_cache(vid4_tree):
    opt = _opt(vid4_tree, cache_data=True)
    del opt['dataroot_gt']
    item = SeeClearVideoTestDataset(opt)[0]
    assert 'gt' not in item and item['lq'].shape == (3, 3, 12, 16)
    assert torch.equal(item['lq'], SeeClearVideoTestDataset(_opt(vid4_tree))[0]['lq'])


def test_folder_selection(vid4_tree, tmp_path):
    assert [s.folder for s in SeeClearVideoTestDataset(_opt(vid4_tree, folders=['city'])).sequences] == ['city']
    meta = tmp_path / 'meta_vid4.txt'
    meta.write_text('city 5 (48,64,3)\ncalendar\n')
    dataset = SeeClearVideoTestDataset(_opt(vid4_tree, meta_info_file=str(meta)))
    assert [s.folder for s in dataset.sequences] == ['city', 'calendar']


def test_basicsr_dataloader_batch_of_one(vid4_tree):
    opt = _opt(vid4_tree, phase='val')
    loader = build_dataloader(build_dataset(opt), opt, num_gpu=0, dist=False)
    batches = list(loader)
    assert [b['folder'] for b in batches] == [['calendar'], ['city']]
    assert batches[0]['lq'].shape == (1, 3, 3, 12, 16)
    assert batches[0]['frame_names'] == [('0000',), ('0001',), ('0002',)]  # default collate
    assert frame_names_from_batch(batches[0]['frame_names']) == ['0000', '0001', '0002']
    assert frame_names_from_batch(['a', 'b']) == ['a', 'b']
