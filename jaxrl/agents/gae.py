"""Generalised advantage estimation with termination and truncation kept apart (rlax style).

Notation: step t takes s_t, a_t to r_t, s'_t. ``discount_t = γ·(1 − terminated_t)`` zeroes the
bootstrap only at a true terminal; ``v_next_t = V(s'_t)`` is the value of the *arrival* state, i.e.
of ``info["final_observation"]`` when the episode ended, never of the reset observation. The λ-chain
is cut at every episode end (terminated or truncated), but a truncated step still bootstraps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae_advantages(
    r_t: jnp.ndarray,
    discount_t: jnp.ndarray,
    v_t: jnp.ndarray,
    v_next_t: jnp.ndarray,
    episode_end_t: jnp.ndarray,
    lambda_: jnp.ndarray | float,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """GAE(λ) over a rollout (Schulman et al. 2016, eq. 16), with explicit boundaries.

    Args:
      r_t: ``[T, ...]`` rewards.
      discount_t: ``[T, ...]`` γ·(1 − terminated).
      v_t: ``[T, ...]`` V(s_t).
      v_next_t: ``[T, ...]`` V(s'_t), the value of the arrival state (final observation on the
        last step of an episode).
      episode_end_t: ``[T, ...]`` terminated | truncated (cuts the λ-trace, not the bootstrap).
      lambda_: GAE λ.

    Returns:
      ``(advantages [T, ...], returns [T, ...])`` with returns = advantages + v_t.
    """
    delta_t = r_t + discount_t * v_next_t - v_t
    trace_t = discount_t * lambda_ * (1.0 - episode_end_t.astype(delta_t.dtype))

    def backward(adv_next, xs):
        delta, trace = xs
        adv = delta + trace * adv_next
        return adv, adv

    _, adv = jax.lax.scan(backward, jnp.zeros_like(delta_t[0]), (delta_t, trace_t), reverse=True)
    return adv, adv + v_t
