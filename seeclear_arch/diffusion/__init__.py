"""Blurring ResShift: schedules, patch-DCT blur, forward marginal, posterior and sampler (pure tensor math)."""
from seeclear_arch.diffusion.blurring_resshift import COUPLINGS, BlurringResShift
from seeclear_arch.diffusion.patch_dct import dct_matrix, patch_dct, patch_eigenvalues, patch_filter, patch_idct
from seeclear_arch.diffusion.schedules import blur_tau_schedule, resshift_eta_schedule

__all__ = [
    'BlurringResShift', 'COUPLINGS', 'blur_tau_schedule', 'dct_matrix', 'patch_dct', 'patch_eigenvalues',
    'patch_filter', 'patch_idct', 'resshift_eta_schedule'
]
