"""The metrics ``barfi`` writes (``metrics.npz``); the run axis is methods x seeds."""

from __future__ import annotations

from jaxrl.experiment.schema import MetricSpec, Schema

#: REINFORCE/actor-critic per-episode metrics (both families).
EPISODES = (
    MetricSpec("primary_return", "float32", ("run", "episode"), "undiscounted primary return"),
    MetricSpec("aux_return", "float32", ("run", "episode"), "undiscounted auxiliary return"),
    MetricSpec("length", "float32", ("run", "episode"), "episode length"),
)
#: BARFI's per-outer-iteration metrics: φ of the blend transform (weight [F, 2], bias [2]).
OUTER = (
    MetricSpec("gamma_phi", "float32", ("run", "outer"), "blend discount γ_φ"),
    MetricSpec("hypergrad_norm", "float32", ("run", "outer"), "global norm of the hypergradient"),
    MetricSpec("phi_bias", "float32", ("run", "outer", "blend"), "blend bias φ_b"),
    MetricSpec("phi_weight", "float32", ("run", "outer", "feature", "blend"), "blend weights φ_w"),
)


def schema(family: str) -> Schema:
    """The schema of a ``"baselines"`` or ``"barfi"`` family run."""
    return Schema("barfi", EPISODES + (OUTER if family == "barfi" else ()))
