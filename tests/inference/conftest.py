"""The inference tests' shared fixture: a tiny random model with a video and a frame folder to super-resolve."""
from os import path as osp

import pytest

from tests.helpers import random_inference_weights, write_folder, write_mp4, write_yml


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> dict:
    """Tiny options (SeeClearConvDenoiser, T = 4, clips of 3, 2 steps) with random weights in a .pth."""
    root = str(tmp_path_factory.mktemp('inference'))
    opt, weights = random_inference_weights(root)
    return {'root': root, 'opt': opt, 'weights': weights, 'yml': write_yml(opt, osp.join(root, 'tiny.yml')),
            'video': write_mp4(osp.join(root, 'in.mp4')), 'folder': write_folder(osp.join(root, 'frames'), 7)}
