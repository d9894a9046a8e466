import pytest

from seeclear_arch.sampling.clips import mirror_index, split_clips, window_indices


def test_mirror_index_reflects_without_repeating_the_edge():
    assert [mirror_index(i, 4) for i in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [mirror_index(i, 1) for i in range(3)] == [0, 0, 0]
    with pytest.raises(ValueError):
        mirror_index(0, 0)


def test_split_clips_pads_the_tail_by_mirroring():
    assert split_clips(7, 3) == [([0, 1, 2], 3), ([3, 4, 5], 3), ([6, 5, 4], 1)]
    assert split_clips(6, 3) == [([0, 1, 2], 3), ([3, 4, 5], 3)]
    assert split_clips(8, 5) == [([0, 1, 2, 3, 4], 5), ([5, 6, 7, 6, 5], 3)]
    assert split_clips(2, 5) == [([0, 1, 0, 1, 0], 2)]  # shorter than one clip
    assert split_clips(1, 3) == [([0, 0, 0], 1)]
    covered = [i for idx, n in split_clips(11, 5) for i in idx[:n]]
    assert covered == list(range(11))


def test_window_indices_mirror_at_both_ends():
    assert window_indices(0, 6, 5) == [2, 1, 0, 1, 2]
    assert window_indices(3, 6, 5) == [1, 2, 3, 4, 5]
    assert window_indices(5, 6, 5) == [3, 4, 5, 4, 3]
    assert window_indices(0, 2, 5) == [0, 1, 0, 1, 0]  # shorter than the window
