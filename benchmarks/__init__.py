"""Developer measurements and drivers: ``python -m benchmarks.<name>`` from the repository root (docs/layout.md)."""
