"""seeclear_arch.sampling.tiling: the tile grid, the blending window, --tile auto's selection and peak probe."""
import time

import pytest
import torch

from seeclear_arch.sampling.tiling import (
    MemoryModel,
    TileBlender,
    blend_window,
    choose_tile,
    fit_memory_model,
    measure_peak,
    parse_tile,
    plan_tiles,
    tensor_bytes,
    tile_align,
)


@pytest.mark.parametrize('size, tile, overlap', [((27, 48), 16, 4), ((64, 64), 20, 6), ((17, 30), 10, 0)])
def test_tiles_cover_the_frame_on_the_patch_grid_with_the_overlap(size, tile, overlap):
    tiles = plan_tiles(size, tile, overlap, align=2)
    cover = torch.zeros(size, dtype=torch.int32)
    for t in tiles:
        cover[t.lr()] += 1
        assert t.top % 2 == 0 and t.left % 2 == 0  # 8 HR pixels at x4: the DCT patches of the frame
        assert tile <= t.bottom - t.top <= tile + 1 and tile <= t.right - t.left <= tile + 1
    assert int(cover.min()) >= 1
    rows = sorted({(t.top, t.bottom) for t in tiles})
    assert all(prev[1] - nxt[0] >= overlap for prev, nxt in zip(rows, rows[1:]))


def test_a_tile_at_least_the_frame_is_one_tile():
    assert len(plan_tiles((20, 30), 30, 8)) == 1 and len(plan_tiles((20, 30), 0, 0)) == 1
    assert plan_tiles((20, 30), 64, 8)[0].hr(4) == (slice(0, 80), slice(0, 120))
    assert tile_align(4) == 2 and tile_align(2) == 4 and tile_align(8) == 1


@pytest.mark.parametrize('tile, overlap', [(-1, 0), (8, 8), (8, -2), (2.5, 0)])
def test_bad_tiling_names_the_option(tile, overlap):
    with pytest.raises(ValueError, match='tile'):
        plan_tiles((20, 30), tile, overlap)


def test_parse_tile():
    assert parse_tile('auto') is None and parse_tile('64') == 64 and parse_tile('0') == 0
    with pytest.raises(ValueError, match='--tile'):
        parse_tile('big')


def test_windows_are_smooth_partitions_of_unity():
    tiles = plan_tiles((22, 30), 14, 4)
    assert len(tiles) > 2
    norm = torch.zeros(88, 120)
    for k, t in enumerate(tiles):
        win = blend_window(tiles, k, 4)
        assert win.shape == (t.bottom * 4 - t.top * 4, t.right * 4 - t.left * 4) and float(win.min()) > 0
        assert float(win.diff(dim=1).abs().max()) < 0.1 and float(win.diff(dim=0).abs().max()) < 0.1  # no step
        norm[t.hr(4)] += win
    # two complementary raised-cosine ramps per overlap (no three tiles meet here): the windows sum to one
    assert torch.allclose(norm, torch.ones(88, 120), atol=1e-6)
    like = torch.zeros(1, 2, 3, 88, 120)
    smooth = torch.linspace(0, 1, 120).expand(1, 2, 3, 88, 120)
    blended = TileBlender(tiles, 4, like).blend([smooth[(..., *t.hr(4))] for t in tiles])
    assert torch.allclose(blended, smooth, atol=1e-6)  # a prediction that agrees across tiles is reproduced


def _peak(frame, tile):  # a synthetic memory model: 1 GiB + 2 KiB per LR pixel of a tile
    h, w = frame
    th, tw = (h, w) if tile == 0 else (min(tile, h), min(tile, w))
    return 2**30 + 2048 * th * tw


def test_choose_tile_is_the_largest_that_fits():
    frame = (270, 480)
    assert choose_tile(frame, 2**31, _peak) == 0  # the whole frame fits
    budget = 2**30 + 2048 * 100 * 100
    tile = choose_tile(frame, budget, _peak)
    assert tile % 2 == 0 and _peak(frame, tile) <= budget < _peak(frame, tile + 2)
    brute = max(t for t in range(16, 482, 2) if _peak(frame, t) <= budget)
    assert tile == brute
    with pytest.raises(ValueError, match='--max-memory'):
        choose_tile(frame, 2**30, _peak)


