"""Mixed precision for training steps: ``train.precision: fp32 | bf16 | fp16``.

Follows PyTorch's automatic mixed precision recipe (``torch.autocast`` + ``torch.amp.GradScaler``, "Automatic Mixed
Precision examples" in the PyTorch docs):

* only the network call runs under ``torch.autocast(device.type, dtype)``; the diffusion maths (``q_sample``, the
  posterior, the sampler) and the loss run in float32 outside it, on the network output cast back to float32;
* parameters, gradients, the optimizer state and the EMA copy stay float32 (autocast never changes parameter dtypes);
* ``fp16`` adds a gradient scaler: the loss is scaled before ``backward``, the gradients are unscaled before clipping,
  and a step whose gradients overflow is skipped (and counted by the model with the non-finite steps) while the scaler
  lowers its scale. ``bf16`` has float32's exponent range and needs no scaler.

Validation sampling does not use ``train.precision`` (see ``val.dtype`` where the sampler supports it).
"""
import contextlib
import warnings
from typing import Any, Dict, Optional, Union

import torch


def cpu_has_fast(dtype: torch.dtype) -> bool:
    """Whether oneDNN runs ``dtype`` convolutions and matmuls natively on this CPU (bf16: AVX-512 BF16 or AMX; fp16:
    AVX-512 FP16 or AMX-FP16). Without it PyTorch falls back to reference kernels: the demo model sampled 8.5x slower
    under bf16 autocast than in float32 on an AVX2-only CPU (docs/performance.md, "Sampling speed")."""
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if dtype == torch.float16:
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return True


def warn_if_slow_on_cpu(dtype: Optional[torch.dtype], device: Union[str, torch.device], option: str) -> None:
    """A RuntimeWarning naming ``option`` when autocast at ``dtype`` on a CPU without native support would be slow."""
    if dtype is not None and torch.device(device).type == 'cpu' and not cpu_has_fast(dtype):
        warnings.warn(f'{option}: this CPU has no native {dtype} support in oneDNN (needs AVX-512 BF16/FP16 or '
                      f'AMX), so {dtype} autocast runs on slow reference kernels, many times slower than float32; use '
                      f'float32 here', RuntimeWarning, stacklevel=3)

PRECISIONS: Dict[str, Optional[torch.dtype]] = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


class MixedPrecision:
    """Autocast context and (``fp16``) gradient scaler for one model's training steps.

    Args:
        precision: ``'fp32'`` (no autocast), ``'bf16'`` or ``'fp16'``.
        device: the model's device; autocast and the scaler follow its type (``cpu``, ``cuda``).
    """

    def __init__(self, precision: str = 'fp32', device: Union[str, torch.device] = 'cpu'):
        if precision not in PRECISIONS:
            raise ValueError(f'train.precision must be one of {tuple(PRECISIONS)}, got {precision!r}')
        self.precision, self.device_type, self.dtype = precision, torch.device(device).type, PRECISIONS[precision]
        self.scaler = torch.amp.GradScaler(self.device_type) if precision == 'fp16' else None
        warn_if_slow_on_cpu(self.dtype, device, f'train.precision={precision}')

    @classmethod
    def from_opt(cls, train_opt: Optional[Dict[str, Any]], device: torch.device) -> 'MixedPrecision':
        """From ``train.precision`` [fp32]."""
        return cls(str((train_opt or {}).get('precision') or 'fp32'), device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context for the network's forward pass (a no-op for ``fp32``)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, on the scaled loss with ``fp16``."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the scale (``fp16``), before clipping or checking them."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Step the optimizer on finite (unscaled) gradients; ``fp16`` then updates the scale."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def skip(self) -> None:
        """After a skipped step: ``fp16`` lowers the scale (its overflow check ran in :meth:`unscale_`)."""
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> Dict[str, Any]:
        """What an exact resume needs: the precision and the scaler's scale and growth tracker."""
        return {'precision': self.precision, 'scaler': None if self.scaler is None else self.scaler.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore the scaler; a state saved under another precision is ignored (the run's precision changed)."""
        if self.scaler is not None and state.get('precision') == self.precision and state.get('scaler'):
            self.scaler.load_state_dict(state['scaler'])

    def __repr__(self) -> str:
        scale = '' if self.scaler is None else ', gradient scaler'
        return f'MixedPrecision({self.precision} on {self.device_type}{scale})'
