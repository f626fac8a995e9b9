"""``python -m experiments.rlhf_shaping``: see :mod:`experiments.rlhf_shaping.experiment`."""

from experiments.rlhf_shaping.bandit import divergence_estimates, exp_linearised
from experiments.rlhf_shaping.config import PRESETS, TASKS, RLHFShaping
from experiments.rlhf_shaping.experiment import main
from experiments.rlhf_shaping.tasks import PRM_VARIANTS, SHAPINGS

__all__ = [
    "PRESETS",
    "PRM_VARIANTS",
    "RLHFShaping",
    "SHAPINGS",
    "TASKS",
    "divergence_estimates",
    "exp_linearised",
    "main",
]
