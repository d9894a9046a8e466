"""BI x4 low-resolution frames (MATLAB-style bicubic, BasicSR's ``imresize``) for a tree of frame folders.

Example (REDS): python -m scripts.generate_bicubic_lr datasets/REDS/train_sharp datasets/REDS/train_sharp_bicubic/X4
"""
import argparse

from seeclear_arch.data.prepare import generate_bicubic_lr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('gt_root', help='HR frame tree (sides divisible by --scale)')
    parser.add_argument('lq_root', help='output tree, same relative paths, PNG')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--overwrite', action='store_true', help='rewrite existing LR frames')
    args = parser.parse_args()
    count = generate_bicubic_lr(args.gt_root, args.lq_root, args.scale, args.overwrite)
    print(f'{count} frames: {args.gt_root} -> {args.lq_root} (BI x{args.scale})')


if __name__ == '__main__':
    main()
