"""Schedules of Blurring ResShift: ResShift's eta, IHDM-style blur, step subsets, construction."""
import math

import numpy as np
import pytest
import torch

from seeclear_arch.diffusion import BlurringResShift, blur_tau_schedule, resshift_eta_schedule


def _resshift_reference(T, kappa, power, min_noise_level, etas_end):
    """ResShift's get_named_eta_schedule('exponential'), transcribed in numpy (returns sqrt(eta))."""
    etas_start = min(min_noise_level / kappa, min_noise_level)
    increaser = math.exp(1 / (T - 1) * math.log(etas_end / etas_start))
    base = np.ones([T]) * increaser
    power_timestep = np.linspace(0, 1, T, endpoint=True)**power * (T - 1)
    return np.power(base, power_timestep) * etas_start


@pytest.mark.parametrize('T,kappa,power', [(15, 2.0, 0.3), (4, 1.0, 0.3), (50, 0.5, 2.0)])
def test_eta_schedule_matches_resshift(T, kappa, power):
    etas = resshift_eta_schedule(T, kappa, power, 0.04, 0.99)
    assert etas.shape == (T, ) and etas.dtype == torch.float64
    np.testing.assert_allclose(etas.sqrt().numpy(), _resshift_reference(T, kappa, power, 0.04, 0.99), rtol=1e-12)
    assert math.isclose(etas[0].sqrt().item(), min(0.04 / kappa, 0.04), rel_tol=1e-12)
    assert math.isclose(etas[-1].sqrt().item(), 0.99, rel_tol=1e-12)
    assert bool((etas[1:] > etas[:-1]).all())


def test_blur_schedule_endpoints_monotone_log_spaced():
    taus = blur_tau_schedule(15, blur_sigma2=2.0, blur_sigma_min=0.5)
    sigmas = (2 * taus).sqrt()
    assert taus.shape == (15, )
    assert math.isclose(sigmas[0].item(), 0.5, rel_tol=1e-12)
    assert math.isclose(sigmas[-1].item()**2, 2.0, rel_tol=1e-12)
    ratios = sigmas[1:] / sigmas[:-1]
    assert bool((ratios > 1).all())
    torch.testing.assert_close(ratios, ratios[:1].expand_as(ratios))  # geometric = log-spaced


def test_blur_schedule_off_and_degenerate():
    assert bool((blur_tau_schedule(15, 0.0) == 0).all())
    taus = blur_tau_schedule(5, blur_sigma2=0.04, blur_sigma_min=0.5)  # sigma_B = 0.2 < sigma_min
    torch.testing.assert_close(taus, torch.full((5, ), 0.02, dtype=torch.float64))
    with pytest.raises(ValueError):
        blur_tau_schedule(5, blur_sigma2=-1.0)


def test_process_arrays_have_clean_state_at_zero():
    proc = BlurringResShift()
    assert proc.etas.shape == (16, ) and proc.taus.shape == (16, )
    assert proc.etas[0] == 0 and proc.taus[0] == 0
    assert math.isclose(proc.sqrt_etas[1].item(), 0.02, rel_tol=1e-12)
    assert math.isclose(proc.sqrt_etas[15].item(), 0.99, rel_tol=1e-12)
    assert math.isclose(proc.sigmas_blur[15].item()**2, 2.0, rel_tol=1e-12)
    assert bool((proc.taus[1:] > proc.taus[:-1]).all())


def test_timesteps_subsets():
    proc = BlurringResShift(num_timesteps=15)
    assert proc.timesteps() == list(range(15, 0, -1))
    assert proc.timesteps(1) == [15]
    assert proc.timesteps(2) == [15, 1]
    for n in range(2, 16):
        steps = proc.timesteps(n)
        assert len(steps) == n and steps[0] == 15 and steps[-1] == 1
        assert all(a > b for a, b in zip(steps, steps[1:]))
    with pytest.raises(ValueError):
        proc.timesteps(16)
    with pytest.raises(ValueError):
        proc.timesteps(0)


def test_from_opt_and_validation():
    opt = {'type': 'BlurringResShift', 'num_timesteps': 4, 'kappa': 1.0, 'blur_sigma2': 3.0, 'coupling': 'markov'}
    proc = BlurringResShift.from_opt(opt)
    assert proc.num_timesteps == 4 and proc.coupling == 'markov' and 'type' in opt
    assert math.isclose(proc.sigmas_blur[-1].item()**2, 3.0)
    with pytest.raises(TypeError):
        BlurringResShift.from_opt({'not_a_key': 1})
    with pytest.raises(ValueError):
        BlurringResShift(coupling='ddpm')
    proc = BlurringResShift(num_timesteps=4)
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError):
        proc.blur(x, torch.tensor([1, 5]))
    with pytest.raises(ValueError):
        proc.posterior_mean_variance(x, x, x, torch.tensor([2, 2]), torch.tensor([1, 2]))
