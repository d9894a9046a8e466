"""Super-resolve a video file or a folder of frames with a trained SeeClear model (x4).

Usage (``seeclear-infer`` once installed, or ``python -m seeclear_arch.inference`` from a checkout):
    seeclear-infer -opt options/test_seeclear_demo.yml --input my_video.mp4 \
        --output results/my_video [--weights net_g.pth] [--num-steps 15] [--seed 0] [--max-frames 100] \
        [--chunk 50] [--video [PATH]] [--fps 25] [--codec libx264] [--crf 18] [--bitrate 8M] [--no-audio]
        [--no-png] [--color-fix none|wavelet|adain] [--tile N|auto] [--tile-overlap 8] [--max-memory GIB]
        [--dtype float32|bfloat16|float16] [--preset fast|balanced|paper] [--propagation 0.3] [--restart] [--quiet]
        [--verbose]
    torchrun --nproc_per_node=N -m seeclear_arch.inference ... [--warmup-clips 1]   # one video over N processes

Writes ``OUTPUT/00000000.png, ...`` (each written to a temporary name, then renamed; ``--no-png``: none) and, with
``--video``, ``OUTPUT/sr.mp4`` (or ``--video PATH``) at the source's exact frame rate with the source's audio
(remuxed when mp4 allows its codec, else re-encoded to AAC; ``--no-audio`` drops it). The input is decoded lazily
and every frame is written as soon as its chunk is sampled. ``--color-fix`` matches each output frame's low-
frequency colour to its bicubic-upsampled LR frame (off by default, so paper metrics are unchanged). Long inputs are
sampled ``--chunk`` frames at a time (a multiple of the clip length ``val.num_frame``; 0 = all at once) with the
CaTeGory memory carried across chunks and each clip's noise seeded from its index, so the frames do not depend on
``--chunk`` (see
seeclear_arch/inference/video.py). ``--tile N`` samples overlapping N x N LR tiles blended with a smooth window (the
noise is drawn per frame; each tile carries its own memory; seeclear_arch/sampling/tiling.py); ``--tile auto
--max-memory GIB`` picks the largest tile whose estimated peak fits. ``--dtype`` runs only the network under
autocast. ``--preset`` chooses the steps and precision from the measured quality-per-second curve (fast: 1 step;
balanced: 4 steps; paper: T steps; all float32; seeclear_arch/sampling/presets.py), below
``--num-steps`` / ``--dtype``. ``--propagation A`` (default: the yml's ``val.propagation``) pulls each output
frame toward the previous one warped along the condition's optical flow, where that flow is trustworthy (0 = off;
seeclear_arch/sampling/propagation.py). A run stopped midway (a crash, a kill, a reboot) resumes from its last
completed chunk when the same command is run again, and writes exactly what an uninterrupted run writes
(seeclear_arch/inference/resume.py; ``--restart`` starts over; other options refuse to resume). A progress bar
(frames, with ETA; steps too with ``--verbose``) is shown on a terminal unless ``--quiet``. Under ``torchrun``
each process samples a contiguous range of clips, starting ``--warmup-clips`` clips early, and rank 0 joins the
video (seeclear_arch/inference/shard.py).
"""
import argparse
import logging
import os
import sys
from os import path as osp
from typing import List, Optional

from basicsr.utils import get_root_logger

import seeclear_arch  # noqa: F401  (registers the archs and the model)
from seeclear_arch.inference.color_fix import COLOR_FIXES
from seeclear_arch.inference.video import (
    DEFAULT_WARMUP_CLIPS,
    OutputOptions,
    SamplingOptions,
    read_options,
    run_inference,
    summarize,
)
from seeclear_arch.sampling import threads
from seeclear_arch.sampling.engine import DTYPES
from seeclear_arch.sampling.presets import PRESETS
from seeclear_arch.sampling.tiling import parse_tile


def _bitrate(text: str) -> int:
    """``8M``, ``2500k`` or ``4000000`` as bits/s."""
    units = {'k': 10**3, 'm': 10**6, 'g': 10**9}
    try:
        value = float(text[:-1]) * units[text[-1].lower()] if text[-1:].lower() in units else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a bit rate such as 8M, 2500k or 4000000, got {text!r}') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'the bit rate must be positive, got {text!r}')
    return int(value)


