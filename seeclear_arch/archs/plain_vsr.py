"""SeeClearNet as a plain BasicSR regression VSR network (``net(lq)``), for BasicSR's own video models.

BasicSR's ``VideoRecurrentModel`` (BasicVSR, IconVSR, BasicVSR++) calls ``net_g(lq)`` with ``lq`` of shape
``(B, n, 3, h, w)`` and trains the output against ``(B, n, 3, s*h, s*w)`` GT frames. Called that way,
SeeClearNet makes one deterministic pass of its denoiser from the bicubic condition: ``y`` = bicubic x``s``
upsampling of ``lq`` (clamped, mapped to [-1, 1] as in ``SeeClearModel``), the state ``x_t = y`` (the mean of
``q(x_T | x_0, y)`` up to ``eta_T``), ``t = REGRESSION_T`` (the paper's T = 15), and the x0 prediction mapped
back to [0, 1]. So ``network_g: {type: SeeClearNet, ...}`` drops into an existing BasicSR video yml to compare
the Pixel Condenser with BasicVSR under identical training; diffusion training and sampling need
``model_type: SeeClearModel``. The CaTeGory memory is used as in a training step (no carry across calls at
inference: every call is a clip of its own, querying the learned memory).
"""
import torch
import torch.nn.functional as F

#: the diffusion step the regression pass is conditioned on (the paper's T)
REGRESSION_T = 15.0
#: the SR scale of the regression pass (SeeClear is a 4x method)
REGRESSION_SCALE = 4

DENOISER_CALL_HELP = ('SeeClearNet is called either the BasicSR way, net(lq) with lq of shape (B, n, 3, h, w) '
                      '(a plain regression VSR network), or as a diffusion denoiser, net(x_t, y, lq, t[, cond]) '
                      'with all of x_t, y, lq and t; for diffusion training and sampling use '
                      '`model_type: SeeClearModel`.')


def is_plain_call(x_t: torch.Tensor, *others) -> bool:
    """Whether a forward call is BasicSR's ``net(lq)``: only one 5-D positional tensor, nothing else.

    Raises ``TypeError`` (naming the two supported signatures) for a partial denoiser call."""
    if all(o is None for o in others):
        if not (torch.is_tensor(x_t) and x_t.dim() == 5):
            raise TypeError(f'{DENOISER_CALL_HELP} Got one input of shape {tuple(getattr(x_t, "shape", ()))}.')
        return True
    if any(o is None for o in others[:3]):
        raise TypeError(f'{DENOISER_CALL_HELP} Some of y, lq, t are missing.')
    return False


class PlainVSRMixin:
    """Adds ``regress(lq)`` to a clip denoiser ``forward(x_t, y, lq, t)`` working in [-1, 1]."""

    def regress(self, lq: torch.Tensor, scale: int = REGRESSION_SCALE, t: float = REGRESSION_T) -> torch.Tensor:
        """``(B, n, 3, h, w)`` LR frames in [0, 1] -> ``(B, n, 3, scale*h, scale*w)``, one deterministic pass."""
        b, n = lq.shape[:2]
        up = F.interpolate(lq.flatten(0, 1), scale_factor=scale, mode='bicubic', align_corners=False)
        y = up.clamp(0, 1).view(b, n, *up.shape[1:]) * 2 - 1  # [0, 1] -> [-1, 1]
        steps = torch.full((b,), float(t), device=lq.device, dtype=lq.dtype)
        return (self.forward(y, y, lq, steps) + 1) / 2
