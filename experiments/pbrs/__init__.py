"""``python -m experiments.pbrs``: see :mod:`experiments.pbrs.experiment`."""

from experiments.pbrs.experiment import (
    BRAX_TASKS,
    BRAX_VARIANTS,
    PITFALL_VARIANTS,
    PITFALL_WEIGHTS,
    PRESETS,
    TASKS,
    VARIANTS,
    WEIGHTS,
    PBRSConfig,
    main,
)
from experiments.pbrs.shaping import (
    exact_reference,
    grid_transform,
    pitfall_transform,
    progress_potential,
    variant_params,
)

# the library shapings the experiment builds on, for tests and notebooks
from jaxrl.shaping import naive_potential, progress_bonus

__all__ = [
    "BRAX_TASKS",
    "BRAX_VARIANTS",
    "PBRSConfig",
    "PITFALL_VARIANTS",
    "PITFALL_WEIGHTS",
    "PRESETS",
    "TASKS",
    "VARIANTS",
    "WEIGHTS",
    "exact_reference",
    "grid_transform",
    "main",
    "naive_potential",
    "progress_bonus",
    "pitfall_transform",
    "progress_potential",
    "variant_params",
]
