"""The metrics ``ppo_classic`` writes (``metrics.npz``, one run per environment)."""

from __future__ import annotations

from jaxrl.experiment.metric_specs import PPO, trainer_metrics
from jaxrl.experiment.schema import Schema

#: PPO's per-update training metrics and per-chunk deterministic evaluation, ``[seed, ...]``.
SCHEMA = Schema("ppo_classic", trainer_metrics(PPO, run="seed"))
