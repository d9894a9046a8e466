"""SeeClearNet called the BasicSR way (``net(lq)``) and trained by BasicSR's own ``VideoRecurrentModel``."""
import glob
import os
from os import path as osp

import pytest
import torch
from basicsr.archs import build_network

from tests import helpers as te

TINY_NET = {'type': 'SeeClearNet', 'num_feat': 8, 'channel_mult': [1, 1, 1, 1], 'num_units': [1, 1, 1, 1],
            'num_middle_blocks': 1, 'head_dim': 8, 'window_size': 4, 'mfsa_window': 4, 'token_dim': 16,
            'num_clip_tokens': 2, 'clip_encoder_layers': 1, 'clip_decoder_layers': 1, 'memory_size': 4,
            'memory_dim': 16, 'memory_pool': 2,
            'distiller': {'type': 'SeeClearLightDistiller', 'num_feat': 8, 'seg_dim': 8, 'token_dim': 16,
                          'num_tokens': 2, 'num_queries': 4, 'num_heads': 2, 'pool_size': 2}}


def test_plain_call_is_a_deterministic_regression():
    net = build_network(dict(TINY_NET)).eval()
    lq = torch.rand(1, 3, 3, 8, 8)
    with torch.no_grad():
        out = net(lq)
        again = net(lq)
    assert out.shape == (1, 3, 3, 32, 32)
    assert torch.equal(out, again)


@pytest.mark.parametrize('args', [(torch.rand(1, 3, 8, 8),),
                                  (torch.rand(1, 3, 3, 32, 32), torch.rand(1, 3, 3, 32, 32))])
def test_other_signatures_name_seeclear_model(args):
    net = build_network(dict(TINY_NET))
    with pytest.raises(TypeError, match='model_type: SeeClearModel'):
        net(*args)


def _recurrent_options(root: str) -> dict:
    opt = te.train_options(osp.join(root, 'data'), name='plain_recurrent', total_iter=2, val=False)
    opt.update(model_type='VideoRecurrentModel', network_g=dict(TINY_NET))
    opt.pop('diffusion')
    opt['datasets']['train'].update(gt_size=32, batch_size_per_gpu=1)
    opt['datasets']['val'] = {'name': 'REDS4', 'type': 'VideoRecurrentTestDataset', 'cache_data': True,
                              'num_frame': -1, 'io_backend': {'type': 'disk'},
                              'dataroot_gt': osp.join(root, 'data', 'val', 'gt'),
                              'dataroot_lq': osp.join(root, 'data', 'val', 'lq')}
    opt['val'] = {'val_freq': 2, 'save_img': False,
                  'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}}
    opt['train'].pop('trainable')
    opt['train'].pop('grad_clip')
    opt['logger']['save_checkpoint_freq'] = 2
    return opt


@pytest.mark.slow
def test_basicsr_video_recurrent_model_trains_and_validates_seeclearnet(tmp_path, subprocess_env):
    root = str(tmp_path)
    te.make_dataset(osp.join(root, 'data'), val_frames=[4])
    yml = te.write_yml(_recurrent_options(root), osp.join(root, 'plain.yml'))
    proc = te.run([te.PYTHON, '-m', 'seeclear_arch.train', '-opt', yml], root, subprocess_env)
    log = proc.stdout + proc.stderr
    assert 'Model [VideoRecurrentModel] is created.' in log
    assert 'Validation REDS4' in log and '# psnr:' in log
    weights = torch.load(osp.join(root, 'experiments', 'plain_recurrent', 'models', 'net_g_latest.pth'),
                         map_location='cpu', weights_only=True)
    assert any(k.startswith('memory.') for k in weights['params'])
    assert not glob.glob(osp.join(root, 'experiments', 'plain_recurrent', 'models', '.*'))
    assert os.path.isfile(osp.join(root, 'experiments', 'plain_recurrent', 'training_states', '2.state'))
