"""The atomic writer's leftovers (seeclear_arch/data/atomic_files.py)."""
import os
import subprocess
import sys

from seeclear_arch.data.atomic_files import TMP_MARK, remove_stale_temporaries, stale_temporaries


def test_only_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()  # its pid is free now
    names = {'dead': f'.00000004.png{TMP_MARK}{dead.pid}-1', 'alive': f'.00000005.png{TMP_MARK}{os.getppid()}-1',
             'mine': f'.state.pt{TMP_MARK}{os.getpid()}-1'}
    for name in names.values():
        (tmp_path / name).write_bytes(b'half')
    (tmp_path / '00000003.png').write_bytes(b'done')
    assert len(stale_temporaries(str(tmp_path))) == 3
    assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / names['dead'])]
    assert sorted(os.listdir(tmp_path)) == sorted(['00000003.png', names['alive'], names['mine']])
    assert remove_stale_temporaries(str(tmp_path / 'missing')) == []
