"""The metrics ``rlhf_shaping`` writes (``metrics.npz``, one run per task); the run axis is
conditions x seeds."""

from __future__ import annotations

from jaxrl.experiment.metric_specs import PPO, spec, trainer_metrics
from jaxrl.experiment.schema import Schema

#: the bandit's divergence estimates and exact (tabular) values of the policy, per update.
BANDIT_EXTRA = {
    "kl_estimate": "sampled KL(π || π_ref) estimate",
    "chi2_estimate": "sampled χ²(π || π_ref) estimate",
    "exact_gold": "exact expected gold reward of π",
    "exact_proxy": "exact expected proxy reward of π",
    "exact_kl": "exact KL(π || π_ref)",
    "exact_length": "exact expected response length of π",
}
CHANNELS = {
    "bandit": ("env", "gold", "gold_win", "learner", "proxy", "reference", "true"),
    "prm": ("env", "learner", "outcome", "prm", "true"),
}


def schema(task: str) -> Schema:
    """The schema of a ``"bandit"`` or ``"prm"`` run."""
    extra = BANDIT_EXTRA if task == "bandit" else {}
    return Schema(
        "rlhf_shaping",
        trainer_metrics(PPO, CHANNELS[task])
        + tuple(spec(k, ("run", "update"), d) for k, d in extra.items()),
    )
