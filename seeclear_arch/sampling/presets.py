"""Sampling presets: ``val.preset`` / ``--preset fast|balanced|paper`` (docs/performance.md#presets).

A preset sets the sampler steps and the network's precision, the two choices that trade quality for time; the
values come from the quality-per-second curve measured on the demo models (docs/performance.md#presets):

- ``paper``: the paper's sampler, all ``T`` steps in float32;
- ``balanced``: 4 steps (a subset of the trained schedule), float32;
- ``fast``: 1 step, bfloat16 where the hardware runs it natively (a CUDA GPU with bf16, or a CPU with AVX-512 BF16
  or AMX), else float32.

A preset replaces ``val.num_steps`` and ``val.dtype`` from the yml, nothing else (the noise, the propagation and the
memory stay the yml's: ``paper`` is the paper's sampler, not the paper's whole setting); an explicit ``--num-steps`` /
``--dtype`` on the command line still wins over it.
"""
from typing import Any, Dict, Mapping, Optional, Union

import torch

from seeclear_arch.sampling.precision import cpu_has_fast

PRESETS: Dict[str, Dict[str, Any]] = {
    'paper': {'num_steps': None, 'dtype': 'float32'},
    'balanced': {'num_steps': 4, 'dtype': 'float32'},
    'fast': {'num_steps': 1, 'dtype': 'native-bfloat16'},
}


def native_bfloat16(device: Union[str, torch.device]) -> bool:
    """Whether ``device`` runs bfloat16 matmuls and convolutions natively."""
    device = torch.device(device)
    if device.type == 'cuda':  # native bf16 from Ampere (compute capability 8) on; older GPUs emulate it
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    return device.type == 'cpu' and cpu_has_fast(torch.bfloat16)


def preset_values(name: str, device: Union[str, torch.device] = 'cpu') -> Dict[str, Any]:
    """``num_steps`` and ``dtype`` of preset ``name`` on ``device``; raises naming the presets."""
    if name not in PRESETS:
        raise ValueError(f'val.preset / --preset must be one of {", ".join(PRESETS)}, got {name!r}.')
    values = dict(PRESETS[name])
    if values['dtype'] == 'native-bfloat16':
        values['dtype'] = 'bfloat16' if native_bfloat16(device) else 'float32'
    return values


def with_preset(val_opt: Optional[Mapping[str, Any]], preset: Optional[str] = None,
                device: Union[str, torch.device] = 'cpu') -> Dict[str, Any]:
    """A copy of the ``val`` options with ``preset`` (else ``val.preset``) applied to ``num_steps`` and ``dtype``."""
    opts = dict(val_opt or {})
    name = preset or opts.get('preset')
    if name:
        opts.update(preset_values(str(name), device), preset=name)
    return opts
