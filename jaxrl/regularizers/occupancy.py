"""Exact divergences between occupancy measures (the exact layer of ORPO; theory.md §4).

Every function works on *generic* arrays: a normalised discounted occupancy ``μ [S, A]`` (from
:func:`jaxrl.mdp.occupancy_measure`), a state marginal ``[S]`` (:func:`state_marginal`), or the
finite-horizon per-time visitation ``[H, S, A]`` of a sparse successor-list MDP. The arrays are
treated as (sub-)distributions over their cells:

* ``axis=None`` (default) sums over **all** cells, so the inputs should each sum to 1. For a
  per-time visitation ``[H, S, A]`` (each slice sums to 1), either time-average first
  (``visits.mean(0)``, the pooled occupancy a time-blind discriminator sees) or pass
  ``axis=(-2, -1)`` to get one divergence per time step ``[H]``.
* Nothing is renormalised here; the formulas below are the standard ones for normalised inputs.

Definitions (``w = μ / μ_ref``):

* ``chi2(μ, μ_ref) = Σ (μ − μ_ref)² / μ_ref = E_{μ_ref}[(w − 1)²]``,
* ``sqrt_chi2 = √chi2`` (its gradient at ``chi2 = 0`` is taken as 0, a valid subgradient),
* ``kl(μ, μ_ref) = Σ μ log(μ / μ_ref)`` with ``0 log 0 = 0``,
* ``tv(μ, μ_ref) = ½ Σ |μ − μ_ref|``.

**Zero support.** Where ``μ_ref = 0`` and ``μ > 0`` the χ² and KL terms are ``+inf`` (the
divergence is infinite, as in the definition); where both are 0 the cell contributes 0. TV is
always finite. Gradients use the "double-where" trick, so they are finite wherever the value is
(and zero through an infinite cell). All functions keep the input dtype (float64 under
``jax.enable_x64``) and are jitted (``axis`` static) so eager callers share compiled kernels.

Also here (used by the theory checks): :func:`bayes_optimal_logit` ``d* = log μ/μ_ref``, the
minimiser of the ORPO discriminator's population loss
(:func:`jaxrl.rewards.occupancy_ratio.population_logistic_loss`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

Array = Any
Axis = int | tuple[int, ...] | None


def _pair(mu: Array, mu_ref: Array) -> tuple[Array, Array]:
    mu = jnp.asarray(mu)
    mu_ref = jnp.asarray(mu_ref)
    dt = jnp.result_type(mu, mu_ref, float)
    return mu.astype(dt), mu_ref.astype(dt)


@partial(jax.jit, static_argnames="axis")
def chi2(mu: Array, mu_ref: Array, axis: Axis = None) -> Array:
    """Pearson ``χ²(μ ‖ μ_ref) = Σ (μ − μ_ref)² / μ_ref``; ``+inf`` where ``μ > 0 = μ_ref``."""
    mu, mu_ref = _pair(mu, mu_ref)
    pos = mu_ref > 0
    safe_ref = jnp.where(pos, mu_ref, 1.0)
    term = jnp.where(pos, (mu - mu_ref) ** 2 / safe_ref, jnp.where(mu > 0, jnp.inf, 0.0))
    return jnp.sum(term, axis=axis)


@partial(jax.jit, static_argnames="axis")
def sqrt_chi2(mu: Array, mu_ref: Array, axis: Axis = None) -> Array:
    """``√χ²(μ ‖ μ_ref)`` (the ORPO / correlated-proxy regulariser); subgradient 0 at ``χ² = 0``."""
    c = chi2(mu, mu_ref, axis=axis)
    pos = c > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, c, 1.0)), 0.0)


@partial(jax.jit, static_argnames="axis")
def kl(mu: Array, mu_ref: Array, axis: Axis = None) -> Array:
    """``KL(μ ‖ μ_ref) = Σ μ log(μ/μ_ref)``, ``0 log 0 = 0``; ``+inf`` if ``μ > 0 = μ_ref``."""
    mu, mu_ref = _pair(mu, mu_ref)
    pos = mu > 0
    ref_pos = mu_ref > 0
    safe_mu = jnp.where(pos, mu, 1.0)
    safe_ref = jnp.where(ref_pos, mu_ref, 1.0)
    finite = mu * (jnp.log(safe_mu) - jnp.log(safe_ref))
    term = jnp.where(pos, jnp.where(ref_pos, finite, jnp.inf), 0.0)
    return jnp.sum(term, axis=axis)


@partial(jax.jit, static_argnames="axis")
def tv(mu: Array, mu_ref: Array, axis: Axis = None) -> Array:
    """Total variation ``½ Σ |μ − μ_ref|`` (in ``[0, 1]`` for normalised inputs)."""
    mu, mu_ref = _pair(mu, mu_ref)
    return 0.5 * jnp.sum(jnp.abs(mu - mu_ref), axis=axis)


#: name -> exact divergence ``f(mu, mu_ref, axis=None)``.
DIVERGENCES = {"chi2": chi2, "sqrt_chi2": sqrt_chi2, "kl": kl, "tv": tv}


def divergence(name: str):
    """The exact divergence called ``name`` (one of :data:`DIVERGENCES`)."""
    if name not in DIVERGENCES:
        raise ValueError(f"unknown divergence {name!r}; expected one of {sorted(DIVERGENCES)}")
    return DIVERGENCES[name]


def state_marginal(mu: Array) -> Array:
    """State-only occupancy ``μ(s) = Σ_a μ(s, a)`` (sums out the last, action, axis).

    Works on ``[S, A]`` and on per-time ``[H, S, A]`` arrays alike. The state-only ORPO variant
    (discriminator inputs ``"s"``) regularises ``D(μ_π(s) ‖ μ_ref(s))``.
    """
    return jnp.sum(jnp.asarray(mu), axis=-1)


@jax.jit
def bayes_optimal_logit(mu: Array, mu_ref: Array) -> Array:
    """The Bayes-optimal logistic discriminator ``d* = log(μ / μ_ref)`` (cellwise).

    ``+inf`` where ``μ > 0 = μ_ref``, ``−inf`` where ``μ = 0 < μ_ref``, and 0 where both are 0 (a
    cell no sample ever reaches; any value minimises the loss there).
    """
    mu, mu_ref = _pair(mu, mu_ref)
    pos, ref_pos = mu > 0, mu_ref > 0
    ratio = jnp.log(jnp.where(pos, mu, 1.0)) - jnp.log(jnp.where(ref_pos, mu_ref, 1.0))
    return jnp.where(
        pos & ref_pos, ratio, jnp.where(pos, jnp.inf, jnp.where(ref_pos, -jnp.inf, 0.0))
    )
