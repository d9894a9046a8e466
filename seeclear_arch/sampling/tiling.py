"""Spatial tiles for the sampling engine: the tile grid, the blending window and ``--tile auto``.

A frame too large for memory is sampled as overlapping LR tiles (``val.tile`` / ``--tile``, in LR pixels, and
``val.tile_overlap`` / ``--tile-overlap``). The engine (``seeclear_arch.sampling.engine``) steps ALL tiles
through each diffusion step together: per step, one network call per tile, the tiles' ``x0_hat`` (HR) blended
into one frame with a smooth window (:func:`blend_window`), then ONE posterior step on the whole frame. So the prior
and every step's noise are drawn once per frame and every tile sees the same noise where tiles overlap, and the
patch-DCT blur of the process (8x8 HR patches) runs on the whole frame. Tile origins are multiples of ``align`` LR
pixels (2 at x4: 8 HR pixels), so each tile's patches are patches of the frame.

The window is a raised cosine (Hann) ramp over each side's overlap with its neighbour and 1 elsewhere, normalised
by the sum of the windows, as in the Gaussian/cosine tile blending of MultiDiffusion (Bar-Tal et al., 2023) and
Tiled VAE/StableSR's tiled sampling (Wang et al., 2023): the two ramps of an overlap sum to 1, so a smooth
prediction is reproduced and seams are feathered over the overlap.
"""
import dataclasses
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch

from seeclear_arch.sampling.cpu_memory import release_freed_memory

DEFAULT_OVERLAP = 8  # LR pixels (32 HR pixels at x4)
MIN_TILE = 16  # the smallest tile --tile auto tries (LR pixels)


@dataclass(frozen=True)
class Tile:
    """One LR tile ``[top, bottom) x [left, right)`` of a frame."""

    top: int
    bottom: int
    left: int
    right: int

    def lr(self) -> Tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def hr(self, scale: int) -> Tuple[slice, slice]:
        return slice(self.top * scale, self.bottom * scale), slice(self.left * scale, self.right * scale)


