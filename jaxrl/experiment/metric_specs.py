"""The metrics each trainer reports, as :class:`~jaxrl.experiment.schema.MetricSpec` builders.

Experiment schemas (``experiments/<name>/schema.py``) compose these with their own metrics, so
the names a trainer logs are declared once. Every trainer metric has the run axis first (what
the sweep vmaps over: seeds, or variants x seeds), then ``"update"`` (one entry per logged
training update) or ``"eval"`` (one entry per evaluation, i.e. per chunk).
"""

from __future__ import annotations

from collections.abc import Iterable

from jaxrl.experiment.schema import MetricSpec

DOCS = {
    "approx_kl": "PPO's approximate KL(old || new) per update",
    "clip_fraction": "fraction of PPO ratios clipped per update",
    "entropy": "policy entropy per update",
    "episode_count": "episodes finished in the update's rollout",
    "episode_length": "mean length of the episodes finished in the update's rollout",
    "learning_rate": "optimiser learning rate at the update",
    "loss_actor": "PPO clipped surrogate loss",
    "loss_total": "PPO total loss (actor + value + entropy terms)",
    "loss_value": "PPO value loss",
    "actor_loss": "actor loss of the off-policy learner",
    "critic_loss": "critic (TD) loss of the off-policy learner",
    "q_mean": "mean Q-value on the replay batch",
    "alpha": "SAC temperature",
    "learning_rounds": "gradient rounds done by the update",
    "env_steps": "environment steps done so far (all parallel envs)",
    "eval_env_steps": "environment steps done when the evaluation ran",
    "eval_return": "mean undiscounted true return of the deterministic evaluation policy",
    "eval_greedy_return": "mean undiscounted true return of the greedy policy",
}
PPO = (
    "approx_kl",
    "clip_fraction",
    "entropy",
    "episode_count",
    "episode_length",
    "learning_rate",
    "loss_actor",
    "loss_total",
    "loss_value",
)
OFF_POLICY = (
    "actor_loss",
    "critic_loss",
    "env_steps",
    "episode_count",
    "episode_length",
    "learning_rounds",
    "q_mean",
)
SAC = ("alpha", "entropy")
TABULAR = ("episode_count", "episode_length")
INT_METRICS = frozenset({"env_steps", "eval_env_steps"})


def spec(name: str, axes: tuple[str, ...], doc: str = "", dtype: str | None = None) -> MetricSpec:
    """A :class:`MetricSpec` with the doc from :data:`DOCS` and ``int32`` for step counters."""
    if dtype is None:
        dtype = "int32" if name in INT_METRICS else "float32"
    return MetricSpec(name, dtype, axes, doc or DOCS.get(name, ""))


def channel_returns(channels: Iterable[str], run: str = "run") -> tuple[MetricSpec, ...]:
    """``return_<c>_reward [run, update]``: mean episode return on each reward channel ``c``
    (``env`` the environment's reward, ``learner`` what the learner optimised, ``true``...)."""
    return tuple(
        spec(f"return_{c}_reward", (run, "update"), f"mean episode return on the {c} reward")
        for c in channels
    )


def trainer_metrics(
    train: Iterable[str],
    channels: Iterable[str] = ("env", "learner", "true"),
    evals: Iterable[str] = ("eval_env_steps", "eval_return"),
    run: str = "run",
) -> tuple[MetricSpec, ...]:
    """The trainer's metrics: ``train`` names ``[run, update]``, the channel returns
    ``[run, update]`` and ``evals`` ``[run, eval]``."""
    return (
        *(spec(n, (run, "update")) for n in train),
        *channel_returns(channels, run),
        *(spec(n, (run, "eval")) for n in evals),
    )
