"""``python -m experiments.lipschitz_gail``: see :mod:`experiments.lipschitz_gail.experiment`."""

from experiments.lipschitz_gail.experiment import EXPERT_MIN_RETURN, PRESETS, LipschitzGail, main

__all__ = ["EXPERT_MIN_RETURN", "LipschitzGail", "PRESETS", "main"]
