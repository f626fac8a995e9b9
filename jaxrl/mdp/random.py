"""Random finite MDPs and policies (jittable with static sizes; vmap over keys for a batch)."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.mdp.core import TabularMDP

Array = Any


def _dtype(dtype):
    return jnp.result_type(float) if dtype is None else jnp.dtype(dtype)


def _is_one(alpha) -> bool:
    return isinstance(alpha, int | float) and alpha == 1


def _gamma_draws(key, alpha, shape, dt, alpha_is_one):
    """Gamma(α, 1) draws; a static α == 1 uses Exp(1), which compiles ~10x faster."""
    if alpha_is_one:
        return jax.random.exponential(key, shape, dtype=dt)
    return jax.random.gamma(key, jnp.asarray(alpha, dt), shape, dtype=dt)


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
    if sparsity_k is not None and sparsity_k < 1:
        raise ValueError(f"sparsity_k = {sparsity_k} must be >= 1")
    if not 0 <= n_terminal < n_states:
        raise ValueError(f"n_terminal = {n_terminal} must be in [0, n_states = {n_states})")
    return _random_mdp(
        key,
        gamma,
        reward_scale,
        dirichlet_alpha,
        S=n_states,
        A=n_actions,
        k=sparsity_k,
        n_terminal=n_terminal,
        dt=_dtype(dtype),
        alpha_is_one=_is_one(dirichlet_alpha),
    )


@partial(jax.jit, static_argnames=("S", "A", "k", "n_terminal", "dt", "alpha_is_one"))
def _random_mdp(
    key, gamma, reward_scale, dirichlet_alpha, *, S, A, k, n_terminal, dt, alpha_is_one
):
    # One uniform draw feeds every α = 1 quantity: each separate jax.random call would add its own
    # threefry kernel, and compiling those dominates (≈0.5 s each on CPU).
    k_u, k_g = jax.random.split(key)
    n = S * A * S
    u = jax.random.uniform(k_u, (3 * n + S,), dtype=dt)
    u_p, u_sup, u_r, u_t = u[:n], u[n : 2 * n], u[2 * n : 3 * n], u[3 * n :]
    # Dirichlet(α) restricted to a support == independent Gamma(α) draws, masked, normalised.
    if alpha_is_one:
        g = -jnp.log1p(-u_p).reshape(S, A, S)  # Exp(1) = Gamma(1)
    else:
        g = jax.random.gamma(k_g, jnp.asarray(dirichlet_alpha, dt), (S, A, S), dtype=dt)
    if k is not None and k < S:
        # Rank of uniform noise < k picks k distinct successors per (s, a) uniformly.
        ranks = jnp.argsort(jnp.argsort(u_sup.reshape(S, A, S), -1), -1)
        support = ranks < k
        g = jnp.where(support, g, 0.0)
        # Gamma draws can underflow to 0 for small α; keep the row a distribution regardless.
        g = jnp.where(jnp.sum(g, -1, keepdims=True) > 0, g, support.astype(dt))
    else:
        g = jnp.where(jnp.sum(g, -1, keepdims=True) > 0, g, jnp.ones_like(g))
    P = g / jnp.sum(g, -1, keepdims=True)
    # N(0, 1) by inverse CDF, as jax.random.normal does internally.
    lo = jnp.nextafter(jnp.asarray(-1.0, dt), jnp.asarray(0.0, dt))
    z = jnp.sqrt(jnp.asarray(2.0, dt)) * jax.lax.erf_inv(jnp.maximum(2 * u_r - 1, lo))
    R = jnp.asarray(reward_scale, dt) * z.reshape(S, A, S)

    if n_terminal > 0:
        terminal = jnp.argsort(jnp.argsort(u_t)) < n_terminal  # n_terminal random states
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
    g = _gamma_draws(key, alpha, (n_states, n_actions), dt, _is_one(alpha))
    g = jnp.where(jnp.sum(g, -1, keepdims=True) > 0, g, jnp.ones_like(g))
    return g / jnp.sum(g, -1, keepdims=True)
