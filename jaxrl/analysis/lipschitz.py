"""Lipschitz estimates of learned rewards and critics (Blondé et al.; theory.md §3).

* :func:`gradient_norms` — per-sample ``‖∇_x f(x_i)‖₂`` by ``vmap(grad)`` for a scalar function
  of one input, over any leading batch shape (e.g. a trajectory ``[T, D]`` or rollout
  ``[T, N, D]``); :func:`sa_gradient_norms` does the same for ``f(s, a)`` w.r.t. the
  concatenated ``(s, a)`` (reward ``r(s, a)`` or critic ``Q(s, a)`` along trajectories).
* :func:`jacobian_norms` — per-sample spectral norm ``‖J_f(x_i)‖₂`` of a vector function (e.g. a
  forward model).
* :func:`finite_difference_ratios` — ``|f(x) − f(y)| / ‖x − y‖`` for random nearby pairs
  ``y = x + δ``, ``‖δ‖ = radius`` in a uniformly random direction; :func:`fd_lipschitz` is
  their maximum, a lower bound on the Lipschitz constant over the region probed.
* :func:`summarize` — mean / max / min / std / median of a batch of values.

All functions are pure and jittable (``f`` closed over).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = Any


def _norm(g: Array) -> Array:
    sq = jnp.sum(jnp.square(g), axis=-1)
    return jnp.sqrt(sq)


def gradient_norms(f: Callable[[Array], Array], x: Array) -> Array:
    """``‖∇f(x_i)‖₂`` of shape ``[*B]`` for ``f: [D] -> []`` and ``x: [*B, D]``."""
    x = jnp.asarray(x)
    lead = x.shape[:-1]
    g = jax.vmap(jax.grad(f))(x.reshape(-1, x.shape[-1]))
    return _norm(g).reshape(lead)


def sa_gradient_norms(f: Callable[[Array, Array], Array], obs: Array, action: Array) -> Array:
    """``‖∇_{(s,a)} f(s_i, a_i)‖₂`` ``[*B]`` for ``f(s [ds], a [da]) -> []`` (reward or Q)."""
    obs = jnp.asarray(obs)
    action = jnp.asarray(action, obs.dtype)
    ds = obs.shape[-1]
    x = jnp.concatenate([obs, action], axis=-1)
    return gradient_norms(lambda xi: f(xi[:ds], xi[ds:]), x)


def jacobian_norms(f: Callable[[Array], Array], x: Array) -> Array:
    """Spectral norms ``‖J_f(x_i)‖₂`` ``[*B]`` for ``f: [D] -> [K]`` and ``x: [*B, D]``."""
    x = jnp.asarray(x)
    lead = x.shape[:-1]
    J = jax.vmap(jax.jacrev(f))(x.reshape(-1, x.shape[-1]))  # [N, K, D]
    return jnp.linalg.norm(J, ord=2, axis=(-2, -1)).reshape(lead)


def finite_difference_ratios(
    f: Callable[[Array], Array], x: Array, key: Array, radius: float = 1e-3, n_pairs: int = 1
) -> Array:
    """``|f(x_i) − f(x_i + δ)| / ‖δ‖`` ``[n_pairs, *B]`` with ``‖δ‖ = radius`` (random directions).

    ``f`` maps one input ``[D]`` to a scalar (it is vmapped). Use float64 and a radius well
    above the rounding level of ``f``'s values (``radius ≳ 1e-6`` in float64).
    """
    x = jnp.asarray(x)
    lead, d = x.shape[:-1], x.shape[-1]
    xf = x.reshape(-1, d)
    delta = jax.random.normal(key, (n_pairs, *xf.shape), x.dtype)
    delta = radius * delta / jnp.linalg.norm(delta, axis=-1, keepdims=True)
    fv = jax.vmap(f)
    f0 = fv(xf)
    f1 = jax.vmap(fv)(xf[None] + delta)
    ratios = jnp.abs(f1 - f0[None]) / jnp.linalg.norm(delta, axis=-1)
    return ratios.reshape(n_pairs, *lead)


def pair_ratios(f: Callable[[Array], Array], x: Array, y: Array) -> Array:
    """``|f(x_i) − f(y_i)| / ‖x_i − y_i‖`` ``[*B]`` for given pairs."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    d = x.shape[-1]
    fv = jax.vmap(f)
    num = jnp.abs(fv(x.reshape(-1, d)) - fv(y.reshape(-1, d)))
    return (num / jnp.linalg.norm((x - y).reshape(-1, d), axis=-1)).reshape(x.shape[:-1])


def fd_lipschitz(
    f: Callable[[Array], Array], x: Array, key: Array, radius: float = 1e-3, n_pairs: int = 1
) -> Array:
    """Max finite-difference ratio over all probed pairs (a lower bound on Lip(f) there)."""
    return jnp.max(finite_difference_ratios(f, x, key, radius, n_pairs))


def summarize(values: Array) -> dict[str, Array]:
    """``mean``, ``max``, ``min``, ``std``, ``median`` over all entries of ``values``."""
    v = jnp.ravel(jnp.asarray(values))
    return {
        "mean": jnp.mean(v),
        "max": jnp.max(v),
        "min": jnp.min(v),
        "std": jnp.std(v),
        "median": jnp.median(v),
    }
