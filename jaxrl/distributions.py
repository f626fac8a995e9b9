"""Thin wrapper over distrax, so a ~30-line replacement could stand in if distrax breaks.

PPO's continuous policies keep the *unsquashed* Gaussian sample ``u`` in the rollout and compute
probability ratios in ``u``-space: the tanh Jacobian term depends only on ``u`` and cancels in
π_new(a)/π_old(a), so no ``atanh`` of a saturated action is ever needed.
"""

from __future__ import annotations

import distrax
import jax.numpy as jnp


def categorical(logits: jnp.ndarray) -> distrax.Categorical:
    """Categorical over the last axis of ``logits`` ``[..., A]``."""
    return distrax.Categorical(logits=logits)


def diag_gaussian(mean: jnp.ndarray, log_std: jnp.ndarray) -> distrax.MultivariateNormalDiag:
    """Diagonal Gaussian with ``mean [..., D]`` and ``log_std [D]`` (broadcast)."""
    return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std) * jnp.ones_like(mean))


def squash_action(u: jnp.ndarray, low: jnp.ndarray, high: jnp.ndarray, mode: str) -> jnp.ndarray:
    """Map an unsquashed Gaussian sample ``u [..., D]`` into the box ``[low, high]``.

    ``mode="clip"`` clips (CleanRL/PureJaxRL style); ``mode="tanh"`` rescales ``tanh(u)``.
    """
    if mode == "clip":
        return jnp.clip(u, low, high)
    if mode == "tanh":
        return low + (jnp.tanh(u) + 1.0) * 0.5 * (high - low)
    raise ValueError(f"unknown squash mode {mode!r}; expected 'clip' or 'tanh'")
