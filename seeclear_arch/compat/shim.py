"""Import-time shim, installed before basicsr's own code runs (global: ``import basicsr`` fails without it).

``torchvision.transforms.functional_tensor`` was removed in torchvision 0.17, but ``basicsr/data/degradations.py``
imports ``rgb_to_grayscale`` from it. We register an alias module before basicsr is imported.
"""
import sys
import types


def install_functional_tensor_alias() -> None:
    """Provide ``torchvision.transforms.functional_tensor`` if this torchvision lacks it."""
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401  (old torchvision)
        return
    except ImportError:
        pass
    from torchvision.transforms import functional as F
    alias = types.ModuleType(name)
    alias.rgb_to_grayscale = F.rgb_to_grayscale
    sys.modules[name] = alias
