"""Fixtures: tiny synthetic frame trees (REDS-, Vimeo- and Vid4-like) written into tmp_path."""
from typing import Dict

import pytest

from tests.helpers import make_tree


@pytest.fixture
def reds_tree(tmp_path) -> Dict[str, str]:
    return make_tree(str(tmp_path / 'reds'), {'000': 6, '001': 6, '011': 6}, lambda i: f'{i:08d}.png')


@pytest.fixture
def vimeo_tree(tmp_path) -> Dict[str, str]:
    return make_tree(str(tmp_path / 'vimeo'), {'00001/0001': 7, '00001/0002': 7}, lambda i: f'im{i + 1}.png')


@pytest.fixture
def vid4_tree(tmp_path) -> Dict[str, str]:
    return make_tree(str(tmp_path / 'vid4'), {'calendar': 3, 'city': 5}, lambda i: f'{i:04d}.png')
