"""Every options/*.yml parses, names registered types only, and agrees with the paper and the arch configs."""
import glob
from os import path as osp

import pytest
import torch
import yaml
from basicsr.models import build_model
from basicsr.utils.options import ordered_yaml
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

from seeclear_arch.diffusion import BlurringResShift
from seeclear_arch.sampling.engine import sampling_options
from tests.helpers import model_options

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OPTION_FILES = sorted(glob.glob(osp.join(REPO, 'options', '*.yml')))
SECTIONS = ['name', 'model_type', 'scale', 'num_gpu', 'manual_seed', 'datasets', 'network_g', 'diffusion', 'path',
            'train', 'val', 'logger', 'dist_params']


def _load(path: str) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def _name(path: str) -> str:
    return osp.basename(path)


def test_all_expected_option_files_exist():
    names = {_name(p) for p in OPTION_FILES}
    assert {'train_seeclear_reds.yml', 'train_seeclear_vimeo.yml', 'test_vid4.yml', 'test_reds4.yml',
            'train_seeclear_reds_stage1_condenser.yml', 'train_seeclear_reds_stage2_category.yml',
            'train_seeclear_reds_stage3_joint.yml', 'train_seeclear_demo.yml', 'test_seeclear_demo.yml',
            'train_seeclear_star_reds.yml'} <= names


@pytest.mark.parametrize('path', OPTION_FILES, ids=_name)
def test_option_file_is_consistent(path):
    opt = _load(path)
    keys = [k for k in opt if k in SECTIONS]
    assert keys == [k for k in SECTIONS if k in opt], 'BasicSR section order'
    assert opt['model_type'] in MODEL_REGISTRY
    assert opt['network_g']['type'] in ARCH_REGISTRY
    assert 'network_base' not in opt or opt['network_base']['type'] in ARCH_REGISTRY
    assert all(d['type'] in DATASET_REGISTRY for d in opt['datasets'].values())
    assert all(m['type'] in METRIC_REGISTRY for m in opt['val']['metrics'].values())
    assert BlurringResShift.from_opt(opt['diffusion']).num_timesteps == 15  # [paper]
    assert opt['val']['num_frame'] == 5 and opt['val']['seed'] == 0 and opt['val']['carry_memory'] is True
    sampling = sampling_options(opt['val'])  # paper settings: whole frames, float32
    assert (sampling['tile'], sampling['dtype']) == (0, 'float32')
    if 'train' in opt:
        train = opt['train']
        assert train['optim_g']['type'] == 'Adam' and train['optim_g']['betas'] == [0.5, 0.999]  # [paper]
        assert train['scheduler']['type'] == 'CosineAnnealingRestartLR'
        assert train['pixel_opt']['type'] == 'CharbonnierLoss' and train['pixel_opt']['type'] in LOSS_REGISTRY
        assert train['ema_decay'] > 0
        assert opt['datasets']['train']['num_frame'] == 5


def test_network_configs_match_the_arch_files():
    arch = {n: _load(osp.join(REPO, 'options', 'arch', f'seeclear_{n}.yml'))['network_g'] for n in ('demo', 'paper')}
    for path in OPTION_FILES:
        expected = arch['demo'] if 'demo' in _name(path) else arch['paper']
        assert _load(path)['network_g'] == expected, _name(path)


def test_stages_chain_and_freeze_the_right_parts():
    load = {s: _load(osp.join(REPO, 'options', f'train_seeclear_reds_{s}.yml'))
            for s in ('stage1_condenser', 'stage2_category', 'stage3_joint')}
    assert [o['train']['trainable'] for o in load.values()] == ['all_but_memory', 'memory', 'all']
    assert load['stage1_condenser']['path']['pretrain_network_g'] is None
    assert load['stage2_category']['path']['pretrain_network_g'].startswith(
        f"experiments/{load['stage1_condenser']['name']}/models/")
    assert load['stage3_joint']['path']['pretrain_network_g'].startswith(
        f"experiments/{load['stage2_category']['name']}/models/")


def test_demo_network_trains_and_samples_through_the_model(tmp_path):
    """SeeClearNet (demo size) through SeeClearModel: one stage-2 training step on an item of two consecutive
    clips (CaTeGory's M and learned memory move), then a 6-frame sequence in 2 clips."""
    opt = model_options(str(tmp_path))
    demo = _load(osp.join(REPO, 'options', 'train_seeclear_demo.yml'))
    opt.update(network_g=demo['network_g'], diffusion=demo['diffusion'])
    opt['train'].update(trainable='memory', memory_pattern=demo['train']['memory_pattern'])
    model = build_model(opt)
    trained = [n for n, p in model.net_g.named_parameters() if p.requires_grad]
    assert trained and all(n.startswith('memory.') or '.category.' in n for n in trained)
    before = {n: p.detach().clone() for n, p in model.net_g.named_parameters() if n.startswith('memory.')}
    model.feed_data({'lq': torch.rand(1, 6, 3, 8, 8), 'gt': torch.rand(1, 6, 3, 32, 32)})  # 2 clips of 3
    for step in (1, 2):  # the queries' output projections start at zero: M's gradients flow from step 2
        model.optimize_parameters(step)
        assert model.log_dict['l_skipped_nonfinite'] == 0
    after = dict(model.net_g.named_parameters())
    assert all(not torch.equal(before[n], after[n]) for n in ('memory.textures', 'memory.cross.ca.proj.weight'))
    model.opt['val'].update(num_frame=5, num_steps=1)
    model.feed_data({'lq': torch.rand(1, 6, 3, 8, 8)})
    model.test()
    assert model.output.shape == (1, 6, 3, 32, 32)


def test_seeclear_star_demo_differs_from_the_demo_only_in_its_condition():
    """The SeeClear* demo trains and tests exactly the quickstart model, with DAT-light's cached whole-frame
    outputs as the training condition and DAT-light run on whole frames at test."""
    for kind in ('train', 'test'):
        demo = _load(osp.join(REPO, 'options', f'{kind}_seeclear_demo.yml'))
        star = _load(osp.join(REPO, 'options', f'{kind}_seeclear_star_demo.yml'))
        assert star['network_base'] == {'type': 'DATLight', 'upscale': 4} and star['base_mode'] == 'image'
        assert star['path'].get('pretrain_network_base') is None  # DATLight carries its shipped weights
        for section in ('network_g', 'diffusion', 'val', 'train'):
            assert star.get(section) == demo.get(section), (kind, section)
    train = _load(osp.join(REPO, 'options', 'train_seeclear_star_demo.yml'))
    assert train['datasets']['train']['dataroot_cond'] == 'datasets/demo/train/DATx4'
    assert train['path']['ignore_resume_networks'] == ['network_base']