def _tile(text: str):
    """``--tile``: a non-negative number of LR pixels or ``auto``."""
    try:
        value = parse_tile(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return 'auto' if value is None else value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', required=True, help='test yml (network_g, diffusion, path, val)')
    parser.add_argument('--input', required=True, help='video file (mp4, mkv, ...) or folder of frames')
    parser.add_argument('--output', required=True, help='output folder for the HR frames')
    parser.add_argument('--weights', help='checkpoint (default: path.pretrain_network_g of the yml)')
    parser.add_argument('--num-steps', type=int, help='sampler steps (default: val.num_steps, else T)')
    parser.add_argument('--seed', type=int, help='noise seed (default: val.seed, else 0)')
    parser.add_argument('--max-frames', type=int, help='process only the first N frames')
    parser.add_argument('--chunk', type=int, help='frames per chunk, a multiple of the clip length; 0 = all '
                        '(default: 50 rounded down to a multiple of the clip length)')
    parser.add_argument('--video', nargs='?', const='', default=None,
                        help='also write an mp4 (default path: OUTPUT/sr.mp4)')
    parser.add_argument('--fps', type=float, help='mp4 frame rate (default: the source video\'s, else 25)')
    parser.add_argument('--codec', help='mp4 video encoder (default: libx264 if available, else mpeg4)')
    parser.add_argument('--crf', type=float, help='mp4 quality, lower is better: the CRF of libx264/libx265/VP9/AV1 '
                        '(default 18), or the quantiser q 1-31 of other codecs such as mpeg4 (default 3)')
    parser.add_argument('--bitrate', type=_bitrate, help='mp4 bit rate instead of --crf, e.g. 8M or 2500k')
    parser.add_argument('--no-audio', action='store_true', help="do not copy the source video's audio")
    parser.add_argument('--no-png', action='store_true', help='write only the mp4 (needs --video), no PNG frames')
    parser.add_argument('--color-fix', choices=COLOR_FIXES, default='none',
                        help='match each output frame\'s low-frequency colour to its LR frame (default: none)')
    parser.add_argument('--non-rgb', choices=('convert', 'error'), default='convert',
                        help='grayscale/RGBA input frames: convert with a warning, or refuse')
    parser.add_argument('--tile', type=_tile, help='LR tile size in pixels (0 = whole frames) or auto (needs '
                        '--max-memory); default: val.tile, else 0')
    parser.add_argument('--tile-overlap', type=int, help='overlap of neighbouring tiles in LR pixels '
                        '(default: val.tile_overlap, else 8)')
    parser.add_argument('--max-memory', type=float, help='memory budget in GiB for --tile auto (host RAM on CPU, '
                        'GPU memory on CUDA)')
    parser.add_argument('--dtype', choices=tuple(DTYPES), help='network precision under autocast; the sampler '
                        'stays float32 (default: val.dtype, else float32)')
    parser.add_argument('--threads', type=int, help='CPU threads (default: $SEECLEAR_THREADS, $OMP_NUM_THREADS, '
                        'else the cores other processes leave idle)')
    parser.add_argument('--preset', choices=tuple(PRESETS), help='steps and precision only: fast (1 step), '
                        'balanced (4 steps), paper (T steps), all float32; --num-steps/--dtype win over it '
                        "(default: the yml's val.preset, else its val.num_steps and val.dtype)")
    parser.add_argument('--propagation', type=float, metavar='A',
                        help="strength of the flow-guided temporal propagation of the output frames, 0 = off "
                             "(default: the yml's val.propagation)")
    parser.add_argument('--warmup-clips', type=int, default=DEFAULT_WARMUP_CLIPS, metavar='W',
                        help='under torchrun: clips each process samples before its range, to build its memory, and '
                             f'drops (default {DEFAULT_WARMUP_CLIPS}, measured in docs/video.md)')
    parser.add_argument('--restart', action='store_true', help='start over instead of resuming the unfinished run '
                        'left in --output (a run stopped midway resumes from its last completed chunk when the same '
                        'command is run again)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.add_argument('--verbose', action='store_true', help="show BasicSR's log (network printout, loading) and "
                        'a progress bar over each clip\'s steps')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logger = get_root_logger(log_level=logging.INFO if args.verbose else logging.WARNING)
    threads.apply(args.threads, logger)
    video = None if args.video is None else (args.video or osp.join(args.output, 'sr.mp4'))
    try:
        result = run_inference(read_options(args.opt), args.input, args.output, weights=args.weights,
                               num_steps=args.num_steps, seed=args.seed, max_frames=args.max_frames,
                               chunk=args.chunk, video=video, fps=args.fps, non_rgb=args.non_rgb,
                               restart=args.restart, warmup_clips=args.warmup_clips,
                               output=OutputOptions(png=not args.no_png, codec=args.codec, crf=args.crf,
                                                    bitrate=args.bitrate, audio=not args.no_audio,
                                                    color_fix=args.color_fix),
                               sampling_opts=SamplingOptions(
                                   tile=args.tile, tile_overlap=args.tile_overlap, max_memory=args.max_memory,
                                   dtype=args.dtype, propagation=args.propagation, preset=args.preset,
                                   progress='off' if args.quiet else ('steps' if args.verbose else 'clips')))
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        sys.exit(f'error: {err}')
    if os.environ.get('RANK', '0') == '0':  # one summary for a torchrun run
        for key, value in summarize(result).items():
            print(f'{key}: {value}')
    return 0
