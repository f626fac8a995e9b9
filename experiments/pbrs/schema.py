"""The metrics ``pbrs`` writes, one run per task: ``raw.npz`` (the trainer's metrics, run axis
variants x seeds) and ``metrics.npz`` (the true return split per variant, ``[seed, eval]``)."""

from __future__ import annotations

from collections.abc import Iterable

from jaxrl.experiment.metric_specs import PPO, TABULAR, spec, trainer_metrics
from jaxrl.experiment.schema import Schema

#: per-variant metrics of ``metrics.npz`` (``grid_ppo`` also keeps the deterministic evaluation).
PER_VARIANT = {
    "true_return": "true return per evaluation: exact J of the mode policy (grid_ppo), greedy "
    "rollouts (Q-learning) or the deterministic evaluation's sparse return (mcar_ppo, brax_ppo)",
    "eval_return": "deterministic-evaluation return on the true reward",
}
RAW = {
    "grid_q": (TABULAR, ("learner", "true"), ("eval_env_steps", "eval_greedy_return")),
    "pitfall_q": (TABULAR, ("learner", "true"), ("eval_env_steps", "eval_greedy_return")),
    "grid_ppo": (
        PPO,
        ("env", "learner", "true"),
        ("eval_env_steps", "eval_return", "exact_return"),
    ),
    "mcar_ppo": (PPO, ("env", "learner", "sparse", "true"), ("eval_env_steps", "eval_return")),
    "brax_ppo": (PPO, ("env", "learner", "sparse", "true"), ("eval_env_steps", "eval_return")),
}


def key(variant: str, metric: str) -> str:
    """The ``metrics.npz`` key of a variant's metric (``"<variant>/<metric>"``)."""
    return f"{variant}/{metric}"


def variant_metrics(task: str) -> tuple[str, ...]:
    """The per-variant metrics of ``task``'s ``metrics.npz``."""
    return ("eval_return", "true_return") if task == "grid_ppo" else ("true_return",)


def raw_schema(task: str) -> Schema:
    """``raw.npz`` of ``task``: the trainer's metrics ``[run, ...]``."""
    train, channels, evals = RAW[task]
    exact = {"exact_return": "exact true return J of the evaluation policy"}
    specs = trainer_metrics(train, channels, ())
    specs += tuple(spec(n, ("run", "eval"), exact.get(n, "")) for n in evals)
    return Schema("pbrs", specs)


def schema(task: str, variants: Iterable[str]) -> Schema:
    """``metrics.npz`` of ``task`` with these shaping ``variants``."""
    specs = tuple(
        spec(key(v, m), ("seed", "eval"), f"{v}: {PER_VARIANT[m]}")
        for m in variant_metrics(task)
        for v in variants
    )
    return Schema("pbrs", (*specs, spec("env_steps", ("seed", "eval"), dtype="int32")))
