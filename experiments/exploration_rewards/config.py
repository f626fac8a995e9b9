"""The configuration of ``experiments.exploration_rewards``: one settings block per system (each
system module declares its own ``Settings`` with ``QUICK`` and ``PAPER``), seeds and which
systems to run (:func:`jaxrl.experiment.systems.family_config`)."""

from __future__ import annotations

from experiments.exploration_rewards import calm, curiosity, info_gain, novelty, oni
from jaxrl.experiment.systems import family_config, family_presets

EXPERIMENT = "exploration_rewards"
MODULES = {
    "curiosity": curiosity,
    "oni": oni,
    "info_gain": info_gain,
    "calm": calm,
    "novelty": novelty,
}
SYSTEMS = tuple(MODULES)
ExplorationRewards = family_config("ExplorationRewards", MODULES)
PRESETS = family_presets(ExplorationRewards, MODULES)
