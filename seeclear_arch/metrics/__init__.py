"""Imports every `*_metric.py` in this folder so its registry entries exist (BasicSR convention)."""
import importlib
from os import path as osp
from pathlib import Path

_folder = osp.dirname(osp.abspath(__file__))
_modules = [
    importlib.import_module(f'seeclear_arch.metrics.{p.stem}') for p in sorted(Path(_folder).glob('*_metric.py'))
]
