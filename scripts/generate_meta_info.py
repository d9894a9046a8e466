"""Meta info file (``<clip> <num_frames> (<h>,<w>,<c>)`` per frame folder) for a frame tree.

Examples:
  python -m scripts.generate_meta_info datasets/REDS/train_sharp datasets/REDS/meta_info_REDS_GT.txt
  python -m scripts.generate_meta_info datasets/REDS/train_sharp datasets/REDS/meta_info_REDS4_test_GT.txt \
      --only 000,011,015,020
The REDS training file may list every clip: SeeClearREDSDataset drops the val_partition clips itself.
"""
import argparse

from seeclear_arch.data.meta_info import write_meta_info
from seeclear_arch.data.prepare import clip_meta, generate_meta_info, optional_list


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='frame tree (GT)')
    parser.add_argument('out_file', help='meta info file to write')
    parser.add_argument('--exclude', default='', help='comma-separated clip folders to leave out')
    parser.add_argument('--only', default='', help='comma-separated clip folders to list (in this order)')
    args = parser.parse_args()
    only = optional_list(args.only)
    if only:
        clips = [clip_meta(args.root, c) for c in only]
        write_meta_info(args.out_file, clips)
    else:
        clips = generate_meta_info(args.root, args.out_file, optional_list(args.exclude))
    print(f'{len(clips)} clips -> {args.out_file}')


if __name__ == '__main__':
    main()
