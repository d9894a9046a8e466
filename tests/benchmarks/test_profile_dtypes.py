"""benchmarks/profile_dtypes.py on a tiny SeeClearNet with a tiny random Mask2Former distiller."""
import importlib
import sys

import pytest

from tests.helpers import TINY_M2F, tiny_opt, train_options, write_yml


def _yml(tmp_path, **net) -> str:
    opt = train_options(str(tmp_path / 'no_data'), val=False)  # no dataset is read
    opt['network_g'] = tiny_opt(**net)
    return write_yml(opt, str(tmp_path / 'tiny.yml'))


@pytest.mark.parametrize('part', ['step', 'distiller'])
def test_profile_dtypes_compares_float32_and_bf16_per_operator(part, tmp_path, monkeypatch, capsys):
    distiller = dict(type='SeeClearMask2FormerDistiller', num_tokens=3, config=TINY_M2F, input_size=None)
    argv = ['-opt', _yml(tmp_path, distiller=distiller), '--lr-size', '16x16', '--clip', '2', '--part', part,
            '--warmup', '1', '--min-ms', '0']
    monkeypatch.setattr(sys, 'argv', ['profile_dtypes.py', *argv])
    importlib.import_module('benchmarks.profile_dtypes').main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f'{part}: float32 ') and 'bfloat16' in lines[0] and 'GFLOP/s' in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.startswith('aten::')}
    conv = rows['aten::mkldnn_convolution'] if part == 'step' else rows['aten::addmm']
    assert float(conv[1]) > 0 and float(conv[2]) > 0 and conv[3].endswith('x') and conv[4].endswith('%')
    matrix = [line for line in lines if line.startswith(('convolution', 'linear'))]
    assert matrix and all(float(line.split()[-3]) > 0 for line in matrix)  # GFLOP/s
    bound = [line for line in lines if line.startswith('bound: ')]
    assert len(bound) == 1 and 'x float32' in bound[0] and 'of matmul' in bound[0]


def test_profile_dtypes_names_a_missing_distiller(tmp_path, monkeypatch):
    argv = ['-opt', _yml(tmp_path, use_semantic=False, use_incam=False, use_category=False), '--lr-size', '16x16',
            '--clip', '2', '--part', 'distiller']
    monkeypatch.setattr(sys, 'argv', ['profile_dtypes.py', *argv])
    with pytest.raises(SystemExit, match='has no distiller'):
        importlib.import_module('benchmarks.profile_dtypes').main()
