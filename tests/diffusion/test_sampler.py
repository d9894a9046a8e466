"""Sampling loop: oracle x0 predictor is recovered exactly, seeds reproduce, device/dtype follow the input."""
import pytest
import torch

from seeclear_arch.diffusion import BlurringResShift


def _clip(h=16, w=16, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 3, 3, h, w, generator=gen).to(dtype)
    return x0, x0 + 0.1 * torch.randn(x0.shape, generator=gen).to(dtype)


@pytest.mark.parametrize('coupling', ['resshift', 'markov'])
@pytest.mark.parametrize('blur_sigma2', [0.0, 2.0])
@pytest.mark.parametrize('num_steps', [None, 4, 1])
def test_oracle_predictor_returns_x0(coupling, blur_sigma2, num_steps):
    proc = BlurringResShift(coupling=coupling, blur_sigma2=blur_sigma2)
    x0, y = _clip()
    seen = []

    def oracle(u_t, t):
        assert t.shape == (2, ) and t.dtype == y.dtype and u_t.shape == y.shape
        seen.append(int(t[0]))
        return x0

    out = proc.sample(oracle, y, generator=torch.Generator().manual_seed(1), num_steps=num_steps)
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-5)
    assert seen == proc.timesteps(num_steps)


def test_oracle_on_non_multiple_frame_markov():
    proc = BlurringResShift(coupling='markov')
    x0, y = _clip(13, 19)
    out = proc.sample(lambda u, t: x0, y, generator=torch.Generator().manual_seed(2), num_steps=5)
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-5)


def test_seeded_generator_reproduces():
    proc = BlurringResShift(coupling='markov')
    _, y = _clip()

    def denoise(u, t):  # a state-dependent predictor, so the noise matters for every step
        return 0.5 * (u + y)

    run = [proc.sample(denoise, y, torch.Generator().manual_seed(s), num_steps=3, return_all=True) for s in (7, 7, 8)]
    for a, b in zip(run[0][1], run[1][1]):
        assert torch.equal(a, b)
    assert not torch.allclose(run[0][0], run[2][0])
    out, states, preds = run[0]
    assert len(states) == 4 and len(preds) == 3 and states[-1] is out


def test_dtype_and_device_follow_input():
    proc = BlurringResShift(coupling='markov')
    x0, y = _clip(dtype=torch.float64)
    t = torch.tensor([3, 9])
    for value in (proc.blur(x0, t), proc.q_sample(x0, y, t), proc.prior_sample(y),
                  proc.p_step(x0, y, y, t, t - 2), proc.posterior_mean_variance(x0, y, y, t, t - 1)[1]):
        assert value.dtype == torch.float64 and value.device == y.device
    out = proc.sample(lambda u, tt: x0, y, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-12)


def test_last_step_is_noise_free_and_t0_is_clean():
    proc = BlurringResShift(coupling='markov')
    x0, y = _clip()
    t = torch.tensor([5, 1])
    u_t = proc.q_sample(x0, y, t)
    mean, var = proc.posterior_mean_variance(x0, u_t, y, t, torch.zeros_like(t))
    assert bool((var == 0).all())
    torch.testing.assert_close(mean, x0, rtol=0, atol=1e-6)
    torch.testing.assert_close(proc.q_sample(x0, y, 0), x0)


def test_sample_t_range():
    proc = BlurringResShift(num_timesteps=4)
    t = proc.sample_t(1000, generator=torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and int(t.min()) == 1 and int(t.max()) == 4
