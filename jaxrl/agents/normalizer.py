"""Observation normalisation on the shared running statistics
(:class:`jaxrl.shaping.stream.RunningStats`, one set per observation feature)."""

from __future__ import annotations

import jax.numpy as jnp

from jaxrl.shaping.stream import RunningStats, update_running_stats

__all__ = ["RunningStats", "normalize", "update_stats"]


def update_stats(stats: RunningStats, batch: jnp.ndarray) -> RunningStats:
    """Merge a batch ``[N, *obs_shape]`` into per-feature statistics ``[*obs_shape]``."""
    return update_running_stats(stats, batch, feature_ndim=stats.mean.ndim)


def normalize(stats: RunningStats, x: jnp.ndarray, enabled: bool, clip: float = 10.0):
    """``(x − mean)/std`` (``x [..., *obs_shape]``) clipped to ±clip, or ``x`` when disabled."""
    if not enabled:
        return x
    return jnp.clip((x - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)
