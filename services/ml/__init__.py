"""Detectors, their comparison, training, the model artifact and reason codes."""
