"""``python -m seeclear_arch.test -opt X.yml``: BasicSR's test pipeline with SeeClear registered."""
import os.path as osp

import seeclear_arch  # noqa: F401  (registers archs, models, datasets, metrics)
from seeclear_arch.sampling import threads


def main() -> None:
    threads.apply()  # the idle cores, unless SEECLEAR_THREADS / OMP_NUM_THREADS say otherwise
    from basicsr.test import test_pipeline
    test_pipeline(osp.abspath(osp.curdir))


if __name__ == '__main__':
    main()
