"""Time this checkout's sampler against another checkout's in ONE process, on the same weights and clip.

Usage:
    git worktree add ../seeclear_base 4a3ef1b   # the code to compare with
    python -m benchmarks.compare_sampling_speed -opt options/train_seeclear_reds.yml --base ../seeclear_base \
        [--random-distiller] [--lr-size 128x128] [--clip 5] [--steps 2] [--rounds 2] [--dtype float32]

On a shared machine, runs in separate processes see different loads; here both codes run alternately (base, new,
new, base, ...) after one shared warm-up (oneDNN builds its kernels once per shape), so they see the same load. The
base checkout's ``seeclear_arch`` is imported under another name (a copy with its imports renamed; registry entries
it shares with this checkout keep this checkout's class, which is fine for the unchanged parts such as the
distillers) and its network class is built from the yml's ``network_g`` with this checkout's weights. Prints each
code's median seconds per clip and per frame and step, the speed-up, and whether the sampled frames are
bit-identical (``torch.equal``) and their largest difference.
"""
import argparse
import importlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from types import ModuleType
from typing import Callable, Dict, List, Tuple

import torch
from basicsr.utils import registry

import seeclear_arch  # noqa: F401  (registers the archs and the model)
from seeclear_arch.inference.video import build_inference_model
from seeclear_arch.sampling.engine import sample_clip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE_NAME = 'seeclear_compare_base'



def base_engine(package: str):
    """The base checkout's sampling engine: ``sampling.engine``, or ``models.sampling`` before the package split."""
    try:
        return importlib.import_module(f'{package}.sampling.engine')
    except ModuleNotFoundError:
        return importlib.import_module(f'{package}.models.sampling')

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', required=True, help='yml with network_g and diffusion')
    parser.add_argument('--base', required=True, help='root of the checkout to compare with')
    parser.add_argument('--lr-size', default='64x64', help='LR clip size HxW')
    parser.add_argument('--clip', type=int, default=5, help='frames per clip (m)')
    parser.add_argument('--steps', type=int, default=2, help='sampler steps')
    parser.add_argument('--rounds', type=int, default=2, help='timed runs of each code')
    parser.add_argument('--dtype', default='float32', help='autocast dtype of the network calls')
    parser.add_argument('--random-distiller', action='store_true')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def import_renamed(checkout: str, workdir: str) -> ModuleType:
    """The checkout's ``seeclear_arch`` as ``BASE_NAME`` (a renamed copy), without failing on names it registers
    that this checkout registered already."""
    target = os.path.join(workdir, BASE_NAME)
    shutil.copytree(os.path.join(checkout, 'seeclear_arch'), target)
    for folder, _, files in os.walk(target):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                with open(path, encoding='utf-8') as f:
                    text = re.sub(r'\bseeclear_arch\b', BASE_NAME, f.read())
                with open(path, 'w', encoding='utf-8') as f:
                    f.write(text)
    sys.path.insert(0, workdir)
    register = registry.Registry._do_register

    def keep_first(self, name, obj, suffix=None):
        if (name if not isinstance(suffix, str) else f'{name}_{suffix}') not in self._obj_map:
            register(self, name, obj, suffix)

    registry.Registry._do_register = keep_first
    try:
        return importlib.import_module(BASE_NAME)
    finally:
        registry.Registry._do_register = register


def base_network(base: ModuleType, opt: dict, weights: Dict[str, torch.Tensor]) -> torch.nn.Module:
    """The base checkout's class named by ``network_g.type``, with ``weights``."""
    kind = opt['network_g']['type']
    for module in importlib.import_module(f'{BASE_NAME}.archs')._modules:
        if hasattr(module, kind):
            net = getattr(module, kind)(**{k: v for k, v in opt['network_g'].items() if k != 'type'})
            net.load_state_dict(weights)
            return net.eval()
    raise SystemExit(f'error: the base checkout has no network {kind!r}')


def main() -> None:
    args = parse_args()
    from benchmarks.benchmark_sampling import benchmark_options, parse_size  # same options as the benchmark

    h, w = parse_size(args.lr_size)
    args.device, args.compile = 'cpu', False
    opt = benchmark_options(args)
    torch.manual_seed(args.seed)
    model = build_inference_model(opt)
    new = model.inference_net()
    with tempfile.TemporaryDirectory() as workdir:
        base_pkg = import_renamed(os.path.abspath(args.base), workdir)
        base = base_network(base_pkg, opt, new.state_dict())
        base_sample = base_engine(BASE_NAME).sample_clip
        lq = torch.rand(1, args.clip, 3, h, w, generator=torch.Generator().manual_seed(args.seed))
        y = model.condition(lq)
        codes: Dict[str, Tuple[torch.nn.Module, Callable]] = {'base': (base, base_sample), 'new': (new, sample_clip)}

        def run(name: str) -> Tuple[float, torch.Tensor]:
            net, sample = codes[name]
            reset = getattr(net, 'reset_memory', None)  # a base from before the stateless memory holds one
            if callable(reset):
                reset()
            generator = torch.Generator().manual_seed(args.seed)
            began = time.perf_counter()
            with torch.no_grad():
                out = sample(net, model.diffusion, lq, y, generator, args.steps, dtype=args.dtype)
            return time.perf_counter() - began, out

        print(f'threads {torch.get_num_threads()}; warm-up {run("base")[0]:.1f} s', flush=True)
        times: Dict[str, List[float]] = {'base': [], 'new': []}
        outs: Dict[str, torch.Tensor] = {}
        for r in range(args.rounds):
            for name in (('base', 'new') if r % 2 == 0 else ('new', 'base')):
                took, outs[name] = run(name)
                times[name].append(took)
                print(f'round {r} {name} {took:.1f} s', flush=True)
    for name, runs in times.items():
        med = statistics.median(runs)
        print(f'{name:4s} median s/clip {med:.2f}  s/frame/step {med / args.clip / args.steps:.3f}  '
              f'runs {[round(t, 1) for t in runs]}')
    speedup = statistics.median(times['base']) / statistics.median(times['new'])
    diff = (outs['new'] - outs['base']).abs().max().item()
    print(f'speed-up {speedup:.2f}x  bit-identical {torch.equal(outs["new"], outs["base"])}  max|diff| {diff:.3g}')


if __name__ == '__main__':
    main()
