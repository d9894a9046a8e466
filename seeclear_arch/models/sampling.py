"""The sampling engine: one clip (:func:`sample_clip`) and one sequence (:func:`sample_sequence`), Algorithm 1.

Everything that samples goes through here: ``SeeClearModel.test`` (validation and ``seeclear_arch.test``), user-video
inference (``seeclear_arch.inference``) and the benchmarks.

A sequence of ``N`` LR frames is cut into non-overlapping clips of ``m`` frames, the tail clip padded by mirroring
and trimmed (:func:`~seeclear_arch.models.clip_utils.split_clips`). The network's memory is reset once; then per
clip (Alg. 1 l. 4-45): ``encode_condition`` once, the process's sampler with ``T`` (or ``num_steps``) network calls,
the last one through ``final_step``, which also returns the memory built from that step's decoder features, and
``end_clip`` to carry it to the next clip (skipped with ``carry=False``, the ablation ``val.carry_memory: false``).
One generator, seeded once per sequence, drives all noise clip after clip, so cutting the sequence into chunks
(``clips_per_chunk``) gives exactly the frames of a whole-sequence run.
"""
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from seeclear_arch.archs.denoiser import call_hook, final_step
from seeclear_arch.diffusion import BlurringResShift
from seeclear_arch.models.clip_utils import split_clips

Clip = Tuple[List[int], int]  # (frame indices, number of valid outputs), as returned by ``split_clips``
ConditionFn = Callable[[torch.Tensor], torch.Tensor]  # LR frames (B, n, C, h, w) -> y (B, n, C, H, W), [0, 1]
ReadFn = Callable[[Sequence[int]], torch.Tensor]  # frame indices -> LR frames (1, n, C, h, w), [0, 1]


def sample_clip(net: nn.Module, process: BlurringResShift, lq: torch.Tensor, y: torch.Tensor,
                generator: torch.Generator, num_steps: Optional[int] = None, carry: bool = True) -> torch.Tensor:
    """Sample one clip: LR ``lq`` ``(B, m, C, h, w)`` and condition ``y`` ``(B, m, C, H, W)`` in [0, 1] -> HR frames
    in [0, 1]. The process owns the value range and the network's input scaling."""
    y = process.to_range(y)
    cond = call_hook(net, 'encode_condition', lq, y)
    last = process.timesteps(num_steps)[-1]
    update = None

    def denoise_fn(u_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        nonlocal update
        u_in = process.scale_model_input(u_t, t)
        if int(t[0]) == last:  # Alg. 1 l. 43: the final step also yields the next clip's memory
            x0_hat, update = final_step(net, u_in, y, lq, t, cond)
            return x0_hat
        return net(u_in, y, lq, t) if cond is None else net(u_in, y, lq, t, cond)

    out = process.sample(denoise_fn, y, generator=generator, num_steps=num_steps)
    if carry:
        call_hook(net, 'end_clip', update)
    return process.from_range(out).clamp(0, 1)


def plan_chunks(num_frames: int, clip_len: int, clips_per_chunk: int = 0) -> List[List[Clip]]:
    """The clips of the whole sequence (``split_clips``) grouped ``clips_per_chunk`` at a time (all if 0)."""
    clips = split_clips(num_frames, clip_len)
    per_chunk = clips_per_chunk or len(clips)
    return [clips[i:i + per_chunk] for i in range(0, len(clips), per_chunk)]


@torch.no_grad()
def sample_sequence(net: nn.Module, process: BlurringResShift, read_frames: ReadFn, num_frames: int, clip_len: int,
                    condition: ConditionFn, seed: int = 0, num_steps: Optional[int] = None, carry: bool = True,
                    clips_per_chunk: int = 0, device: Optional[torch.device] = None,
                    progress: Optional[Callable[[int], None]] = None) -> Iterator[Tuple[int, torch.Tensor]]:
    """Yield ``(first frame index, HR frames (1, n, C, H, W) in [0, 1])`` chunk by chunk (see the module docstring).

    Args:
        net: the denoiser, in eval mode.
        process: the diffusion process (sampler, value range, input scaling).
        read_frames: LR frames for a list of indices, ``(1, n, C, h, w)`` in [0, 1] (read once per chunk).
        num_frames, clip_len: ``N`` and ``m``.
        condition: ``y`` for the LR frames of a chunk (bicubic, or a frozen base network).
        seed: seeds the one generator of the sequence (on ``device``).
        num_steps: sampler steps (default ``T``).
        carry: carry the memory from clip to clip (Alg. 1 l. 44).
        clips_per_chunk: clips per yielded chunk; 0 yields the whole sequence at once.
        device: where the network runs (default: the device of its first parameter).
        progress: called with the number of frames finished after each clip.
    """
    device = device or next(net.parameters()).device
    generator = torch.Generator(device=device).manual_seed(int(seed))
    call_hook(net, 'reset_memory')
    start = 0
    for clips in plan_chunks(num_frames, clip_len, clips_per_chunk):
        needed = sorted({i for indices, _ in clips for i in indices})
        local = {frame: k for k, frame in enumerate(needed)}
        lq = read_frames(needed).to(device)
        y = condition(lq)
        outputs = []
        for indices, num_valid in clips:
            idx = torch.as_tensor([local[i] for i in indices], device=device)
            outputs.append(sample_clip(net, process, lq[:, idx], y[:, idx], generator, num_steps, carry)[:, :num_valid])
            if progress is not None:
                progress(num_valid)
        frames = torch.cat(outputs, dim=1)
        yield start, frames
        start += frames.size(1)
