"""Blurring ResShift (Sec. 3.1, App. A): ResShift's residual shift plus patch-level heat-equation blur.

Notation, per frame at HR size: ``x0`` (``u_0``) the HR frame, ``y`` (``u_l``) the conditioning frame
(bicubic-upsampled LR), ``t in {1..T}`` the step and ``t = 0`` the clean state (``eta_0 = tau_0 = 0``).
Per patch-DCT frequency with Laplacian eigenvalue ``lam``::

    d_t = exp(lam * tau_t)                  blur, Eq. 1 / 22 (the paper's exp(Lambda t) with t -> tau_t)
    a_t = (1 - eta_t) * d_t                 Eq. 25
    m_t = a_t x0 + eta_t y                  marginal mean;  marginal variance kappa^2 eta_t (isotropic)

The state lives in pixel space; every per-frequency gain is applied as patch DCT -> gain -> inverse DCT
(:func:`patch_filter`). The patch DCT is orthonormal, so isotropic noise is the same in both domains.

Departures from the paper (docs/formulation.md D1-D2; :meth:`BlurringResShift.posterior_mean_variance`): the printed
step kernel (Eq. 28/31) is inconsistent with the marginal (Eq. 25/29) and Eq. 34 has a sign error; we implement a
posterior that is exact for the marginal, with a coupling choice. The prior uses ``kappa^2 eta_T`` (ResShift)
where Eq. 6 prints ``kappa^2``; ``eta_T = 0.98`` so the two nearly agree.
"""
import math
from typing import Any, Callable, List, Mapping, Optional, Tuple, Union

import torch

from seeclear_arch.diffusion.patch_dct import GainFn, patch_eigenvalues, patch_filter
from seeclear_arch.diffusion.schedules import blur_tau_schedule, resshift_eta_schedule

TimeLike = Union[int, torch.Tensor]
DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
COUPLINGS = ('resshift', 'markov')
NOISE_MODES = ('iid', 'shared')


def _bcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(B,)`` float64 coefficients -> ``(B, 1, ..., 1)`` in ``x``'s dtype, ready to multiply ``x``."""
    return v.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def _randn_like(x: torch.Tensor, generator: Optional[torch.Generator], shared: bool = False) -> torch.Tensor:
    """Standard normal noise like ``x``; ``shared``: one draw per clip, the same for all frames of
    ``(B, m, C, H, W)`` clips (each frame's noise is still standard normal)."""
    if shared and x.dim() == 5:
        one = torch.randn((x.shape[0], 1, *x.shape[2:]), generator=generator, device=x.device, dtype=x.dtype)
        return one.expand(x.shape).contiguous()
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


