"""LMDB of a frame tree with keys ``clip/frame`` (BasicSR's ``make_lmdb_from_imgs``).

Examples:
  python -m scripts.create_lmdb datasets/REDS/train_sharp datasets/REDS/train_sharp_with_val.lmdb
  python -m scripts.create_lmdb datasets/REDS/train_sharp_bicubic/X4 datasets/REDS/train_sharp_bicubic_with_val.lmdb
  python -m scripts.create_lmdb datasets/vimeo90k/vimeo_septuplet/sequences datasets/vimeo90k/vimeo90k_train_GT.lmdb
Keys: 000/00000000 (REDS), 00001/0001/im1 (Vimeo-90K); the demo's LMDBs are made by prepare_demo_data.py.
"""
import argparse

from seeclear_arch.data.prepare import make_lmdb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src_root', help='frame tree')
    parser.add_argument('lmdb_path', help='output folder, must end with .lmdb and not exist')
    parser.add_argument('--compress-level', type=int, default=1, help='PNG compression level (0-9)')
    args = parser.parse_args()
    count = make_lmdb(args.src_root, args.lmdb_path, args.compress_level)
    print(f'{count} frames -> {args.lmdb_path}')


if __name__ == '__main__':
    main()
