"""Running observation statistics (parallel Welford update; Chan et al. 1979)."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp


class RunningStats(NamedTuple):
    mean: jnp.ndarray  # [*obs_shape]
    var: jnp.ndarray  # [*obs_shape]
    count: jnp.ndarray  # []

    @classmethod
    def create(cls, shape) -> RunningStats:
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))


def update_stats(stats: RunningStats, batch: jnp.ndarray) -> RunningStats:
    """Merge a batch ``[N, *obs_shape]`` into the running mean and variance."""
    b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
    delta = b_mean - stats.mean
    total = stats.count + b_count
    mean = stats.mean + delta * b_count / total
    m2 = stats.var * stats.count + b_var * b_count + delta**2 * stats.count * b_count / total
    return RunningStats(mean, m2 / total, total)


def normalize(stats: RunningStats, x: jnp.ndarray, enabled: bool, clip: float = 10.0):
    """``(x − mean)/std`` clipped to ±clip, or ``x`` unchanged when disabled."""
    if not enabled:
        return x
    return jnp.clip((x - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)
