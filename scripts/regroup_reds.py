"""REDS split handling (BasicSR conventions).

  regroup-val: move the official validation clips val_sharp/000..029 (and val_sharp_bicubic/X4) into
      train_sharp as 240..269; then ``val_partition: official`` holds out 240..269 and ``REDS4`` holds out
      000, 011, 015, 020.
  make-reds4: build datasets/REDS4/{GT,sharp_bicubic}/<clip> (symlinks, or copies with --copy) for testing.

Examples:
  python -m scripts.regroup_reds regroup-val datasets/REDS/val_sharp datasets/REDS/train_sharp
  python -m scripts.regroup_reds regroup-val datasets/REDS/val_sharp_bicubic/X4 datasets/REDS/train_sharp_bicubic/X4
  python -m scripts.regroup_reds make-reds4 datasets/REDS/train_sharp datasets/REDS/train_sharp_bicubic/X4 \
      datasets/REDS4
"""
import argparse

from seeclear_arch.data.meta_info import REDS4_CLIPS
from seeclear_arch.data.prepare import make_reds4, optional_list, regroup_reds_val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    regroup = sub.add_parser('regroup-val', help='val clips 000..029 -> train clips 240..269')
    regroup.add_argument('val_root')
    regroup.add_argument('train_root')
    reds4 = sub.add_parser('make-reds4', help='REDS4 test folders from the training clips')
    reds4.add_argument('train_gt')
    reds4.add_argument('train_lq')
    reds4.add_argument('out_root')
    reds4.add_argument('--clips', default=','.join(REDS4_CLIPS))
    reds4.add_argument('--copy', action='store_true', help='copy instead of symlinking')
    args = parser.parse_args()
    if args.command == 'regroup-val':
        moved = regroup_reds_val(args.val_root, args.train_root)
        print(f'moved {len(moved)} clips into {args.train_root}: {moved[0]}..{moved[-1]}' if moved else 'nothing')
    else:
        make_reds4(args.train_gt, args.train_lq, args.out_root, optional_list(args.clips), symlink=not args.copy)
        print(f'REDS4 test folders under {args.out_root}')


if __name__ == '__main__':
    main()
