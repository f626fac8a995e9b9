"""EPIC: the Equivalent-Policy Invariant Comparison pseudometric (Gleave et al., ICLR 2021).

A. Gleave, M. Dennis, S. Legg, S. Russell, J. Leike, "Quantifying Differences in Reward
Functions", arXiv 2006.13900; reference code ``HumanCompatibleAI/evaluating-rewards``
(``distances/tabular.py``: ``fully_connected_random_canonical_reward``).

Tabular rewards ``R [S, A, S']``; ``S, S' ~ D_S`` independently and ``A ~ D_A``:

* canonically shaped reward (paper, Def. 4.1)::

      C(R)(s, a, s') = R(s, a, s') + E[γ R(s', A, S') − R(s, A, S') − γ R(S, A, S')]
                     = R(s, a, s') + γ m(s') − m(s) − γ m̄,
      m(s) = E_{A~D_A, S'~D_S} R(s, A, S'),   m̄ = E_{S~D_S} m(S).

  ``C`` is linear and removes potential shaping exactly: ``C(R + γΦ(s') − Φ(s)) = C(R)`` for
  any ``Φ``, ``D_S`` and ``D_A`` (``C(γΦ(s') − Φ(s)) = 0``).
* Pearson distance (Def. 4.2): ``D_ρ(X, Y) = √((1 − ρ(X, Y)) / 2)``.
* EPIC (Def. 4.3): ``D_EPIC(R_A, R_B) = D_ρ(C(R_A)(S, A, S'), C(R_B)(S, A, S'))`` with
  ``(S, A, S') ~ D``, the coverage distribution (default ``D_S × D_A × D_S``).

Numerics: ``1 − ρ`` is computed as ``½ E_w[(u − v)²]`` with ``u, v`` the standardised
(weighted-mean-zero, unit weighted variance) canonical rewards. This equals ``1 − ρ`` exactly in
real arithmetic but has no cancellation near ``ρ = 1``, so invariances give ``1 − ρ`` at the
``1e-30``–``1e-16`` level and ``D = ½ √E_w[(u − v)²]`` (the chordal distance between ``u`` and
``v`` on the unit sphere of ``L²(w)``) stays accurate for tiny distances. Still, theory checks
should test "``D = 0``" as ``1 − ρ ≤ 1e-12`` (:func:`epic_one_minus_rho`), not ``D ≤ 1e-12``
(theory.md §0.1). If either canonical reward is constant on the support of the coverage
distribution (e.g. ``R`` is pure potential shaping), ``ρ`` is undefined and the result is NaN.

All functions are jittable (the numeric cores are ``jax.jit``-ed; call the public functions
inside your own ``jit`` too) and float64-ready (use ``jax.enable_x64``). Outside ``jit``,
arguments are validated: wrong shapes, negative or non-finite probabilities and distributions
that do not sum to 1 (``atol = 1e-6``) raise ``ValueError`` naming the argument. Under tracing
only the (static) shape checks run.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = Any

_DIST_ATOL = 1e-6


# ----------------------------------------------------------------------------- validation
def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_shape(name: str, x: Array, shape: tuple[int, ...], what: str) -> None:
    if tuple(jnp.shape(x)) != tuple(shape):
        raise ValueError(
            f"{name} has shape {tuple(jnp.shape(x))}, expected {tuple(shape)} ({what})"
        )


def _check_distribution(name: str, p: Array) -> None:
    """Non-negative, finite, sums to 1 (only on concrete arrays)."""
    if not _concrete(p):
        return
    p = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} has non-finite entries")
    if np.any(p < 0):
        idx = tuple(int(i) for i in np.argwhere(p < 0)[0])
        raise ValueError(f"{name}[{idx}] = {p[idx]:.6g} is negative; {name} must be a distribution")
    total = float(p.sum())
    if abs(total - 1.0) > _DIST_ATOL:
        raise ValueError(f"{name} sums to {total:.6g}, expected 1")


def _check_reward(name: str, R: Array) -> tuple[int, int]:
    if jnp.ndim(R) != 3 or jnp.shape(R)[0] != jnp.shape(R)[2]:
        raise ValueError(
            f"{name} must have shape [S, A, S] with S' == S, got {tuple(jnp.shape(R))}"
        )
    S, A, _ = jnp.shape(R)
    return S, A


def _check_gamma(gamma) -> None:
    if jnp.ndim(gamma) != 0:
        raise ValueError(f"gamma must be a scalar, got shape {tuple(jnp.shape(gamma))}")
    if _concrete(gamma):
        g = float(gamma)
        if not (np.isfinite(g) and 0.0 <= g <= 1.0):
            raise ValueError(f"gamma = {g:.6g} is outside [0, 1]")


def _validate_canonical_args(R, gamma, state_dist, action_dist, name: str = "R") -> None:
    S, A = _check_reward(name, R)
    _check_gamma(gamma)
    _check_shape("state_dist", state_dist, (S,), f"[S] to match {name} {tuple(jnp.shape(R))}")
    _check_shape("action_dist", action_dist, (A,), f"[A] to match {name} {tuple(jnp.shape(R))}")
    _check_distribution("state_dist", state_dist)
    _check_distribution("action_dist", action_dist)


# ----------------------------------------------------------------------------- numeric cores
@jax.jit
def _canonicalize(R, gamma, state_dist, action_dist):
    m = jnp.einsum("sat,a,t->s", R, action_dist, state_dist)  # m(s) = E_{A, S'} R(s, A, S')
    m_bar = jnp.dot(state_dist, m)  # E_S m(S)
    return R + gamma * m[None, None, :] - m[:, None, None] - gamma * m_bar


def _standardise(x, w):
    xc = x - jnp.sum(w * x)
    return xc / jnp.sqrt(jnp.sum(w * xc * xc))


@jax.jit
def _one_minus_rho(x, y, w):
    u, v = _standardise(x, w), _standardise(y, w)
    # ½ E_w[(u − v)²] = ½ (E u² + E v²) − E uv = 1 − ρ; clip the round-off outside [0, 2].
    return jnp.clip(0.5 * jnp.sum(w * (u - v) ** 2), 0.0, 2.0)


@jax.jit
def _epic_one_minus_rho(R_a, R_b, gamma, state_dist, action_dist, coverage):
    C_a = _canonicalize(R_a, gamma, state_dist, action_dist)
    C_b = _canonicalize(R_b, gamma, state_dist, action_dist)
    return _one_minus_rho(C_a, C_b, coverage)


def _distance(one_minus_rho):
    return jnp.sqrt(one_minus_rho / 2.0)


# ----------------------------------------------------------------------------- public API
def canonicalize(R: Array, gamma: float | Array, state_dist: Array, action_dist: Array) -> Array:
    """Canonically shaped reward ``C(R) [S, A, S']`` (Gleave et al. 2021, Def. 4.1).

    ``C(R)(s, a, s') = R(s, a, s') + γ m(s') − m(s) − γ m̄`` with
    ``m(s) = Σ_{a, s'} D_A(a) D_S(s') R(s, a, s')`` and ``m̄ = Σ_s D_S(s) m(s)``.

    Args:
      R: ``[S, A, S']`` transition reward ``R(s, a, s')``.
      gamma: scalar discount γ ∈ [0, 1] (the one the shaping to be removed uses).
      state_dist: ``[S]`` ``D_S`` (used for both ``S`` and ``S'``).
      action_dist: ``[A]`` ``D_A``.

    Returns:
      ``[S, A, S']`` ``C(R)``; ``C(R + γΦ(s') − Φ(s)) = C(R)`` for every ``Φ [S]``.
    """
    _validate_canonical_args(R, gamma, state_dist, action_dist)
    return _canonicalize(R, gamma, state_dist, action_dist)


def pearson_one_minus_rho(x: Array, y: Array, weights: Array) -> Array:
    """``1 − ρ_w(x, y) ∈ [0, 2]``: one minus the Pearson correlation under ``weights``.

    ``ρ_w = Cov_w(x, y) / √(Var_w x · Var_w y)`` with ``E_w[f] = Σ_i w_i f_i``; all three arrays
    have the same (any) shape and ``weights`` is a distribution. Computed as ``½ E_w[(u − v)²]``
    with ``u, v`` the standardised ``x, y`` (accurate near ρ = 1). Test "distance = 0" with this.
    """
    _check_shape("y", y, jnp.shape(x), "the shape of x")
    _check_shape("weights", weights, jnp.shape(x), "the shape of x")
    _check_distribution("weights", weights)
    return _one_minus_rho(x, y, weights)


def pearson_distance(x: Array, y: Array, weights: Array) -> Array:
    """Pearson distance ``D_ρ(x, y) = √((1 − ρ_w(x, y)) / 2) ∈ [0, 1]`` (Gleave et al., Def. 4.2).

    Args:
      x, y: arrays of the same shape (e.g. ``[S, A, S']`` canonical rewards).
      weights: same shape, a distribution (e.g. the coverage ``D``); zero weights drop entries.
    """
    return _distance(pearson_one_minus_rho(x, y, weights))


def product_coverage(state_dist: Array, action_dist: Array) -> Array:
    """``[S, A, S']`` default coverage ``D(s, a, s') = D_S(s) D_A(a) D_S(s')``."""
    return state_dist[:, None, None] * action_dist[None, :, None] * state_dist[None, None, :]


def _epic_args(R_a, R_b, gamma, state_dist, action_dist, coverage):
    _validate_canonical_args(R_a, gamma, state_dist, action_dist, name="R_a")
    _check_shape("R_b", R_b, jnp.shape(R_a), "the shape of R_a")
    state_dist = jnp.asarray(state_dist)
    action_dist = jnp.asarray(action_dist)
    if coverage is None:
        coverage = product_coverage(state_dist, action_dist)
    else:
        _check_shape("coverage", coverage, jnp.shape(R_a), "[S, A, S'] like R_a")
        _check_distribution("coverage", coverage)
    return R_a, R_b, gamma, state_dist, action_dist, coverage


def epic_one_minus_rho(
    R_a: Array,
    R_b: Array,
    gamma: float | Array,
    state_dist: Array,
    action_dist: Array,
    coverage: Array | None = None,
) -> Array:
    """``1 − ρ(C(R_a), C(R_b))`` under ``coverage``; ``D_EPIC = √((1 − ρ)/2)``.

    Use this for "``D_EPIC = 0``" checks (``1 − ρ ≤ 1e-12``, theory.md §0.1). Arguments as in
    :func:`epic_distance`.
    """
    args = _epic_args(R_a, R_b, gamma, state_dist, action_dist, coverage)
    return _epic_one_minus_rho(*args)


def epic_distance(
    R_a: Array,
    R_b: Array,
    gamma: float | Array,
    state_dist: Array,
    action_dist: Array,
    coverage: Array | None = None,
) -> Array:
    """``D_EPIC(R_a, R_b) = D_ρ(C(R_a)(S, A, S'), C(R_b)(S, A, S'))``, ``(S, A, S') ~ coverage``.

    A pseudometric on rewards with values in ``[0, 1]``: ``D(R, R) = 0``, symmetric, triangle
    inequality, ``D(R, −R) = 1``; invariant to potential shaping (with this ``γ``) and to positive
    rescaling of either argument (Gleave et al. 2021, Prop. 4.5).

    Args:
      R_a, R_b: ``[S, A, S']`` rewards.
      gamma: scalar γ used by the canonicalisation.
      state_dist: ``[S]`` ``D_S``.
      action_dist: ``[A]`` ``D_A``.
      coverage: ``[S, A, S']`` distribution ``D`` of the transitions compared; default
        ``D_S × D_A × D_S`` (:func:`product_coverage`).

    Returns:
      Scalar ``D_EPIC`` (NaN if a canonical reward is constant on the coverage support).
    """
    return _distance(epic_one_minus_rho(R_a, R_b, gamma, state_dist, action_dist, coverage))


__all__ = [
    "canonicalize",
    "epic_distance",
    "epic_one_minus_rho",
    "pearson_distance",
    "pearson_one_minus_rho",
    "product_coverage",
]
