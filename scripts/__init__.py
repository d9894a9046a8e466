"""User tools, run from the repository root as ``python -m scripts.<name>`` (docs/layout.md)."""
