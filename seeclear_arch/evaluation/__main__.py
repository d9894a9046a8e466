"""``python -m seeclear_arch.evaluation``: the ``seeclear-evaluate`` command."""
import sys

from seeclear_arch.evaluation.cli import main

if __name__ == '__main__':
    sys.exit(main())
