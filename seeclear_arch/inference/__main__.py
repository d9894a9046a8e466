"""``python -m seeclear_arch.inference``: the ``seeclear-infer`` command."""
import sys

from seeclear_arch.inference.cli import main

if __name__ == '__main__':
    sys.exit(main())
