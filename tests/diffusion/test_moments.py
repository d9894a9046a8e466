"""Monte Carlo checks: q_sample has the marginal of Eq. 25, and one posterior step from u_t ~ q(u_t | x0)
lands on q(u_s | x0) in mean and full covariance (pixels and patch-DCT frequencies), for both couplings.

Tolerances: for N Gaussian samples, a sample mean has standard error sigma / sqrt(N) and a sample covariance
entry has standard error sqrt((S_ii S_jj + S_ij^2) / N). We standardise every entry by its standard error and
require |z| < 5.5; over the ~2000 distinct entries of a 64 x 64 covariance the chance of a false failure is
about 1e-4, while a 5 % variance error shifts diagonal z-scores by ~0.05 / sqrt(2 / N) ~ 7 at N = 40000.
"""
import math

import pytest
import torch

from seeclear_arch.diffusion import BlurringResShift, patch_dct, patch_eigenvalues, patch_idct

N = 40000
Z_MAX = 5.5


def _z_scores(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor):
    """Standardised errors of the sample mean and sample covariance of ``samples`` (N, D)."""
    n = samples.shape[0]
    emp_mean = samples.mean(0)
    centred = samples - emp_mean
    emp_cov = centred.T @ centred / (n - 1)
    z_mean = (emp_mean - mean) / (cov.diagonal() / n).sqrt()
    var = cov.diagonal()
    z_cov = (emp_cov - cov) / ((var[:, None] * var[None, :] + cov**2) / n).sqrt()
    return z_mean.abs().max().item(), z_cov.abs().max().item()


def _marginal_mean_reference(proc: BlurringResShift, x0, y, t: int):
    """(1 - eta_t) exp(lam tau_t) X0 + eta_t Y in the patch DCT (needs H, W multiples of p)."""
    eta, tau = proc.etas[t].item(), proc.taus[t].item()
    lam = patch_eigenvalues(proc.patch_size, proc.patch_size)
    return patch_idct((1 - eta) * torch.exp(lam * tau) * patch_dct(x0, proc.patch_size)) + eta * y


def _check(samples, mean, var_scalar, patch_size=None):
    d = samples[0].numel()
    flat = samples.reshape(samples.shape[0], -1)
    cov = var_scalar * torch.eye(d, dtype=torch.float64)
    zm, zc = _z_scores(flat, mean.reshape(-1), cov)
    assert zm < Z_MAX and zc < Z_MAX, (zm, zc)
    if patch_size is not None:  # same in the patch DCT: the frequencies are uncorrelated with equal variance
        freq = patch_dct(samples, patch_size).reshape(samples.shape[0], -1)
        zm, zc = _z_scores(freq, patch_dct(mean, patch_size).reshape(-1), cov)
        assert zm < Z_MAX and zc < Z_MAX, (zm, zc)


def _data(h=8, w=8):
    gen = torch.Generator().manual_seed(1)
    x0 = torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64) * 2 - 1
    y = x0 + 0.3 * torch.randn(1, 1, h, w, generator=gen, dtype=torch.float64)
    return x0.expand(N, -1, -1, -1), y.expand(N, -1, -1, -1)


@pytest.mark.parametrize('t', [1, 7, 15])
def test_q_sample_marginal(t):
    proc = BlurringResShift(patch_size=4)
    x0, y = _data()
    gen = torch.Generator().manual_seed(2)
    u = proc.q_sample(x0, y, torch.full((N, ), t), generator=gen)
    mean = _marginal_mean_reference(proc, x0[:1], y[:1], t)[0]
    torch.testing.assert_close(proc.q_mean(x0[:1], y[:1], t)[0], mean)
    _check(u, mean, proc.kappa**2 * proc.etas[t].item(), patch_size=4)


@pytest.mark.parametrize('coupling', ['resshift', 'markov'])
@pytest.mark.parametrize('t,s', [(5, 4), (12, 6), (15, 14)])
def test_posterior_step_lands_on_marginal(coupling, t, s):
    proc = BlurringResShift(patch_size=4, coupling=coupling, blur_sigma2=3.0)
    x0, y = _data()
    gen = torch.Generator().manual_seed(3)
    u_t = proc.q_sample(x0, y, torch.full((N, ), t), generator=gen)
    u_s = proc.p_step(x0, u_t, y, torch.full((N, ), t), torch.full((N, ), s), generator=gen)
    mean = _marginal_mean_reference(proc, x0[:1], y[:1], s)[0]
    _check(u_s, mean, proc.kappa**2 * proc.etas[s].item(), patch_size=4)


