"""Print PSNR/SSIM per sequence for bicubic upsampling and for saved SR runs.

Usage: python scripts/compare_results.py --gt datasets/demo/test/GT --lq datasets/demo/test/BIx4 \
           --run trained=results/SeeClear_demo_test/visualization/demo_test [--run LABEL=DIR ...] [--y]
"""
import argparse
import os
import sys

# the repo copy of seeclear_arch must win over an installed one (basicsr's import may pull that in)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from seeclear_arch.utils_compare import compare_runs, format_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt', required=True, help='GT root with one folder per sequence')
    parser.add_argument('--lq', required=True, help='LR root with the same folders')
    parser.add_argument('--run', action='append', default=[],
                        help='LABEL=DIR of saved SR frames (<folder>/<frame>_*.png)')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--y', action='store_true', help='PSNR/SSIM on the Y channel (Vid4 convention)')
    args = parser.parse_args()
    runs = dict(item.split('=', 1) for item in args.run)
    print(format_table(compare_runs(args.gt, args.lq, runs, args.scale, args.y)))


if __name__ == '__main__':
    main()
