"""The atomic writer's leftovers (seeclear_arch/data/atomic_files.py)."""
import os

from seeclear_arch.data.atomic_files import TMP_MARK, remove_stale_temporaries, stale_temporaries


def test_temporaries_are_found_and_removed_and_complete_files_kept(tmp_path):
    """A process killed while writing leaves a hidden temporary beside the target; the resumed run removes it
    before it writes anything (process ids repeat in containers, so the owner's id is not trusted)."""
    names = [f'.00000004.png{TMP_MARK}123-1', f'.state.pt{TMP_MARK}{os.getpid()}-7']
    for name in names:
        (tmp_path / name).write_bytes(b'half')
    (tmp_path / '00000003.png').write_bytes(b'done')
    assert stale_temporaries(str(tmp_path)) == sorted(str(tmp_path / n) for n in names)
    assert sorted(remove_stale_temporaries(str(tmp_path))) == sorted(str(tmp_path / n) for n in names)
    assert os.listdir(tmp_path) == ['00000003.png']
    assert remove_stale_temporaries(str(tmp_path / 'missing')) == []
