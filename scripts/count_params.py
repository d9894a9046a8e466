"""Print the parameter counts of ``network_g`` from a yml, per component.

Usage: python -m scripts.count_params -opt options/arch/seeclear_paper.yml [--random-distiller]

``--random-distiller`` builds a pretrained distiller from its architecture config with random weights
(``config: {}`` instead of ``model_id``/``pretrained_path``), to count it without the checkpoint.
"""
import argparse
import copy

import yaml
from basicsr.archs import build_network

import seeclear_arch  # noqa: F401  (registers the archs)
from seeclear_arch.archs.param_count import count_parameters_by_component


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
