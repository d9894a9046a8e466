"""Training support beside BasicSR's loop: the exact resume state (``state``) and its wiring (``resume``)."""
