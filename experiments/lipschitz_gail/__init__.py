"""``python -m experiments.lipschitz_gail``: see :mod:`experiments.lipschitz_gail.experiment`."""

from experiments.lipschitz_gail.experiment import PRESETS, LipschitzGail, main

__all__ = ["LipschitzGail", "PRESETS", "main"]
