"""Training stages: which parameters ``train.trainable`` trains."""
import pytest
from torch import nn

from seeclear_arch.training.stages import select_trainable


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(2, 2)
        self.category = nn.Linear(2, 2)  # the "memory"
        self.distiller = nn.Linear(2, 2).requires_grad_(False)  # frozen by the network itself


@pytest.mark.parametrize('mode, expected', [
    ('all', {'body', 'category'}),
    ('memory', {'category'}),
    ('all_but_memory', {'body'}),
])
def test_select_trainable_stages(mode, expected):
    net = _Net()
    n, total = select_trainable(net, mode, 'category')
    trained = {name.split('.')[0] for name, p in net.named_parameters() if p.requires_grad}
    assert trained == expected  # the frozen distiller is never unfrozen
    assert (n, total) == (6 * len(expected), 18)


def test_select_trainable_rejects_bad_mode_and_empty_selection():
    with pytest.raises(ValueError, match='train.trainable'):
        select_trainable(_Net(), 'memroy', 'category')
    with pytest.raises(ValueError, match='no trainable'):
        select_trainable(_Net(), 'memory', 'no_such_module')
