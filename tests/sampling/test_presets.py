"""Sampling presets (``val.preset``, ``--preset``; seeclear_arch/sampling/presets.py)."""
import pytest

from seeclear_arch.sampling.presets import PRESETS, preset_values, with_preset


def test_each_preset_sets_steps_and_precision():
    assert preset_values('paper') == {'num_steps': None, 'dtype': 'float32'}
    assert preset_values('balanced') == {'num_steps': 4, 'dtype': 'float32'}
    assert preset_values('fast') == {'num_steps': 1, 'dtype': 'float32'}
    with pytest.raises(ValueError, match='val.preset / --preset must be one of ' + ', '.join(PRESETS)):
        preset_values('turbo')


def test_a_preset_replaces_the_yml_steps_and_dtype_and_nothing_else():
    val = {'num_steps': 15, 'dtype': 'bfloat16', 'seed': 3, 'propagation': 0.3, 'preset': 'balanced'}
    assert with_preset(val) == {'num_steps': 4, 'dtype': 'float32', 'seed': 3, 'propagation': 0.3,
                                'preset': 'balanced'}
    assert with_preset({'num_steps': 15}, 'paper')['num_steps'] is None
    assert with_preset({'num_steps': 15}) == {'num_steps': 15}  # no preset: the yml as it is
    assert val['num_steps'] == 15  # the options are copied, not changed