@pytest.mark.parametrize('coupling', ['resshift', 'markov'])
def test_posterior_exact_on_non_multiple_frame(coupling):
    """5 x 6 frame, p = 4: shorter edge patches keep the step exact (no padding approximation)."""
    proc = BlurringResShift(patch_size=4, coupling=coupling)
    x0, y = _data(5, 6)
    gen = torch.Generator().manual_seed(4)
    t, s = torch.full((N, ), 9), torch.full((N, ), 5)
    u_t = proc.q_sample(x0, y, t, generator=gen)
    u_s = proc.p_step(x0, u_t, y, t, s, generator=gen)
    _check(u_s, proc.q_mean(x0[:1], y[:1], 5)[0], proc.kappa**2 * proc.etas[5].item())


def test_moment_check_has_power():
    """Negative control: samples whose variance is 5 % too large fail the same check."""
    proc = BlurringResShift(patch_size=4)
    x0, y = _data()
    u = proc.q_sample(x0, y, torch.full((N, ), 7), generator=torch.Generator().manual_seed(5))
    mean = proc.q_mean(x0[:1], y[:1], 7)[0]
    with pytest.raises(AssertionError):
        _check(mean + (u - mean) * math.sqrt(1.05), mean, proc.kappa**2 * proc.etas[7].item())


def _clip_data(frames=2, h=8, w=8):
    """(N, frames, 1, h, w) clips whose frames differ, so a mixed-up frame would show."""
    gen = torch.Generator().manual_seed(4)
    x0 = torch.rand(1, frames, 1, h, w, generator=gen, dtype=torch.float64) * 2 - 1
    y = x0 + 0.3 * torch.randn(1, frames, 1, h, w, generator=gen, dtype=torch.float64)
    return x0.expand(N, -1, -1, -1, -1), y.expand(N, -1, -1, -1, -1)


@pytest.mark.parametrize('coupling', ['resshift', 'markov'])
def test_shared_noise_keeps_every_frames_marginal(coupling):
    """``noise: shared``: q_sample and a posterior step give each frame the marginal of Eq. 25, and the frames of a
    clip carry the same noise."""
    proc = BlurringResShift(patch_size=4, coupling=coupling, blur_sigma2=3.0, noise='shared')
    x0, y = _clip_data()
    gen = torch.Generator().manual_seed(5)
    t, s = 9, 5
    u_t = proc.q_sample(x0, y, torch.full((N, ), t), generator=gen)
    u_s = proc.p_step(x0, u_t, y, torch.full((N, ), t), torch.full((N, ), s), generator=gen)
    for u, step in ((u_t, t), (u_s, s)):
        for f in range(x0.shape[1]):
            mean = _marginal_mean_reference(proc, x0[:1, f], y[:1, f], step)[0]
            _check(u[:, f], mean, proc.kappa**2 * proc.etas[step].item(), patch_size=4)
    noise = u_t - proc.q_mean(x0, y, t)
    torch.testing.assert_close(noise[:, 0], noise[:, 1])
    prior = proc.prior_sample(y[:4], gen) - y[:4]
    torch.testing.assert_close(prior[:, 0], prior[:, 1])


def test_noise_scale_zero_steps_to_the_posterior_mean():
    proc = BlurringResShift(patch_size=4, blur_sigma2=3.0)
    x0, y = _data()
    u_t = proc.q_sample(x0[:8], y[:8], 6, generator=torch.Generator().manual_seed(6))
    mean, _ = proc.posterior_mean_variance(x0[:8], u_t, y[:8], 6, 3)
    torch.testing.assert_close(proc.p_step(x0[:8], u_t, y[:8], 6, 3, noise_scale=0.0), mean, rtol=0, atol=0)


def test_unknown_noise_mode_is_an_error():
    with pytest.raises(ValueError, match='diffusion.noise'):
        BlurringResShift(noise='warped')
