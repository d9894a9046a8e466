"""The model tests' shared fixture: a tiny generated REDS-style dataset (tests.helpers.make_dataset)."""
from os import path as osp

import pytest

from tests.helpers import make_dataset


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('seeclear_model'))
    make_dataset(osp.join(root, 'data'), val_frames=[7, 2])
    return root
