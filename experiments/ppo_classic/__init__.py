"""``python -m experiments.ppo_classic``: see :mod:`experiments.ppo_classic.experiment`."""

from experiments.ppo_classic.experiment import PRESETS, PPOClassic, main, setup

__all__ = ["PPOClassic", "PRESETS", "main", "setup"]
