"""The configuration of ``experiments.process_rewards``: one settings block per system (each
system module declares its own ``Settings`` with ``QUICK`` and ``PAPER``), seeds and which
systems to run (:func:`jaxrl.experiment.systems.family_config`)."""

from __future__ import annotations

from experiments.process_rewards import (
    composite,
    fk_steering,
    grpo_r,
    guide,
    reward_machines,
    robo_dopamine,
    thesis,
)
from jaxrl.experiment.systems import family_config, family_presets

EXPERIMENT = "process_rewards"
MODULES = {
    "guide": guide,
    "grpo_r": grpo_r,
    "robo_dopamine": robo_dopamine,
    "reward_machines": reward_machines,
    "fk_steering": fk_steering,
    "thesis": thesis,
    "composite": composite,
}
SYSTEMS = tuple(MODULES)
ProcessRewards = family_config("ProcessRewards", MODULES)
PRESETS = family_presets(ProcessRewards, MODULES)
