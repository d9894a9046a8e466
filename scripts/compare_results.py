"""Print PSNR/SSIM per sequence for bicubic upsampling and for saved SR runs; with --out, also write the
metrics as CSV and JSON, side-by-side crops (bicubic | runs | GT) and x-t temporal profiles per sequence.

Usage: python -m scripts.compare_results --gt datasets/demo/test/GT --lq datasets/demo/test/BIx4 \
           --run trained=results/SeeClear_demo_test/visualization/demo_test [--run LABEL=DIR ...] [--y] \
           [--out results/compare [--crop 128] [--crop-center X,Y] [--crop-frame N] [--row R] [--no-images]]

Writes OUT/metrics.csv, OUT/metrics.json, OUT/crops/<sequence>.png and OUT/profiles/<sequence>_xt.png (one
pixel row, default the middle one, of every frame stacked over time: flicker shows as horizontal stripes).
"""
import argparse
import os
import sys

from seeclear_arch.evaluation.compare import Visuals, compare_runs, format_table, write_metrics


def _point(text: str) -> tuple:
    try:
        x, y = (int(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected X,Y in HR pixels, got {text!r}') from None
    return x, y


def _runs(items: list) -> dict:
    bad = [item for item in items if '=' not in item]
    if bad:
        sys.exit(f'error: --run expects LABEL=DIR, got {bad[0]!r}')
    runs = dict(item.split('=', 1) for item in items)
    missing = [d for d in runs.values() if not os.path.isdir(d)]
    if missing:
        sys.exit(f'error: --run folder {missing[0]} does not exist')
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt', required=True, help='GT root with one folder per sequence')
    parser.add_argument('--lq', required=True, help='LR root with the same folders')
    parser.add_argument('--run', action='append', default=[],
                        help='LABEL=DIR of saved SR frames (<folder>/<frame>.png or <folder>/<frame>_*.png)')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--y', action='store_true', help='PSNR/SSIM on the Y channel (Vid4 convention)')
    parser.add_argument('--out', help='folder for metrics.csv, metrics.json, crops/ and profiles/')
    parser.add_argument('--crop', type=int, default=128, help='side of the square crops (HR pixels)')
    parser.add_argument('--crop-center', type=_point, help='X,Y centre of the crops (default: frame centre)')
    parser.add_argument('--crop-frame', type=int, help='frame index of the crops (default: the middle frame)')
    parser.add_argument('--row', type=int, help='pixel row of the x-t profiles (default: the middle row)')
    parser.add_argument('--no-images', action='store_true', help='with --out, write only the metrics')
    args = parser.parse_args()
    visuals = None if args.out is None or args.no_images else Visuals(args.out, args.crop, args.crop_center,
                                                                      args.crop_frame, args.row)
    try:
        table = compare_runs(args.gt, args.lq, _runs(args.run), args.scale, args.y, visuals)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(format_table(table))
    if args.out is not None:
        for path in write_metrics(table, args.out):
            print(f'wrote {path}')


if __name__ == '__main__':
    main()