def tile_align(scale: int, patch: int = 8) -> int:
    """LR alignment of tile origins so that HR origins fall on the process's ``patch``-pixel DCT grid."""
    return max(1, patch // math.gcd(patch, scale))


def check_tiling(tile: int, overlap: int) -> None:
    """Raise naming ``tile`` / ``tile_overlap`` when they are not usable (0 tile = off)."""
    if not isinstance(tile, int) or tile < 0:
        raise ValueError(f'tile (val.tile / --tile) must be 0 (off) or a positive number of LR pixels, got {tile!r}.')
    if not isinstance(overlap, int) or overlap < 0 or (tile and overlap >= tile):
        raise ValueError(f'tile_overlap (val.tile_overlap / --tile-overlap) must be >= 0 and smaller than the tile '
                         f'({tile}), got {overlap!r}.')


def _starts(size: int, tile: int, overlap: int, align: int) -> List[int]:
    """Tile origins along one axis: as few tiles as keep consecutive tiles overlapping by at least ``overlap``,
    spread evenly, origins rounded down to multiples of ``align``, the last tile ending at ``size``."""
    if tile >= size:
        return [0]
    span = size - tile  # the last origin before alignment
    stride = max(1, tile - overlap - (align - 1))  # rounding an origin down may widen a gap by align - 1
    num = -(-span // stride) + 1
    return sorted({round(i * span / (num - 1)) // align * align for i in range(num)})


def plan_tiles(size: Tuple[int, int], tile: int, overlap: int = DEFAULT_OVERLAP, align: int = 2) -> List[Tile]:
    """The LR tiles of an ``(h, w)`` frame, row-major; one tile covering the frame when ``tile`` is 0 or at least
    the frame. Each tile spans ``tile`` pixels (the last of a row/column up to ``align - 1`` more)."""
    check_tiling(tile, overlap)
    h, w = size
    if tile == 0:
        return [Tile(0, h, 0, w)]
    rows, cols = _starts(h, tile, overlap, align), _starts(w, tile, overlap, align)
    spans_y = [(s, min(s + tile, h)) for s in rows[:-1]] + [(rows[-1], h)]
    spans_x = [(s, min(s + tile, w)) for s in cols[:-1]] + [(cols[-1], w)]
    return [Tile(t, b, le, r) for t, b in spans_y for le, r in spans_x]


def _ramp(length: int, before: int, after: int) -> torch.Tensor:
    """1-D window: a raised-cosine ramp up over the first ``before`` samples, down over the last ``after``."""
    win = torch.ones(length, dtype=torch.float64)
    for n, sl in ((before, slice(0, before)), (after, slice(length - after, length))):
        if n:
            pos = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # in (0, 1): the window never reaches 0
            ramp = torch.sin(pos * math.pi / 2) ** 2
            win[sl] = win[sl] * (ramp if sl.start == 0 else ramp.flip(0))
    return win


def _overlaps(spans: Sequence[Tuple[int, int]], k: int) -> Tuple[int, int]:
    """Overlap of span ``k`` with the previous and the next span along its axis."""
    start, end = spans[k]
    before = max(0, spans[k - 1][1] - start) if k > 0 else 0
    after = max(0, end - spans[k + 1][0]) if k + 1 < len(spans) else 0
    return before, after


def blend_window(tiles: Sequence[Tile], index: int, scale: int) -> torch.Tensor:
    """The HR window ``(H_tile, W_tile)`` (float32) of ``tiles[index]``: ramps over its overlaps, 1 elsewhere."""
    tile = tiles[index]
    rows = sorted({(t.top, t.bottom) for t in tiles})
    cols = sorted({(t.left, t.right) for t in tiles})
    up, down = _overlaps(rows, rows.index((tile.top, tile.bottom)))
    left, right = _overlaps(cols, cols.index((tile.left, tile.right)))
    wy = _ramp((tile.bottom - tile.top) * scale, up * scale, down * scale)
    wx = _ramp((tile.right - tile.left) * scale, left * scale, right * scale)
    return (wy[:, None] * wx[None, :]).float()


class TileBlender:
    """Accumulates tiles' HR predictions ``(B, m, C, h_t, w_t)`` into one frame, normalised by the window sum."""

    def __init__(self, tiles: Sequence[Tile], scale: int, like: torch.Tensor):
        self.tiles, self.scale = list(tiles), scale
        self.windows = [blend_window(self.tiles, k, scale).to(like.device) for k in range(len(self.tiles))]
        self.norm = torch.zeros(like.shape[-2:], dtype=torch.float32, device=like.device)
        for tile, win in zip(self.tiles, self.windows):
            self.norm[tile.hr(scale)] += win
        self.like = like

    def blend(self, preds: Sequence[torch.Tensor]) -> torch.Tensor:
        out = torch.zeros(self.like.shape, dtype=torch.float32, device=self.like.device)
        for tile, win, pred in zip(self.tiles, self.windows, preds):
            out[(..., *tile.hr(self.scale))] += pred.float() * win
        return out / self.norm


# ------------------------------------------------------------------------------------------- --tile auto
@dataclass
class MemoryModel:
    """Peak memory of sampling a clip, in bytes: ``fixed + per_pixel * tile HR pixels * m + frame buffers``.

    ``fixed``: the process before sampling (weights, reader); ``per_pixel``: one network call's activations per HR
    pixel of a frame, measured by :func:`seeclear_arch.sampling.engine.probe_network_call`; frame buffers: the
    full-frame float32 tensors the engine keeps per clip (condition, state, blended ``x0_hat``, posterior
    terms, output: ``FRAME_BUFFERS`` of them).
    """

    fixed: float
    per_pixel: float
    scale: int
    clip_len: int
    chunk_len: int = 0  # frames per chunk (the chunk's condition and outputs are kept whole); 0: clip_len
    cond_per_pixel: float = 0.0  # bytes of one tile's per-clip condition (encode_condition) per HR pixel and frame
    overlap: int = DEFAULT_OVERLAP  # LR overlap of the tiles (their number sets how many conditions are held)
    align: int = 2

    FRAME_BUFFERS = 10

    def peak(self, frame: Tuple[int, int], tile: int) -> float:
        h, w = frame
        tiles = plan_tiles(frame, tile, min(self.overlap, tile - 1) if tile else 0, self.align)
        areas = [(t.bottom - t.top) * (t.right - t.left) for t in tiles]
        hr = self.scale ** 2
        frames = self.FRAME_BUFFERS * self.clip_len + 2 * (self.chunk_len or self.clip_len)
        # the engine keeps every tile's condition for the whole clip; the largest tile's is inside per_pixel
        conds = self.cond_per_pixel * (sum(areas) - max(areas)) * hr * self.clip_len
        return self.fixed + self.per_pixel * max(areas) * hr * self.clip_len + conds + frames * 3 * 4 * h * w * hr


def choose_tile(frame: Tuple[int, int], budget_bytes: float, peak: Callable[[Tuple[int, int], int], float],
                align: int = 2, min_tile: int = MIN_TILE) -> int:
    """The largest tile (LR pixels, a multiple of ``align``) whose estimated ``peak(frame, tile)`` fits
    ``budget_bytes``; 0 (no tiles) when the whole frame fits. Raises naming ``--max-memory`` if none fits.

    Every multiple of ``align`` is tried, not a bisection: the estimate is not monotonic in the tile, because the
    per-clip conditions held for every tile grow again for small tiles (more tiles, more overlap)."""
    h, w = frame
    if peak(frame, 0) <= budget_bytes:
        return 0
    lo, hi = max(align, min_tile // align * align), max(align, max(h, w) // align * align)
    estimates = {tile: peak(frame, tile) for tile in range(lo, hi + 1, align)}
    fitting = [tile for tile, need in estimates.items() if need <= budget_bytes]
    if fitting:
        return max(fitting)
    best = min(estimates, key=estimates.get)
    raise ValueError(f'--max-memory {budget_bytes / 2**30:.2f} GiB is too small: the smallest estimate for a {h}x{w} '
                     f'LR frame, with {best}-pixel tiles, is about {estimates[best] / 2**30:.2f} GiB.')


def parse_tile(text: str) -> Optional[int]:
    """``--tile``: ``auto`` -> None, else a non-negative int."""
    if text == 'auto':
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f'--tile must be a number of LR pixels (0 = off) or auto, got {text!r}.') from None
    check_tiling(value, 0)
    return value


def current_rss() -> int:
    """Resident memory of this process in bytes (``/proc/self/statm``; 0 where there is none)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


def measure_peak(fn: Callable[[], Any], device: torch.device, interval: float = 0.002) -> int:
    """Peak memory ``fn()`` adds, in bytes: ``torch.cuda.max_memory_allocated`` on CUDA, else the process's RSS
    sampled every ``interval`` seconds by a thread (above the RSS before the call, once freed memory the process
    kept is handed back)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    release_freed_memory()  # kept freed blocks would be reused without adding RSS (seeclear_arch.sampling.cpu_memory)
    before, peak, done = current_rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], current_rss())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(0, max(peak[0], current_rss()) - before)


def fit_memory_model(probe: Callable[[int], int], sizes: Tuple[int, int], scale: int, clip_len: int,
                     fixed: float, chunk_len: int = 0, margin: float = 1.25,
                     cond_bytes: Optional[Callable[[int], int]] = None, overlap: int = DEFAULT_OVERLAP,
                     align: int = 2) -> MemoryModel:
    """:class:`MemoryModel` from ``probe(size)``, the peak bytes of one network call on ``size x size`` LR tiles,
    at two sizes: the per-pixel slope (times ``margin``) of the line through both; ``fixed`` the baseline.
    ``cond_bytes(size)``: the bytes of one such tile's per-clip condition, measured at the larger size."""
    small, large = sizes
    peaks = [probe(small), probe(large)]
    pixels = [s * s * scale ** 2 * clip_len for s in sizes]
    slope = max((peaks[1] - peaks[0]) / (pixels[1] - pixels[0]), peaks[1] / pixels[1])
    cond = 0.0 if cond_bytes is None else cond_bytes(large) / pixels[1] * margin
    return MemoryModel(fixed=fixed, per_pixel=slope * margin, scale=scale, clip_len=clip_len, chunk_len=chunk_len,
                       cond_per_pixel=cond, overlap=overlap, align=align)


def tensor_bytes(obj: Any) -> int:
    """Bytes of the tensors in ``obj``: a tensor, or dataclasses, lists, tuples and dicts of them."""
    if torch.is_tensor(obj):
        return obj.numel() * obj.element_size()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(tensor_bytes(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(x) for x in obj)
    if isinstance(obj, dict):
        return sum(tensor_bytes(x) for x in obj.values())
    return 0
