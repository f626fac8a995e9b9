"""Constrained RLHF with composite reward models: a Lagrangian reward whose multipliers learn.

Moskovitz et al. 2023, "Confronting Reward Model Overoptimization with Constrained RLHF"
(arXiv 2310.04373). The reward is a composition of ``M`` component RMs ``r_i``; each is a useful
proxy only up to its *proxy point* ``θ_i`` (the component value past which the gold utility
falls). Instead of fixed weights, the policy solves the constrained problem

    max_π  Σ_i μ_i v_i(π)   s.t.   v_i(π) ≤ θ_i  (i = 1..M),       v_i(π) = E_π[r_i]

(``μ`` = base weights, uniform by default) through its Lagrangian (the paper's §4, Eq. 4-5 form
``L(π, λ) = Σ_i μ_i v_i − Σ_i λ_i (v_i − θ_i)``, λ ≥ 0). For fixed ``λ`` the policy maximises the
composite reward

    r_λ = Σ_i (μ_i − λ_i) r_i                       (primal, :func:`lagrangian_reward`)

and the multipliers follow projected dual descent on ``L`` (ascent on the violation):

    λ_i ← max(0, λ_i + η (v̄_i − θ_i))                                   (dual, :func:`dual_step`)

with ``v̄_i`` a running average of component ``i``'s reward under the current policy: a
component above its threshold loses weight (its weight turns negative if needed), one below keeps
``λ_i = 0`` (complementary slackness). The paper's PPO learns λ alongside the policy; here that
is transform *state* (:func:`constrained_table_reward`), updated inside ``apply`` on every
vector-env step, so it runs through the one reward path (``make_train(..., transform)``) with
seeds as one vmapped params axis.

:func:`solve_bandit_lagrangian` is the exact counterpart on a one-context bandit with an
entropy-regularised (softmax) policy: best response ``π_λ ∝ exp(r_λ / τ)`` and the same dual step,
iterated to the saddle point (``theory_checks/check_lagrangian.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any


def lagrangian_reward(components, lam, base_weights):
    """``r_λ = Σ_i (μ_i − λ_i) r_i``: ``components [*B, M]``, ``lam``, ``base_weights [M]`` ->
    ``[*B]`` (the reward that maximises the Lagrangian for fixed λ)."""
    return jnp.sum(components * (base_weights - lam), axis=-1)


def dual_step(lam, value, threshold, lr):
    """Projected dual step ``λ ← max(0, λ + η (v − θ))`` on ``[M]`` arrays (``lr = η``)."""
    return jnp.maximum(lam + lr * (value - threshold), 0.0)


class ConstrainedParams(NamedTuple):
    """Params of :func:`constrained_table_reward` (every leaf vmappable over runs).

    Attributes:
      tables: ``[M, U, P, K]`` the component RMs on every (user, prompt, response).
      threshold: ``[M]`` θ_i, each component's proxy point.
      base_weights: ``[M]`` μ_i.
      dual_lr: ``[]`` η, dual step per vector-env step.
      avg_rate: ``[]`` α in ``v̄ ← (1 − α) v̄ + α·mean_batch(r_i)``.
    """

    tables: Array
    threshold: Array
    base_weights: Array
    dual_lr: Array
    avg_rate: Array


class ConstrainedState(NamedTuple):
    """``lam [M]`` the multipliers and ``value [M]`` the running component averages v̄."""

    lam: Array
    value: Array


def table_components(tables, obs, action, num_prompts: int, num_users: int):
    """Component rewards ``[*B, M]`` of the preference bandit's ``obs [*B, P + U + D]`` and
    ``action [*B]``, read from ``tables [M, U, P, K]`` (the obs' one-hot prompt and user)."""
    P, U = num_prompts, num_users
    p = jnp.argmax(obs[..., :P], axis=-1)
    u = jnp.argmax(obs[..., P : P + U], axis=-1)
    a = jnp.asarray(action, jnp.int32)
    return jnp.moveaxis(tables[:, u, p, a], 0, -1)


def constrained_table_reward(
    num_prompts: int, num_users: int, default_params: ConstrainedParams | None = None
) -> RewardTransform:
    """The Lagrangian composite reward on the preference bandit, multipliers as state.

    Each ``apply`` on a batch ``[*B]``: component rewards ``r [*B, M]`` from the tables, then
    ``v̄ ← (1 − α) v̄ + α·mean_B(r)``, ``λ ← max(0, λ + η (v̄ − θ))``, reward ``Σ (μ − λ) r``
    with the updated λ. State starts at λ = 0 and v̄ = 0 (the tables are normalised to mean 0
    under π_ref, the policy PPO starts near). The state is shared across the batch."""
    P, U = int(num_prompts), int(num_users)
    if P < 1 or U < 1:
        raise ValueError(f"constrained_table_reward: num_prompts={P}, num_users={U} must be >= 1")

    def init(params: ConstrainedParams) -> ConstrainedState:
        m = jnp.shape(params.threshold)[-1]
        return ConstrainedState(jnp.zeros(m, jnp.float32), jnp.zeros(m, jnp.float32))

    def apply(params: ConstrainedParams, state: ConstrainedState, tr: Transition):
        r = table_components(params.tables, tr.obs, tr.action, P, U)  # [*B, M]
        batch_mean = jnp.mean(r.reshape(-1, r.shape[-1]), axis=0)
        value = (1.0 - params.avg_rate) * state.value + params.avg_rate * batch_mean
        lam = dual_step(state.lam, value, params.threshold, params.dual_lr)
        reward = lagrangian_reward(r, lam, params.base_weights)
        return reward, ConstrainedState(lam, value)

    return RewardTransform(init, apply, () if default_params is None else default_params)


def simplex_grid(num_components: int, divisions: int) -> np.ndarray:
    """Every weight vector with entries ``k / divisions`` summing to 1: ``[G, M]`` (vertices
    first, in component order, then the rest lexicographically)."""
    M, n = int(num_components), int(divisions)
    if M < 1 or n < 1:
        raise ValueError(f"simplex_grid: num_components={M}, divisions={n} must be >= 1")
    pts = [c for c in itertools.product(range(n + 1), repeat=M) if sum(c) == n]
    verts = [tuple(n * (j == i) for j in range(M)) for i in range(M)]
    rest = sorted(set(pts) - set(verts), reverse=True)
    return np.asarray(verts + rest, np.float64) / n


def moving_average(x, window: int) -> np.ndarray:
    """Trailing moving average along the last axis (the first ``window − 1`` points average
    what is there): same shape as ``x``."""
    x = np.asarray(x, np.float64)
    if window < 1:
        raise ValueError(f"moving_average: window={window} must be >= 1")
    c = np.cumsum(x, axis=-1)
    out = c.copy()
    out[..., window:] = c[..., window:] - c[..., :-window]
    count = np.minimum(np.arange(1, x.shape[-1] + 1), window)
    return out / count


def proxy_point(component_curve, gold_curve, window: int = 1):
    """The proxy point of a run optimising one component: the (smoothed) component value at the
    update where the (smoothed) gold utility peaks. ``[..., T]`` curves -> ``(value [...],
    peak index [...])``; a peak at ``T − 1`` means gold never fell (the point is censored)."""
    c, g = moving_average(component_curve, window), moving_average(gold_curve, window)
    t = np.argmax(g, axis=-1)
    return np.take_along_axis(c, t[..., None], axis=-1)[..., 0], t


class BanditLagrangian(NamedTuple):
    """Result of :func:`solve_bandit_lagrangian`: ``lam [M]``, ``policy [K]``, ``value [M]``."""

    lam: Array
    policy: Array
    value: Array


def solve_bandit_lagrangian(
    components,
    threshold,
    base_weights,
    tau: float,
    lr: float,
    iters: int,
    dual_update: Callable = dual_step,
) -> BanditLagrangian:
    """Exact primal-dual iteration on a one-context bandit with entropy bonus ``τ H(π)``.

    ``components [M, K]`` the component rewards of each arm. Primal: the exact best response
    ``π_λ = softmax(Σ_i (μ_i − λ_i) c_i / τ)``; dual: ``λ ← dual_update(λ, v(π_λ), θ, lr)``
    (:func:`dual_step`), ``iters`` times from λ = 0. The dual function is smooth with constant
    ``≤ max_k ‖c_k‖² / τ``, so ``lr`` below ``τ / max_k ‖c_k‖²`` converges. Returns the final λ,
    its best response and the component values; dtype follows the inputs (float64 under x64).
    """
    c = jnp.asarray(components)
    theta, mu = jnp.asarray(threshold, c.dtype), jnp.asarray(base_weights, c.dtype)

    def best_response(lam):
        pi = jax.nn.softmax(lagrangian_reward(c.T, lam, mu) / tau)  # [K]
        return pi, c @ pi

    def body(_, lam):
        return dual_update(lam, best_response(lam)[1], theta, lr)

    lam = jax.lax.fori_loop(0, int(iters), body, jnp.zeros_like(theta))
    pi, v = best_response(lam)
    return BanditLagrangian(lam, pi, v)
