"""Closed forms: sigma_B = 0 is ResShift (Table 4 row 1), and 'markov' is the paper's Eqs. 34-35 once the
kernel variance of Eq. 28 is corrected and Eq. 34's sign is fixed. Formulas are written out independently."""
import pytest
import torch

from seeclear_arch.diffusion import BlurringResShift, patch_dct, patch_eigenvalues

T = 15


def _clip(b, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(b, 2, 3, 8, 16, generator=gen, dtype=torch.float64) for _ in range(4)]


def test_no_blur_marginal_is_resshift():
    proc = BlurringResShift(num_timesteps=T, blur_sigma2=0.0)
    x0, y, noise, _ = _clip(T + 1)
    t = torch.arange(T + 1)
    eta = proc.etas.reshape(-1, 1, 1, 1, 1)
    torch.testing.assert_close(proc.q_mean(x0, y, t), (1 - eta) * x0 + eta * y, rtol=0, atol=1e-14)
    ref = x0 + eta * (y - x0) + proc.kappa * eta.sqrt() * noise  # ResShift's q_sample
    torch.testing.assert_close(proc.q_sample(x0, y, t, noise=noise), ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(proc.blur(x0, t), x0, rtol=0, atol=0)


def test_no_blur_posterior_is_resshift():
    proc = BlurringResShift(num_timesteps=T, blur_sigma2=0.0, coupling='resshift')
    x0, y, u_t, _ = _clip(T)
    t = torch.arange(1, T + 1)
    eta_t, eta_s = proc.etas[1:].reshape(-1, 1, 1, 1, 1), proc.etas[:-1].reshape(-1, 1, 1, 1, 1)
    alpha = eta_t - eta_s
    mean, var = proc.posterior_mean_variance(x0, u_t, y, t, t - 1)
    torch.testing.assert_close(mean, eta_s / eta_t * u_t + alpha / eta_t * x0, rtol=0, atol=1e-13)
    ref_var = (proc.kappa**2 * eta_s * alpha / eta_t).reshape(-1, 1, 1).expand(-1, 8, 8)
    torch.testing.assert_close(var, ref_var, rtol=1e-12, atol=1e-15)


def _paper_posterior(proc, x0, u_t, y, t, s, corrected_variance=True):
    """Eqs. 34-36 per patch-DCT frequency, with Eq. 34's u_l coefficient '+ alpha eta_{t-1}' (from Eqs. 31-32)
    and, if corrected, the kernel variance kappa^2 (eta_t - lambda^2 eta_s) instead of kappa^2 alpha_t."""
    eta_t, eta_s, tau_t, tau_s = proc.etas[t], proc.etas[s], proc.taus[t], proc.taus[s]
    lam = patch_eigenvalues(proc.patch_size, proc.patch_size)
    lmb = (1 - eta_t) / (1 - eta_s) * torch.exp(lam * (tau_t - tau_s))  # Eq. 36
    alpha = eta_t - lmb**2 * eta_s if corrected_variance else eta_t - eta_s
    u0_f, ut_f, y_f = (patch_dct(v, proc.patch_size) for v in (x0, u_t, y))
    denom = lmb**2 * eta_s + alpha
    mean = (lmb * eta_s * ut_f + alpha * (1 - eta_s) * torch.exp(lam * tau_s) * u0_f +
            (lmb**2 * eta_s**2 - lmb * eta_s * eta_t + alpha * eta_s) * y_f) / denom
    var = proc.kappa**2 * alpha * eta_s / denom
    return mean, var


@pytest.mark.parametrize('blur_sigma2', [0.0, 2.0])
@pytest.mark.parametrize('t', [1, 2, 8, 15])
def test_markov_is_corrected_paper_posterior(blur_sigma2, t):
    proc = BlurringResShift(num_timesteps=T, blur_sigma2=blur_sigma2, coupling='markov')
    x0, y, u_t, _ = _clip(1, seed=t)
    mean, var = proc.posterior_mean_variance(x0, u_t, y, t, t - 1)
    ref_mean, ref_var = _paper_posterior(proc, x0, u_t, y, t, t - 1)
    torch.testing.assert_close(patch_dct(mean, 8), ref_mean, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(var[0], ref_var, rtol=1e-10, atol=1e-14)


def test_printed_kernel_variance_breaks_the_marginal():
    """Why we depart from Eq. 28: with variance kappa^2 alpha_t, Var(u_t) = kappa^2 (lambda^2 eta_{t-1} + alpha_t)."""
    proc = BlurringResShift(num_timesteps=T, blur_sigma2=2.0)
    lam = patch_eigenvalues(8, 8)
    for t in (2, 8, 15):
        eta_t, eta_s = proc.etas[t], proc.etas[t - 1]
        lmb = (1 - eta_t) / (1 - eta_s) * torch.exp(lam * (proc.taus[t] - proc.taus[t - 1]))
        implied = lmb**2 * eta_s + (eta_t - eta_s)
        assert (implied / eta_t - 1).abs().max() > 1e-3
        assert bool((implied < eta_t).all())  # the printed kernel under-disperses every frequency


def test_markov_differs_from_resshift_without_blur():
    """At sigma_B = 0 the Markov coupling is c = (1 - eta_t) / (1 - eta_s) != 1: another exact posterior of the
    same marginal (see test_moments), not ResShift's."""
    x0, y, u_t, _ = _clip(1)
    res = BlurringResShift(blur_sigma2=0.0, coupling='resshift').posterior_mean_variance(x0, u_t, y, 8, 7)
    mkv = BlurringResShift(blur_sigma2=0.0, coupling='markov').posterior_mean_variance(x0, u_t, y, 8, 7)
    assert not torch.allclose(res[0], mkv[0]) and bool((mkv[1] > res[1]).all())
