"""Parameter counts per component (used by ``scripts/count_params.py``)."""
from typing import Dict, Mapping, Optional, Sequence

from torch import nn

DEFAULT_COMPONENT = 'condenser'


def component_of(name: str, components: Mapping[str, Sequence[str]]) -> str:
    """The first component whose name fragments occur in ``'.' + name``, else ``'condenser'``."""
    dotted = '.' + name
    for component, fragments in components.items():
        if any(fragment in dotted for fragment in fragments):
            return component
    return DEFAULT_COMPONENT


def count_parameters_by_component(net: nn.Module,
                                  components: Optional[Mapping[str, Sequence[str]]] = None
                                  ) -> Dict[str, Dict[str, int]]:
    """Count trainable and frozen parameters per component.

    Args:
        net: the network.
        components: component name -> parameter-name fragments (e.g. ``'.distiller.'``); defaults to the
            network class's ``COMPONENTS`` (empty: everything is ``'condenser'``).

    Returns:
        ``{component: {'trainable': n, 'frozen': n, 'total': n}}`` including ``'total'``.
    """
    components = type(net).__dict__.get('COMPONENTS', {}) if components is None else components
    counts: Dict[str, Dict[str, int]] = {}
    for name, param in net.named_parameters():
        for key in (component_of(name, components), 'total'):
            entry = counts.setdefault(key, {'trainable': 0, 'frozen': 0, 'total': 0})
            entry['trainable' if param.requires_grad else 'frozen'] += param.numel()
            entry['total'] += param.numel()
    return counts
