"""``python -m experiments.barfi``: see :mod:`experiments.barfi.experiment`."""

from experiments.barfi.experiment import PRESETS, BarfiExperiment, main

__all__ = ["BarfiExperiment", "PRESETS", "main"]
