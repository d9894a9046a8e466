"""The thread policy on a quiet and on a shared machine (docs/performance.md, "Threads").

Times ``benchmarks.benchmark_sampling`` (one demo clip, fresh process per run) under each thread setting, first with
nothing else running, then next to ``--busy`` other processes (``--busy-kind``: a pure-Python loop that keeps one
core busy, or a torch job with 2 spinning OpenMP threads, as a second test run or training would). Settings: torch's
default thread count with OpenMP's default (spinning) wait policy, the same with ``OMP_WAIT_POLICY=PASSIVE``, one
thread, and the policy of SeeClear's commands (passive waiting, the cores the busy processes leave idle:
``seeclear_arch.sampling.threads``). Prints one table; the machine must be otherwise idle.

    python -m benchmarks.thread_policy -opt options/test_seeclear_demo.yml --lr-size 64x64 --clip 5 --steps 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from benchmarks.benchmark_sampling import clip_parser
from seeclear_arch.sampling import threads

BURNERS = {  # another user's job: a pure-Python loop (one core), or a torch job with its own 2 spinning threads
    'python': ([sys.executable, '-c', 'while True: pass'], {}),
    'torch': ([sys.executable, '-c', 'import torch\na = torch.randn(256, 256)\nwhile True: a @ a'],
              {'OMP_NUM_THREADS': '2', 'OMP_WAIT_POLICY': 'ACTIVE'}),
}


def run_once(args: argparse.Namespace, env: Dict[str, str]) -> float:
    """Seconds per clip of one fresh ``benchmark_sampling`` process."""
    with tempfile.TemporaryDirectory() as tmp:
        row = os.path.join(tmp, 'row.json')
        cmd = [sys.executable, '-m', 'benchmarks.benchmark_sampling', '-opt', args.opt, '--lr-size', args.lr_size,
               '--clip', str(args.clip), '--steps', str(args.steps), '--repeats', str(args.repeats), '--no-flops',
               '--matmul-size', '64', '--json', row]
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=args.timeout)
        with open(row) as f:
            return float(json.load(f)['s/clip'])


def settings(cores: int, busy: Optional[float]) -> Dict[str, Dict[str, str]]:
    """Each setting's environment; the policy's thread count comes from the measured busy cores."""
    chosen = threads.choose_threads(cores, busy, threads.allowed_cores())
    return {f'{cores} threads, spinning wait (OpenMP default)': {'OMP_NUM_THREADS': str(cores),
                                                                 'OMP_WAIT_POLICY': 'ACTIVE'},
            f'{cores} threads, passive wait': {'OMP_NUM_THREADS': str(cores), 'OMP_WAIT_POLICY': 'PASSIVE'},
            '1 thread': {'OMP_NUM_THREADS': '1', 'OMP_WAIT_POLICY': 'PASSIVE'},
            'the commands\' policy: passive wait, idle cores': {'OMP_NUM_THREADS': str(chosen),
                                                                'OMP_WAIT_POLICY': 'PASSIVE'}}


def measure(args: argparse.Namespace, num_busy: int) -> Dict[str, List[float]]:
    cmd, extra = BURNERS[args.busy_kind]
    burners = [subprocess.Popen(cmd, env=dict(os.environ, **extra)) for _ in range(num_busy)]
    try:
        time.sleep(1.0 if burners else 0.0)
        busy = threads.busy_cores(0.5)
        base = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY',
                                                                  threads.THREADS_ENV)}
        results: Dict[str, List[float]] = {}
        for _ in range(args.rounds):
            for name, extra in settings(args.cores, busy).items():
                results.setdefault(name, []).append(run_once(args, dict(base, **extra)))
                print(f'busy={num_busy} {name}: {results[name][-1]:.2f} s/clip', flush=True)
        print(f'busy processes {num_busy}: measured busy cores {busy:.2f}', flush=True)
        return results
    finally:
        for p in burners:
            p.kill()


def main() -> None:
    parser = clip_parser(__doc__.split('\n\n')[0], steps=2)
    parser.add_argument('--repeats', type=int, default=2, help='timed clips per process (median)')
    parser.add_argument('--rounds', type=int, default=2, help='processes per setting')
    parser.add_argument('--busy', type=int, default=1, help='busy processes in the shared-machine case')
    parser.add_argument('--busy-kind', choices=tuple(BURNERS), default='python',
                        help='what the busy processes run: a Python loop, or a 2-thread torch matmul loop')
    parser.add_argument('--cores', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--timeout', type=int, default=900)
    args = parser.parse_args()
    table = {0: measure(args, 0), args.busy: measure(args, args.busy)}
    print(f'\n| setting | quiet, s/clip | {args.busy} busy process(es), s/clip |\n|---|---:|---:|')
    for name, quiet in table[0].items():
        print(f'| {name} | {statistics.median(quiet):.2f} | {statistics.median(table[args.busy][name]):.2f} |')

if __name__ == '__main__':
    main()
