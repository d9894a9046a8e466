"""Noise-shift and blur schedules of Blurring ResShift, as pure functions.

Both return float64 CPU tensors of length ``T`` for steps ``t = 1..T``; the process prepends the clean
state ``t = 0`` (``eta_0 = 0``, ``tau_0 = 0``).
"""
import math

import torch


def resshift_eta_schedule(num_timesteps: int = 15,
                          kappa: float = 2.0,
                          power: float = 0.3,
                          min_noise_level: float = 0.04,
                          etas_end: float = 0.99) -> torch.Tensor:
    """ResShift's ``get_named_eta_schedule('exponential')``: the shift sequence ``eta_1..eta_T``.

    ``sqrt(eta_t)`` is geometric between ``sqrt(eta_1) = min(min_noise_level / kappa, min_noise_level)`` and
    ``sqrt(eta_T) = etas_end``, sampled on the warped grid ``linspace(0, 1, T) ** power`` (``power < 1`` spends
    more steps near ``t = T``). Returns ``eta`` (not its square root), shape ``(T,)``, float64.
    """
    if num_timesteps < 1:
        raise ValueError(f'num_timesteps must be >= 1, got {num_timesteps}')
    start = min(min_noise_level / kappa, min_noise_level)
    if not 0 < start <= etas_end < 1:
        raise ValueError(f'need 0 < sqrt(eta_1)={start} <= etas_end={etas_end} < 1')
    if num_timesteps == 1:
        return torch.tensor([etas_end**2], dtype=torch.float64)
    grid = torch.linspace(0, 1, num_timesteps, dtype=torch.float64)**power
    # exp(log(start) + grid * log(end/start)) == ResShift's base**(grid * (T-1)) * start
    sqrt_etas = torch.exp(math.log(start) + grid * math.log(etas_end / start))
    return sqrt_etas**2


def blur_tau_schedule(num_timesteps: int = 15, blur_sigma2: float = 2.0, blur_sigma_min: float = 0.5) -> torch.Tensor:
    """IHDM-style blur schedule: heat-equation times ``tau_1..tau_T``, shape ``(T,)``, float64.

    The Gaussian blur width ``sigma_t`` (pixels) is log-spaced from ``blur_sigma_min`` at ``t = 1`` to
    ``sigma_B = sqrt(blur_sigma2)`` at ``t = T`` (IHDM, Rissanen et al. 2023, uses ``sigma_min = 0.5``), and
    ``tau_t = sigma_t^2 / 2`` because the heat equation run for time ``tau`` is a Gaussian blur of variance
    ``2 tau`` (App. A, Eq. 22). ``blur_sigma2 = 0`` gives all zeros (plain ResShift; Table 4 row 1 is that on a
    WaveDiff backbone, docs/formulation.md D16). When ``sigma_B < blur_sigma_min`` the start is lowered to
    ``sigma_B`` (constant blur), since a log-spaced schedule must not decrease.
    """
    if blur_sigma2 < 0 or blur_sigma_min <= 0:
        raise ValueError(f'need blur_sigma2 >= 0 and blur_sigma_min > 0, got {blur_sigma2}, {blur_sigma_min}')
    if blur_sigma2 == 0:
        return torch.zeros(num_timesteps, dtype=torch.float64)
    sigma_max = math.sqrt(blur_sigma2)
    sigma_min = min(blur_sigma_min, sigma_max)
    log_sigma = torch.linspace(math.log(sigma_min), math.log(sigma_max), num_timesteps, dtype=torch.float64)
    if num_timesteps == 1:
        log_sigma = torch.full((1, ), math.log(sigma_max), dtype=torch.float64)
    return torch.exp(log_sigma)**2 / 2