class BlurringResShift:
    """Stateless Blurring ResShift process: schedules, forward marginal, posterior and sampler.

    Holds no network and no mutable state; schedules are float64 CPU tensors indexed at use and moved to the
    input's device, and every result follows the input's device and dtype. Inputs are ``(B, ..., C, H, W)``
    (typically ``(B, m, C, H, W)`` clips); ``t`` / ``s`` are ``(B,)`` integer tensors (or ints) in ``0..T``.

    Args (the yml keys):
        num_timesteps (int): ``T``. Default 15.
        kappa (float): noise scale. Default 2.0.
        power (float): warp of ResShift's ``sqrt(eta)`` grid. Default 0.3.
        min_noise_level (float): ``sqrt(eta_1) = min(min_noise_level / kappa, min_noise_level)``. Default 0.04.
        etas_end (float): ``sqrt(eta_T)``. Default 0.99.
        blur_sigma2 (float): ``sigma_B^2``, blur variance (pixels^2) at ``t = T``; 0 disables blur and gives
            ResShift exactly. Default 2.0 (paper's best, Table 4).
        blur_sigma_min (float): blur width ``sigma_1`` (pixels) at ``t = 1``, as in IHDM. Default 0.5.
        patch_size (int): ``p`` of the patch DCT. Default 8.
        coupling (str): ``'resshift'`` (posterior with ``c = 1``) or ``'markov'`` (``c = a_t / a_s``, the
            paper's Markov kernel with corrected variance). Default ``'resshift'``.
        value_range (pair of floats): the range the process runs in; frames in [0, 1] are mapped affinely to it
            by :meth:`to_range` and back by :meth:`from_range`. ResShift's ``kappa = 2`` is defined for images in
            [-1, 1] (noise std ``2 * 0.99`` on a range of 2 at ``t = T``); on [0, 1] the relative noise would
            double. Default (-1, 1). (yml: the experiment's top-level ``diffusion_range``.)
        input_scaling (bool): ResShift's input normalisation, :meth:`scale_model_input`. Default True.
            (yml: ``diffusion_input_scaling``.)
        noise (str): how the noise of a ``(B, m, C, H, W)`` clip is drawn, in training (:meth:`q_sample`) and
            sampling (:meth:`prior_sample`, :meth:`p_step`): ``'iid'`` independent for every frame (the paper), or
            ``'shared'``: one noise image per draw for all the frames of a clip, so static content gets the same
            perturbation in every frame; each frame's marginal is unchanged. The sampling engine also repeats the
            draws from clip to clip for ``'shared'`` (``seeclear_arch.sampling.engine``). Default ``'iid'``.

    Parametrisation, as ResShift's ``_scale_input`` and diffusers' ``scale_model_input``: the process owns the
    value range and what the network sees; the sampler and ``q_sample`` work on states in ``value_range``.
    """

    def __init__(self,
                 num_timesteps: int = 15,
                 kappa: float = 2.0,
                 power: float = 0.3,
                 min_noise_level: float = 0.04,
                 etas_end: float = 0.99,
                 blur_sigma2: float = 2.0,
                 blur_sigma_min: float = 0.5,
                 patch_size: int = 8,
                 coupling: str = 'resshift',
                 value_range: Tuple[float, float] = (-1.0, 1.0),
                 input_scaling: bool = True,
                 noise: str = 'iid') -> None:
        if coupling not in COUPLINGS:
            raise ValueError(f'coupling must be one of {COUPLINGS}, got {coupling!r}')
        if noise not in NOISE_MODES:
            raise ValueError(f'diffusion.noise must be one of {NOISE_MODES}, got {noise!r}')
        self.noise = noise
        if patch_size < 1:
            raise ValueError(f'patch_size must be >= 1, got {patch_size}')
        self.num_timesteps = int(num_timesteps)
        self.kappa = float(kappa)
        self.blur_sigma2 = float(blur_sigma2)
        self.patch_size = int(patch_size)
        self.coupling = coupling
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f'value_range must be [low, high] with high > low, got {list(value_range)}')
        self.range_low, self.range_span = low, high - low
        self.input_scaling = bool(input_scaling)
        zero = torch.zeros(1, dtype=torch.float64)
        etas = resshift_eta_schedule(num_timesteps, kappa, power, min_noise_level, etas_end)
        taus = blur_tau_schedule(num_timesteps, blur_sigma2, blur_sigma_min)
        self.etas = torch.cat([zero, etas])  # (T + 1,), index 0 = clean
        self.taus = torch.cat([zero, taus])  # (T + 1,), tau_t = sigma_t^2 / 2
        self.has_blur = self.blur_sigma2 > 0

    @classmethod
    def from_opt(cls, opt: Mapping[str, Any]) -> 'BlurringResShift':
        """Build from a yml section; a ``type`` key is ignored, unknown keys are an error."""
        return cls(**{k: v for k, v in opt.items() if k != 'type'})

    def __repr__(self) -> str:
        high = self.range_low + self.range_span
        return (f'{type(self).__name__}(T={self.num_timesteps}, kappa={self.kappa}, '
                f'blur_sigma2={self.blur_sigma2}, patch_size={self.patch_size}, coupling={self.coupling!r}, '
                f'value_range=[{self.range_low:g}, {high:g}], input_scaling={self.input_scaling}, '
                f'noise={self.noise!r})')

    # ---------------------------------------------------------------------------------- parametrisation
    def to_range(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] frames -> the process's ``value_range``."""
        return x * self.range_span + self.range_low

    def from_range(self, u: torch.Tensor) -> torch.Tensor:
        """``value_range`` -> [0, 1] frames (not clamped)."""
        return (u - self.range_low) / self.range_span

    def scale_model_input(self, u_t: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """The state as the network sees it: ``u_t / sqrt(kappa^2 eta_t + 1)`` with ``input_scaling`` (ResShift's
        ``normalize_input``: unit-ish variance at every step), else ``u_t``. ``t`` may be a float tensor."""
        if not self.input_scaling:
            return u_t
        std = torch.sqrt(self.kappa ** 2 * self._eta(self._index(t, u_t)) + 1)  # (B,) float64
        return u_t / _bcast(std, u_t)

    @property
    def sqrt_etas(self) -> torch.Tensor:
        return self.etas.sqrt()

    @property
    def sigmas_blur(self) -> torch.Tensor:
        """Blur widths ``sigma_t = sqrt(2 tau_t)`` in pixels, ``(T + 1,)``."""
        return (2 * self.taus).sqrt()

    # ----------------------------------------------------------------------------------------- indexing
    def _index(self, t: TimeLike, x: torch.Tensor) -> torch.Tensor:
        """``t`` as a ``(B,)`` long tensor on ``x``'s device, range-checked against ``0..T``."""
        t = torch.as_tensor(t, device=x.device)
        if t.is_floating_point() and not torch.equal(t, t.round()):
            raise ValueError('time steps must be integers')
        t = t.long().expand(x.shape[0]) if t.dim() == 0 else t.to(torch.long)
        if t.shape != (x.shape[0], ):
            raise ValueError(f'expected t of shape ({x.shape[0]},), got {tuple(t.shape)}')
        if bool(((t < 0) | (t > self.num_timesteps)).any()):  # one host sync per call
            raise ValueError(f'time steps must lie in 0..{self.num_timesteps}')
        return t

    def _eta(self, t: torch.Tensor) -> torch.Tensor:
        return self.etas.to(t.device)[t]  # (B,) float64

    def _tau(self, t: torch.Tensor) -> torch.Tensor:
        return self.taus.to(t.device)[t]

    # ------------------------------------------------------------------------------ per-frequency gains
    def blur_gain(self, t: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """``d_t = exp(lam * tau_t)`` (Eq. 1 / 22), ``(B, ph, pw)`` for a ``(B,)`` long ``t``."""
        return torch.exp(lam.to(torch.float64)[None] * self._tau(t).to(lam.device)[:, None, None])

    def signal_gain(self, t: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """``a_t = (1 - eta_t) d_t`` (Eq. 25), ``(B, ph, pw)``."""
        return (1 - self._eta(t).to(lam.device))[:, None, None] * self.blur_gain(t, lam)

    def coupling_gain(self, t: torch.Tensor, s: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """Coupling ``c`` between ``u_s - m_s`` and ``u_t - m_t``, ``(B, ph, pw)``.

        ``'resshift'``: ``c = 1``. ``'markov'``: ``c = a_t / a_s``, clamped to ``c^2 <= eta_t / eta_s`` so the
        implied forward kernel has non-negative variance ``kappa^2 (eta_t - c^2 eta_s)``; with increasing
        ``eta`` and ``tau`` the clamp is inactive (``c <= 1 < eta_t / eta_s``) and only guards custom schedules.
        """
        if self.coupling == 'resshift':
            return torch.ones(t.shape[0], *lam.shape, dtype=torch.float64, device=lam.device)
        c = self.signal_gain(t, lam) / self.signal_gain(s, lam)
        ratio = self._eta(t) / self._eta(s)  # inf where s = 0: no clamp needed there
        return torch.minimum(c, ratio.sqrt().to(lam.device)[:, None, None])

    def posterior_variance(self, t: torch.Tensor, s: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """``kappa^2 eta_s (1 - c^2 eta_s / eta_t)`` per frequency, ``(B, ph, pw)``; 0 where ``s = 0``."""
        eta_t, eta_s = self._eta(t).to(lam.device), self._eta(s).to(lam.device)
        c = self.coupling_gain(t, s, lam)
        ratio = (eta_s / eta_t)[:, None, None]
        var = self.kappa**2 * eta_s[:, None, None] * (1 - c**2 * ratio)
        return var.clamp_min(0)  # rounding only: c^2 eta_s / eta_t <= 1 by construction

    @property
    def _freq_uniform(self) -> bool:
        """Whether coupling and posterior variance are the same for every frequency (no transform needed)."""
        return self.coupling == 'resshift' or not self.has_blur

    @staticmethod
    def _lam0(t: torch.Tensor) -> torch.Tensor:
        """A 1 x 1 eigenvalue grid, for gains that do not depend on the frequency."""
        return torch.zeros(1, 1, dtype=torch.float64, device=t.device)

    def _filter(self, x: torch.Tensor, gain_fn: GainFn) -> torch.Tensor:
        return patch_filter(x, gain_fn, self.patch_size)

    # ------------------------------------------------------------------------------------ forward process
    def blur(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """``D_t x`` in pixel space (Eq. 1 / 22): heat-equation blur of each patch for time ``tau_t``.

        In the patch DCT the Neumann heat equation ``du/dtau = Laplacian u`` is diagonal with eigenvalues
        ``lam``, so ``u(tau) = exp(lam tau) u(0)``, a Gaussian blur of variance ``2 tau`` inside each patch.
        """
        t = self._index(t, x)
        if not self.has_blur:
            return x
        return self._filter(x, lambda lam: self.blur_gain(t, lam))

    def unblur(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """``D_t^{-1} x``: exact inverse of :meth:`blur` (``d_t > 0``); ill-conditioned for large ``tau_t``."""
        t = self._index(t, x)
        if not self.has_blur:
            return x
        return self._filter(x, lambda lam: 1 / self.blur_gain(t, lam))

    def _signal(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``a_t x0`` in pixel space for an indexed ``t``."""
        if not self.has_blur:  # a_t is a scalar: skip the transform so sigma_B = 0 is ResShift bit for bit
            return _bcast(1 - self._eta(t), x0) * x0
        return self._filter(x0, lambda lam: self.signal_gain(t, lam))

    def q_mean(self, x0: torch.Tensor, y: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """Marginal mean ``m_t = (1 - eta_t) D_t x0 + eta_t y`` (Eq. 25 / 29, with ``e_t`` of Eq. 26 expanded)."""
        t = self._index(t, x0)
        return self._signal(x0, t) + _bcast(self._eta(t), y) * y

    def q_sample(self,
                 x0: torch.Tensor,
                 y: torch.Tensor,
                 t: TimeLike,
                 noise: Optional[torch.Tensor] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Draw ``u_t ~ q(u_t | x0, y)`` (Eq. 25): ``u_t = a_t x0 + eta_t y + kappa sqrt(eta_t) eps``.

        The noise is isotropic (covariance ``kappa^2 eta_t E``, Eq. 29), hence drawn directly in pixel space.
        ``t = 0`` returns ``x0``.
        """
        t = self._index(t, x0)
        noise = self._noise_like(x0, generator) if noise is None else noise
        return self.q_mean(x0, y, t) + _bcast(self.kappa * self._eta(t).sqrt(), noise) * noise

    def prior_sample(self, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``u_T = y + kappa sqrt(eta_T) eps`` (Eq. 6 with ResShift's variance ``kappa^2 eta_T``).

        Drops the ``a_T x0`` term of the true marginal (``1 - eta_T ~ 0.02``), as ResShift does.
        """
        return y + self.kappa * math.sqrt(self.etas[-1].item()) * self._noise_like(y, generator)

    def _noise_like(self, x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        """The process's noise for a state like ``x`` (see ``noise``)."""
        return _randn_like(x, generator, shared=self.noise == 'shared')

    def sample_t(self,
                 batch_size: int,
                 device: Optional[torch.device] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Training time steps, uniform on ``{1..T}``, ``(B,)`` long."""
        return torch.randint(1, self.num_timesteps + 1, (batch_size, ), generator=generator, device=device)

    # ------------------------------------------------------------------------------------------- posterior
    def _check_pair(self, t: TimeLike, s: TimeLike, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        t, s = self._index(t, x), self._index(s, x)
        if bool((s >= t).any()):
            raise ValueError('posterior needs s < t elementwise')
        return t, s

    def posterior_mean_variance(self, x0: torch.Tensor, u_t: torch.Tensor, y: torch.Tensor, t: TimeLike,
                                s: TimeLike) -> Tuple[torch.Tensor, torch.Tensor]:
        """``q(u_s | u_t, x0, y)`` for any ``0 <= s < t`` that is exact for the marginal (replaces Eqs. 30-36).

        Derivation, per frequency. Any forward kernel consistent with the marginal has the form
        ``u_t - m_t = c (u_s - m_s) + kappa sqrt(eta_t - c^2 eta_s) xi`` with ``c^2 <= eta_t / eta_s``, so
        ``Cov(u_s, u_t) = c kappa^2 eta_s`` and ``Var(u_t) = kappa^2 eta_t``. Gaussian conditioning gives::

            mean = m_s + c (eta_s / eta_t) (u_t - m_t)
            var  = kappa^2 eta_s (1 - c^2 eta_s / eta_t)

        * ``coupling='resshift'``, ``c = 1``: kernel ``u_t = u_s + (m_t - m_s) + kappa sqrt(eta_t - eta_s) xi``,
          ResShift's ``x_t = x_{t-1} + alpha_t e_0 + kappa sqrt(alpha_t) xi`` with blur; without blur the
          posterior is ResShift's ``(eta_s/eta_t) u_t + ((eta_t - eta_s)/eta_t) x0``, var
          ``kappa^2 eta_s (eta_t - eta_s) / eta_t``. Its variance is the same for all frequencies.
        * ``coupling='markov'``, ``c = a_t / a_s``: then ``m_t - c m_s = (eta_t - c eta_s) y`` and ``x0``
          drops out of the kernel, ``u_t = c (u_s - eta_s y) + eta_t y + noise``: the paper's Markov kernel
          (Eq. 28 / 31, ``lambda = c`` for ``s = t - 1``), but with variance ``kappa^2 (eta_t - lambda^2 eta_s)``.
          The printed ``kappa^2 alpha_t`` would give a marginal variance ``kappa^2 (lambda^2 eta_{t-1} +
          alpha_t) != kappa^2 eta_t`` (Eq. 29). With the corrected variance, Eqs. 34-35 reduce to ours;
          Eq. 34's ``- alpha_t eta_{t-1}`` coefficient of ``u_l`` is ``+`` by its own Eqs. 31-32. Even at
          ``sigma_B = 0`` this is not ResShift's posterior (``c = (1 - eta_t)/(1 - eta_s) != 1``).

        Returns:
            ``mean`` like ``u_t`` (pixels) and ``var`` of shape ``(B, p, p)``: the variance of each frequency
            of a full ``p x p`` patch (shorter edge patches use their own eigenvalues, see :meth:`p_step`).
        """
        t, s = self._check_pair(t, s, u_t)
        mean = self.q_mean(x0, y, s)
        gap = u_t - self.q_mean(x0, y, t)
        scale = self._eta(s) / self._eta(t)
        if self._freq_uniform:
            mean = mean + _bcast(scale * self.coupling_gain(t, s, self._lam0(t))[:, 0, 0], gap) * gap
        else:
            mean = mean + self._filter(gap, lambda lam: scale.to(lam.device)[:, None, None] *
                                       self.coupling_gain(t, s, lam))
        lam = patch_eigenvalues(self.patch_size, self.patch_size, device=u_t.device)
        return mean, self.posterior_variance(t, s, lam).to(u_t.dtype)

    def p_step(self,
               x0_hat: torch.Tensor,
               u_t: torch.Tensor,
               y: torch.Tensor,
               t: TimeLike,
               s: TimeLike,
               generator: Optional[torch.Generator] = None,
               noise: Optional[torch.Tensor] = None,
               noise_scale: float = 1.0) -> torch.Tensor:
        """One reverse step ``u_s ~ q(u_s | u_t, x0 = x0_hat, y)`` (Eq. 5's kernel with the predicted ``x0``).

        ``s = 0`` has zero variance and returns ``x0_hat``. For ``'resshift'`` (or no blur) the variance is
        uniform, so pixel noise is scaled directly; for ``'markov'`` it differs per frequency, so isotropic pixel
        noise (equal in law to isotropic DCT noise) is filtered by ``sqrt(var)`` in the patch DCT.
        ``noise_scale`` multiplies the posterior's standard deviation (1: the exact posterior; 0: its mean, a
        deterministic step; values below 1 leave the model's marginals, a trade of diversity for steadiness).
        """
        t, s = self._check_pair(t, s, u_t)
        mean, var = self.posterior_mean_variance(x0_hat, u_t, y, t, s)
        if not bool((s > 0).any()) or noise_scale == 0:
            return mean
        noise = self._noise_like(u_t, generator) if noise is None else noise
        if noise_scale != 1:
            noise = noise * noise_scale
        if self._freq_uniform:
            std = self.posterior_variance(t, s, self._lam0(t))[:, 0, 0].sqrt()
            return mean + _bcast(std, noise) * noise
        return mean + self._filter(noise, lambda lam: self.posterior_variance(t, s, lam).sqrt())

    # --------------------------------------------------------------------------------------------- sampler
    def timesteps(self, num_steps: Optional[int] = None) -> List[int]:
        """Decreasing steps ``T = t_0 > ... > t_{n-1} = 1`` evenly spaced in ``{T..1}`` (``[T]`` if ``n = 1``)."""
        n = self.num_timesteps if num_steps is None else int(num_steps)
        if not 1 <= n <= self.num_timesteps:
            raise ValueError(f'num_steps must lie in 1..{self.num_timesteps}, got {n}')
        if n == 1:
            return [self.num_timesteps]
        span = (self.num_timesteps - 1) / (n - 1)  # >= 1, so rounding keeps the steps distinct
        return [int(math.floor(self.num_timesteps - i * span + 0.5)) for i in range(n)]

    def sample(self,
               denoise_fn: DenoiseFn,
               y: torch.Tensor,
               generator: Optional[torch.Generator] = None,
               num_steps: Optional[int] = None,
               return_all: bool = False,
               noise_scale: float = 1.0) -> Union[torch.Tensor, Tuple[torch.Tensor, List[torch.Tensor],
                                                                       List[torch.Tensor]]]:
        """Reverse process (Eq. 5): ``u_T`` from the prior, then posterior steps with ``x0_hat``.

        Args:
            denoise_fn: ``(u_t, t) -> x0_hat`` with ``t`` a ``(B,)`` float tensor of step indices in ``1..T``.
            y: conditioning frames ``(B, ..., C, H, W)``.
            generator: drives all noise (prior and steps); results follow ``y``'s device and dtype.
            num_steps: number of network calls, steps from :meth:`timesteps`; default ``T``.
            return_all: also return the states ``[u_T, ..., u_0]`` and the predictions ``x0_hat``.
            noise_scale: posterior standard deviation multiplier of every step (:meth:`p_step`).
        """
        steps = self.timesteps(num_steps)
        u = self.prior_sample(y, generator)
        states, preds = [u], []
        for i, t_int in enumerate(steps):
            s_int = steps[i + 1] if i + 1 < len(steps) else 0
            t = torch.full((y.shape[0], ), t_int, dtype=torch.long, device=y.device)
            x0_hat = denoise_fn(u, t.to(y.dtype))
            u = self.p_step(x0_hat, u, y, t, torch.full_like(t, s_int), generator, noise_scale=noise_scale)
            states.append(u)
            preds.append(x0_hat)
        return (u, states, preds) if return_all else u
