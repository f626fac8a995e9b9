"""Exact infinite-horizon solvers: evaluation, control, occupancy measures, returns.

All functions are pure ``jnp`` (jit- and vmap-compatible; vmap over a batch of
:class:`TabularMDP`). Each public solver checks the invariants it depends on at its Python
boundary when its inputs are concrete (:func:`~jaxrl.mdp.core.check_mdp`: shapes, stochastic ``P``,
``γ ∈ [0, 1]``, a terminal structure at ``γ = 1``) and raises ``ValueError`` naming the bad entry;
inside a caller's ``jit`` / ``vmap`` nothing is checked. The solvers
are wrapped in ``jax.jit`` so eager callers (tests, theory checks) compile once per shape and
dtype and reuse the executable; inside a caller's ``jit`` they are simply inlined. Policies are
stochastic arrays ``pi [S, A]`` whose rows sum to 1 (deterministic = one-hot).

Terminal states are masked everywhere: their reward and continuation are dropped, so
``V(s_term) = Q(s_term, ·) = 0``. That makes ``γ = 1`` solvable for proper policies, because
``I − γ P̃_π`` (``P̃`` = ``P`` with terminal rows zeroed) is then non-singular.

Normalisations (theory.md §0.1): ``occupancy_measure`` is the *normalised* discounted occupancy
``μ_π(s, a) = (1 − γ) Σ_t γ^t Pr(s_t = s, a_t = a)`` (sums to 1), ``expected_return`` is the
*unnormalised* return ``J(π) = E_{d0}[Σ_t γ^t R_t] = Σ_s d0(s) V^π(s)``, and they are related by
``J = Σ_{s,a} μ_π(s, a) r(s, a) / (1 − γ)`` for ``γ < 1``. ``discounted_visits`` gives the
unnormalised ``ν_π = μ_π / (1 − γ)`` on non-terminal states, with ``J = Σ ν_π r`` for every γ.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from jaxrl.mdp.core import TabularMDP, check_mdp

Array = Any


class Solution(NamedTuple):
    """What every control solver returns, in this order (it unpacks as ``V, Q, pi = ...``).

    Stationary solvers (:func:`value_iteration`, :func:`policy_iteration`) give ``V [S]``,
    ``Q [S, A]``, ``pi [S, A]``; finite-horizon ones (:func:`jaxrl.mdp.finite_horizon`,
    :func:`jaxrl.mdp.sparse.finite_horizon_sparse`) give the time-indexed ``V [H + 1, S]`` (``V[H]``
    the terminal value), ``Q [H, S, A]`` and ``pi [H, S, A]``.

    Attributes:
      V: optimal state values (zero on terminal states).
      Q: optimal action values (zero on terminal states).
      pi: a one-hot optimal (greedy) policy.
    """

    V: Array
    Q: Array
    pi: Array


def _checked(**opts):
    """Wrap a jitted solver ``f(mdp, pi?, ...)`` with :func:`check_mdp` on concrete inputs."""

    def wrap(jitted):
        @functools.wraps(jitted)
        def solver(mdp, *args, **kwargs):
            policy = (args[0] if args else kwargs.get("pi")) if opts.get("policy") else None
            check_mdp(
                mdp,
                jitted.__name__,
                policy=policy,
                uses_init=opts.get("uses_init", False),
                control=opts.get("control", False),
            )
            return jitted(mdp, *args, **kwargs)

        solver.jitted = jitted
        return solver

    return wrap


# ----------------------------------------------------------------------------- policy helpers
def greedy_policy(Q: Array) -> Array:
    """``[S, A]`` one-hot policy on the first argmax of ``Q [S, A]`` (ties -> lowest index)."""
    return jax.nn.one_hot(jnp.argmax(Q, axis=-1), Q.shape[-1], dtype=Q.dtype)


def softmax_policy(logits: Array, temperature: float | Array = 1.0) -> Array:
    """``[S, A]`` policy ``softmax(logits / temperature)`` along the action axis."""
    return jax.nn.softmax(logits / temperature, axis=-1)


def optimal_action_sets(Q: Array, tol: float = 1e-9) -> Array:
    """``[S, A]`` bool mask ``{a : Q(s, a) >= max_a' Q(s, a') − tol}``.

    Compare optimal-action *sets*, not argmax indices (ties make argmax arbitrary).
    """
    return Q >= jnp.max(Q, axis=-1, keepdims=True) - tol


def policy_transition(mdp: TabularMDP, pi: Array) -> Array:
    """``[S, S']`` state-to-state kernel ``P_π(s'|s) = Σ_a π(a|s) P(s'|s, a)`` (unmasked)."""
    return jnp.einsum("sa,sat->st", pi, mdp.P)


def _solve(M: Array, b: Array) -> Array:
    """``M⁻¹ b`` by LU; compiles ~3x faster than ``jnp.linalg.solve`` (which wraps
    ``custom_linear_solve``) and is still differentiable and vmappable."""
    return jsl.lu_solve(jsl.lu_factor(M), b)


def _live(mdp: TabularMDP) -> Array:
    """``[S]`` 1.0 on non-terminal states, 0.0 on terminal states."""
    return (~mdp.terminal_mask).astype(mdp.P.dtype)


# ----------------------------------------------------------------------------- evaluation
@_checked(policy=True)
@jax.jit
def policy_evaluation(mdp: TabularMDP, pi: Array) -> Array:
    """``V^π [S]`` by the linear solve ``(I − γ P̃_π) V = r̃_π`` (terminal rows masked, V = 0)."""
    live = _live(mdp)
    P_pi = policy_transition(mdp, pi) * live[:, None]
    r_pi = jnp.sum(pi * mdp.expected_reward, axis=-1)
    eye = jnp.eye(mdp.n_states, dtype=P_pi.dtype)
    return _solve(eye - mdp.gamma * P_pi, r_pi)


@jax.jit
def q_values(mdp: TabularMDP, V: Array) -> Array:
    """``Q [S, A] = r(s, a) + γ Σ_{s'} P(s'|s, a) V(s')``, zero on terminal states."""
    cont = jnp.einsum("sat,t->sa", mdp.P, V)
    return mdp.expected_reward + mdp.gamma * cont * _live(mdp)[:, None]


@_checked(policy=True)
@jax.jit
def q_pi(mdp: TabularMDP, pi: Array) -> Array:
    """``Q^π [S, A]`` = ``q_values(mdp, policy_evaluation(mdp, pi))``."""
    return q_values(mdp, policy_evaluation(mdp, pi))


@_checked(policy=True, uses_init=True)
@jax.jit
def expected_return(mdp: TabularMDP, pi: Array, R: Array | None = None) -> Array:
    """Unnormalised return ``J(π) = Σ_s d0(s) V^π(s)`` (scalar).

    Args:
      mdp: the dynamics, discount and ``d0``.
      pi: ``[S, A]`` policy.
      R: optional ``[S, A, S']`` alternative reward on the same dynamics, so ``J(π, R')`` is one
        call (default: ``mdp.R``).

    Identity (γ < 1): ``J = Σ_{s,a} occupancy_measure(mdp, pi) · r / (1 − γ)``.
    """
    if R is not None:
        mdp = mdp.replace(R=jnp.broadcast_to(jnp.asarray(R, mdp.P.dtype), mdp.P.shape))
    return jnp.dot(mdp.init_dist, policy_evaluation(mdp, pi))


# ----------------------------------------------------------------------------- occupancy
def _arrival_visits(mdp: TabularMDP, pi: Array) -> Array:
    """``[S]`` ``ν(s) = Σ_t γ^t Pr(s_t = s, not absorbed before t)``; from ``(I − γ P̃_πᵀ) ν = d0``.

    For a terminal state this is ``E[γ^T]`` at its (first) arrival time ``T``, counted once.
    """
    P_pi = policy_transition(mdp, pi) * _live(mdp)[:, None]
    eye = jnp.eye(mdp.n_states, dtype=P_pi.dtype)
    return _solve(eye - mdp.gamma * P_pi.T, mdp.init_dist)


@_checked(policy=True, uses_init=True)
@jax.jit
def discounted_visits(mdp: TabularMDP, pi: Array) -> Array:
    """Unnormalised ``ν_π(s, a) = Σ_t γ^t Pr(s_t = s, a_t = a)`` on non-terminal states ``[S, A]``.

    Zero on terminal states. ``J(π) = Σ ν_π r`` holds for every γ, including γ = 1 with a proper
    policy (then ν is the expected number of visits before absorption).
    """
    nu = _arrival_visits(mdp, pi) * _live(mdp)
    return nu[:, None] * pi


@_checked(policy=True, uses_init=True)
@jax.jit
def occupancy_measure(mdp: TabularMDP, pi: Array) -> Array:
    """``[S, A]`` normalised discounted occupancy ``μ_π(s, a) = (1 − γ) Σ_t γ^t Pr(s_t=s, a_t=a)``.

    Sums to 1. Equivalent to solving ``(I − γ P_πᵀ) d = (1 − γ) d0`` with the *absorbing* (unmasked)
    dynamics and ``μ = d · π``: after absorption the agent keeps occupying the terminal state, so a
    terminal state gets mass ``E[γ^T]`` (arrival time ``T``); since ``r = 0`` there,
    ``J = Σ μ r / (1 − γ)`` still holds. One masked solve (non-singular for every γ < 1) gives
    both parts, so gradients stay finite.

    γ = 1 (our convention): the (1 − γ) normalisation degenerates (all mass ends up on terminal
    states), so we return the expected visit counts of the *non-terminal* states normalised to sum
    to 1 (terminal mass 0): ``μ = ν_π / Σ ν_π``. Then ``J = Σ μ r · Σ ν_π``; use
    :func:`discounted_visits` for the unnormalised counts.
    """
    nu = _arrival_visits(mdp, pi)
    live = _live(mdp)
    discounted = jnp.where(live > 0, (1 - mdp.gamma) * nu, nu)
    visits = nu * live
    # Guard the division so the unused branch cannot produce NaNs (or NaN gradients) at γ < 1.
    total = jnp.sum(visits)
    episodic = visits / jnp.where(total > 0, total, 1.0)
    d = jnp.where(mdp.gamma < 1, discounted, episodic)
    return d[:, None] * pi


# ----------------------------------------------------------------------------- control
def _eps(dtype) -> Array:
    return jnp.finfo(dtype).eps


@_checked(control=True)
@jax.jit
def value_iteration(mdp: TabularMDP, tol: float = 1e-12, max_iters: int = 100_000) -> Solution:
    """Optimal ``Solution(V* [S], Q* [S, A], pi [S, A])`` by value iteration (``lax.while_loop``),
    starting at V = 0; ``pi`` is :func:`greedy_policy` of ``Q*``.

    Stops when the sup-norm error bound is below ``tol``: for γ < 1 when
    ``γ/(1 − γ) ‖V_{k+1} − V_k‖_∞ <= tol`` (which bounds ``‖V_{k+1} − V*‖_∞``); for γ = 1 when
    ``‖V_{k+1} − V_k‖_∞ <= tol`` (convergence needs every policy proper or improper ones to be
    infinitely bad). The tolerance is floored at ``4 eps (1 + ‖V‖_∞)`` of the dtype, so float32
    runs stop at float32 precision instead of running to ``max_iters``.
    """
    V0 = jnp.zeros((mdp.n_states,), mdp.P.dtype)
    gamma = mdp.gamma
    # Successive-difference threshold equivalent to an error of `tol` on V*.
    diff_tol = jnp.where(gamma < 1, tol * (1 - gamma) / jnp.maximum(gamma, 1e-30), tol)

    def cond(carry):
        i, V, diff = carry
        floor = 4 * _eps(V.dtype) * (1 + jnp.max(jnp.abs(V)))
        return (i < max_iters) & (diff > jnp.maximum(diff_tol, floor))

    def body(carry):
        i, V, _ = carry
        V_new = jnp.max(q_values(mdp, V), axis=-1)
        return i + 1, V_new, jnp.max(jnp.abs(V_new - V))

    init = (jnp.asarray(0), V0, jnp.asarray(jnp.inf, V0.dtype))
    _, V, _ = jax.lax.while_loop(cond, body, init)
    Q = q_values(mdp, V)
    return Solution(V=V, Q=Q, pi=greedy_policy(Q))


@_checked(control=True)
@jax.jit
def policy_iteration(mdp: TabularMDP, max_iters: int = 1_000, pi0: Array | None = None) -> Solution:
    """Exact optimal ``Solution(V* [S], Q* [S, A], pi* [S, A] one-hot)`` by Howard policy iteration
    (``while_loop``); ``Q* = q_values(mdp, V*)``.

    Each step evaluates the policy exactly (linear solve) and improves greedily; the current action
    is kept unless another beats it by more than ``64 eps (1 + ‖Q‖_∞)`` (stable tie-breaking, which
    also rules out cycling on round-off), otherwise the lowest-index argmax is taken. Stops when the
    policy is unchanged (finite for γ < 1) or after ``max_iters`` steps (then ``V`` is the value of
    the policy before the last improvement).

    Args:
      mdp: the MDP.
      max_iters: cap on improvement steps.
      pi0: optional ``[S, A]`` initial policy (its argmax is used); default greedy on ``r(s, a)``.
        At γ = 1 the initial policy must be proper.
    """
    A = mdp.n_actions
    dtype = mdp.P.dtype
    first = mdp.expected_reward if pi0 is None else pi0
    a0 = jnp.argmax(first, axis=-1)

    def evaluate(actions):
        return policy_evaluation(mdp, jax.nn.one_hot(actions, A, dtype=dtype))

    def cond(carry):
        i, _, _, changed = carry
        return changed & (i < max_iters)

    def body(carry):
        # V is evaluated at the top of the body (one linear solve in the whole program); when the
        # loop stops, `new == actions`, so the carried V is the value of the returned policy.
        i, actions, _, _ = carry
        V = evaluate(actions)
        Q = q_values(mdp, V)
        q_max = jnp.max(Q, axis=-1)
        q_cur = jnp.take_along_axis(Q, actions[:, None], axis=-1)[:, 0]
        tie = 64 * _eps(dtype) * (1 + jnp.max(jnp.abs(Q)))
        new = jnp.where(q_cur >= q_max - tie, actions, jnp.argmax(Q, axis=-1))
        return i + 1, new, V, jnp.any(new != actions)

    V0 = jnp.zeros((mdp.n_states,), dtype)
    init = (jnp.asarray(0), a0, V0, jnp.asarray(True))
    _, actions, V, _ = jax.lax.while_loop(cond, body, init)
    return Solution(V=V, Q=q_values(mdp, V), pi=jax.nn.one_hot(actions, A, dtype=dtype))
