"""The metrics ``orpo_tomato`` writes: the base policy's ``metrics.npz`` (experiment
``orpo_tomato_base``), one ``metrics.npz`` per method (run axis λ x seeds) and the exact curves'
``metrics.npz`` (one ``<divergence>/<curve>`` array ``[1, coef]`` per family)."""

from __future__ import annotations

from collections.abc import Iterable

from experiments.orpo_tomato.config import METHODS
from jaxrl.experiment.metric_specs import PPO, spec, trainer_metrics
from jaxrl.experiment.schema import Schema

CHANNELS = ("env", "learner", "proxy", "true")
#: PPO on the true reward, one seed.
BASE_SCHEMA = Schema("orpo_tomato_base", trainer_metrics(PPO, CHANNELS, run="seed"))
#: the regulariser's per-update metrics, by method kind.
REGULARISER = {
    "none": {},
    "ad_kl": {"ad_penalty": "action-distribution KL penalty"},
    "om": {
        "disc_accuracy": "occupancy discriminator accuracy",
        "disc_logit_pi": "mean discriminator logit on policy samples",
        "disc_loss": "occupancy discriminator loss",
        "om_penalty": "occupancy-measure divergence penalty",
    },
}
FINAL = {
    "lam": "regularisation coefficient λ of the run",
    "final_true_return": "exact true return of the final policy",
    "final_proxy_return": "exact proxy return of the final policy",
}
EVALS = {
    "eval_env_steps": "",
    "eval_true_reward": "deterministic-evaluation return on the true reward",
    "eval_proxy_reward": "deterministic-evaluation return on the proxy reward",
}
#: the exact solver's curves over the λ grid.
CURVES = {
    "lam": "λ of the grid point",
    "true_return": "exact true return of the regularised optimum",
    "proxy_return": "exact proxy return of the regularised optimum",
    "divergence": "divergence of the regularised optimum from the base policy",
}


def schema(method: str) -> Schema:
    """``metrics.npz`` of one ``method`` (a key of :data:`METHODS`)."""
    specs = trainer_metrics(PPO, CHANNELS, ())
    specs += tuple(spec(k, ("run", "eval"), d) for k, d in EVALS.items())
    specs += tuple(
        spec(k, ("run", "update"), d) for k, d in REGULARISER[METHODS[method][0]].items()
    )
    return Schema("orpo_tomato", specs + tuple(spec(k, ("run",), d) for k, d in FINAL.items()))


def family_tag(divergence: str, state_only: bool) -> str:
    """The exact curves' family tag (``"sqrt_chi2"``, ``"kl_state"``...)."""
    return f"{divergence}{'_state' if state_only else ''}"


def curve_key(tag: str, curve: str) -> str:
    """The exact run's key of a family's curve (``"<tag>/<curve>"``)."""
    return f"{tag}/{curve}"


def exact_schema(tags: Iterable[str]) -> Schema:
    """``metrics.npz`` of the exact run with these family ``tags``."""
    specs = tuple(
        spec(curve_key(t, c), ("one", f"{t}/coef"), f"{t}: {d}")
        for t in tags
        for c, d in CURVES.items()
    )
    return Schema("orpo_tomato", specs)
