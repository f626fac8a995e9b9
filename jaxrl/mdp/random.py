"""Random finite MDPs and policies (jittable with static sizes; vmap over keys for a batch)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.mdp.core import TabularMDP

Array = Any


def _dtype(dtype):
    return jnp.result_type(float) if dtype is None else jnp.dtype(dtype)


def random_mdp(
    key: Array,
    n_states: int,
    n_actions: int,
    *,
    gamma: float | Array = 0.9,
    sparsity_k: int | None = None,
    reward_scale: float | Array = 1.0,
    n_terminal: int = 0,
    dirichlet_alpha: float | Array = 1.0,
    dtype=None,
) -> TabularMDP:
    """A random MDP: Dirichlet transition rows, Gaussian transition rewards.

    ``n_states``, ``n_actions``, ``sparsity_k``, ``n_terminal`` and ``dtype`` are static (shape
    determining); ``gamma``, ``reward_scale`` and ``dirichlet_alpha`` may be traced. For a batch,
    ``jax.vmap(lambda k: random_mdp(k, S, A, ...))(keys)``.

    Args:
      key: PRNG key.
      n_states: S.
      n_actions: A.
      gamma: discount stored in the MDP (not validated here; γ = 1 needs ``n_terminal > 0``).
      sparsity_k: if given, each (s, a) row is supported on ``k`` distinct successors chosen
        uniformly at random (Dirichlet over those ``k``); ``None`` = full support.
      reward_scale: ``R ~ N(0, reward_scale²)`` on ``[S, A, S']``.
      n_terminal: number of absorbing zero-reward terminal states, chosen uniformly at random.
        Their rows are overwritten (self-loop with probability 1, reward 0); ``init_dist`` is
        uniform over the non-terminal states.
      dirichlet_alpha: concentration of the Dirichlet rows.
      dtype: float dtype (default: JAX's default float, float64 under ``jax_enable_x64``).

    Returns:
      A :class:`TabularMDP` (not validated, so this works under ``jit``).
    """
    S, A = n_states, n_actions
    dt = _dtype(dtype)
    k_p, k_sup, k_r, k_t = jax.random.split(key, 4)
    # Dirichlet(α) restricted to a support == independent Gamma(α) draws, masked, normalised.
    g = jax.random.gamma(k_p, jnp.asarray(dirichlet_alpha, dt), (S, A, S), dtype=dt)
    if sparsity_k is not None and sparsity_k < S:
        if sparsity_k < 1:
            raise ValueError(f"sparsity_k = {sparsity_k} must be >= 1")
        # Rank of uniform noise < k picks k distinct successors per (s, a) uniformly.
        ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_sup, (S, A, S)), -1), -1)
        support = ranks < sparsity_k
        g = jnp.where(support, g, 0.0)
        # Gamma draws can underflow to 0 for small α; keep the row a distribution regardless.
        g = jnp.where(jnp.sum(g, -1, keepdims=True) > 0, g, support.astype(dt))
    else:
        g = jnp.where(jnp.sum(g, -1, keepdims=True) > 0, g, jnp.ones_like(g))
    P = g / jnp.sum(g, -1, keepdims=True)
    R = jnp.asarray(reward_scale, dt) * jax.random.normal(k_r, (S, A, S), dtype=dt)

    if n_terminal > 0:
        if n_terminal >= S:
            raise ValueError(f"n_terminal = {n_terminal} must be < n_states = {S}")
        perm_rank = jnp.argsort(jax.random.permutation(k_t, S))
        terminal = perm_rank < n_terminal
    else:
        terminal = jnp.zeros((S,), dtype=bool)
    absorb = jnp.broadcast_to(jnp.eye(S, dtype=dt)[:, None, :], (S, A, S))
    P = jnp.where(terminal[:, None, None], absorb, P)
    R = jnp.where(terminal[:, None, None], 0.0, R)
    live = (~terminal).astype(dt)
    return TabularMDP(
        P=P,
        R=R,
        gamma=jnp.asarray(gamma, dt),
        init_dist=live / jnp.sum(live),
        terminal_mask=terminal,
    )


def random_policy(
    key: Array, n_states: int, n_actions: int, *, alpha: float | Array = 1.0, dtype=None
) -> Array:
    """``[S, A]`` stochastic policy with rows ~ Dirichlet(α) (α = 5: full-support reference)."""
    dt = _dtype(dtype)
    g = jax.random.gamma(key, jnp.asarray(alpha, dt), (n_states, n_actions), dtype=dt)
    g = jnp.where(jnp.sum(g, -1, keepdims=True) > 0, g, jnp.ones_like(g))
    return g / jnp.sum(g, -1, keepdims=True)
