"""Print the parameter counts of ``network_g`` from a yml, per component.

Usage: python scripts/count_params.py -opt options/arch/seeclear_paper.yml [--random-distiller]

``--random-distiller`` builds a pretrained distiller from its architecture config with random weights
(``config: {}`` instead of ``model_id``/``pretrained_path``), to count it without the checkpoint.
"""
import argparse
import copy
import os
import sys

# the repo copy of seeclear_arch must win over an installed one (basicsr's import may pull that in)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import yaml  # noqa: E402
from basicsr.archs import build_network  # noqa: E402

import seeclear_arch  # noqa: E402,F401  (registers the archs)
from seeclear_arch.archs.param_count import count_parameters_by_component  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('-opt', required=True, help='yml with a network_g section (or a bare network dict)')
    parser.add_argument('--random-distiller', action='store_true')
    args = parser.parse_args()
    with open(args.opt) as f:
        opt = yaml.safe_load(f)
    net_opt = copy.deepcopy(opt.get('network_g', opt))
    distiller = net_opt.get('distiller')
    if args.random_distiller and distiller:
        for key in ('model_id', 'pretrained_path', 'cache_dir'):
            distiller.pop(key, None)
        distiller.setdefault('config', {})
    counts = count_parameters_by_component(build_network(net_opt))
    print(f'{"component":12s} {"trainable":>14s} {"frozen":>14s} {"total":>14s}')
    for name in ('condenser', 'incam', 'category', 'distiller', 'total'):
        c = counts.get(name, {'trainable': 0, 'frozen': 0, 'total': 0})
        print(f'{name:12s} {c["trainable"]:14,d} {c["frozen"]:14,d} {c["total"]:14,d}')
    no_distiller = counts['total']['total'] - counts.get('distiller', {}).get('total', 0)
    print(f'Pixel Condenser incl. InCAM and CaTeGory: {no_distiller:,d} ({no_distiller / 1e6:.2f}M)')


if __name__ == '__main__':
    main()