def test_choose_tile_when_small_tiles_need_more_memory_again():
    """With every tile's condition held, the estimate is U-shaped in the tile: the largest fitting tile is found
    even where the smallest tile does not fit, and the error names the smallest estimate."""
    def u_shaped(frame, tile):
        return 1e12 if tile == 0 else (tile - 100) ** 2  # the whole frame never fits
    frame = (270, 480)
    assert choose_tile(frame, 50 ** 2, u_shaped) == 150  # 16 does not fit, 150 does, 152 does not
    with pytest.raises(ValueError, match=r'--max-memory .* with 100-pixel tiles'):
        choose_tile(frame, -1.0, u_shaped)


def test_memory_model_fit_and_peak():
    model = fit_memory_model(lambda s: 1000 + 10 * s * s * 16 * 2, (8, 16), scale=4, clip_len=2, fixed=5e8,
                             margin=1.0)
    assert model.per_pixel == pytest.approx(10 + 1000 / (16 * 16 * 16 * 2))  # the conservative slope: no intercept
    small, large = model.peak((100, 100), 20), model.peak((100, 100), 40)
    assert 5e8 < small < large < model.peak((100, 100), 0)
    assert isinstance(model, MemoryModel)


def test_memory_model_counts_the_conditions_of_the_other_tiles():
    """The engine holds every tile's per-clip condition for the whole clip: the estimate adds all but the largest
    tile's (that one is in the per-pixel probe), and nothing untiled."""
    kwargs = dict(fixed=0.0, per_pixel=10.0, scale=4, clip_len=2, overlap=4, align=2)
    plain, held = MemoryModel(**kwargs), MemoryModel(cond_per_pixel=3.0, **kwargs)
    frame = (40, 60)
    assert held.peak(frame, 0) == plain.peak(frame, 0)
    areas = [(t.bottom - t.top) * (t.right - t.left) for t in plan_tiles(frame, 16, 4, 2)]
    assert len(areas) > 1
    assert held.peak(frame, 16) - plain.peak(frame, 16) == pytest.approx(3.0 * (sum(areas) - max(areas)) * 16 * 2)
    fitted = fit_memory_model(lambda s: 100 * s * s, (8, 16), scale=4, clip_len=2, fixed=0.0, margin=1.0,
                              cond_bytes=lambda s: 7 * s * s * 16 * 2, overlap=4)
    assert fitted.cond_per_pixel == pytest.approx(7.0) and fitted.overlap == 4


def test_tensor_bytes_walks_dataclasses_and_containers():
    from dataclasses import dataclass

    @dataclass
    class Held:
        a: torch.Tensor
        rest: list

    small = {'k': torch.zeros(1, dtype=torch.uint8)}
    held = Held(torch.zeros(2, 3), [torch.zeros(4, dtype=torch.bfloat16), small, None])
    assert tensor_bytes(held) == 2 * 3 * 4 + 4 * 2 + 1


def test_measure_peak_sees_a_temporary_allocation(monkeypatch):
    """The sampling thread catches a peak that is gone when ``fn`` returns. The RSS is simulated: a real one is not
    reliable inside a long test session (the allocator reuses pages other tests already made resident)."""
    from seeclear_arch.sampling import tiling
    rss = {'now': 100 * 2**20}
    monkeypatch.setattr(tiling, 'current_rss', lambda: rss['now'])

    def allocate():
        rss['now'] += 64 * 2**20
        time.sleep(0.05)
        rss['now'] -= 64 * 2**20

    assert measure_peak(allocate, torch.device('cpu')) == 64 * 2**20
    assert measure_peak(lambda: time.sleep(0.02), torch.device('cpu')) == 0


