"""Finite MDPs with successor lists: exact finite-horizon control and evaluation by gathers.

A dense ``[S, A, S']`` :class:`~jaxrl.mdp.TabularMDP` is too big for MDPs with ~10⁴ states (the
tomato gridworld has 26 × 2⁹ = 13,312). :class:`SparseMDP` stores, for every ``(s, a)``, ``K``
successors ``next_state[s, a, k]`` with probabilities ``prob[s, a, k]`` (``K = 1`` for deterministic
dynamics; duplicates and zero-probability entries are allowed) and one or more named reward
channels ``rewards[name][s, a, k]`` paid on the transition to ``next_state[s, a, k]``.

Conventions (as in :mod:`jaxrl.mdp.finite_horizon`): time runs ``t = 0 … H − 1``, undiscounted by
default; ``terminal[s]`` states are absorbing with zero value (``Q_t = V_t = 0``) and carry no
visitation: probability mass that reaches a terminal state leaves the system. Everything is
jitted with ``horizon`` static.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from jaxrl.mdp.solvers import Solution

Array = Any


@flax.struct.dataclass
class SparseMDP:
    """A finite MDP as successor lists (a pytree).

    Attributes:
      next_state: ``[S, A, K]`` int32 successor indices.
      prob: ``[S, A, K]`` their probabilities (each ``[s, a]`` row sums to 1).
      rewards: ``{name: [S, A, K]}`` reward channels ``R(s, a, next_state[s, a, k])``.
      init_dist: ``[S]`` initial state distribution.
      terminal: ``[S]`` bool absorbing zero-value states.
    """

    next_state: Array
    prob: Array
    rewards: dict[str, Array]
    init_dist: Array
    terminal: Array

    @property
    def n_states(self) -> int:
        return int(self.next_state.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.next_state.shape[1])

    @property
    def n_successors(self) -> int:
        return int(self.next_state.shape[2])

    def expected_reward(self, reward: str | Array) -> Array:
        """``[S, A]`` expected reward ``Σ_k prob · R`` of a channel name or an array."""
        r = self.rewards[reward] if isinstance(reward, str) else jnp.asarray(reward)
        if r.ndim == 3:
            r = jnp.sum(self.prob * r, axis=-1)
        if r.shape != self.next_state.shape[:2]:
            raise ValueError(
                f"reward shape {r.shape} does not fit [S, A] = {self.next_state.shape[:2]}"
            )
        return r


def _next_value(mdp: SparseMDP, V: Array) -> Array:
    """``[S, A]`` expected next value ``Σ_k prob[s, a, k] V[next_state[s, a, k]]``."""
    return jnp.sum(mdp.prob * V[mdp.next_state], axis=-1)


@partial(jax.jit, static_argnames=("horizon",))
def _backward(mdp, r, r_tie, horizon, gamma, tie_tol, V_H):
    live = (~mdp.terminal).astype(r.dtype)
    use_tie = r_tie is not None

    def step(carry, _):
        V_next, V2_next = carry
        Q = live[:, None] * (r + gamma * _next_value(mdp, V_next))
        if use_tie:
            Q2 = live[:, None] * (r_tie + gamma * _next_value(mdp, V2_next))
            best = jnp.max(Q, axis=-1, keepdims=True)
            a = jnp.argmax(jnp.where(Q >= best - tie_tol, Q2, -jnp.inf), axis=-1)
            V2 = jnp.take_along_axis(Q2, a[:, None], axis=-1)[:, 0]
        else:
            a = jnp.argmax(Q, axis=-1)
            V2 = V2_next
        V = jnp.take_along_axis(Q, a[:, None], axis=-1)[:, 0]
        return (V, V2), (V, Q, a)

    V_H = V_H * live
    _, (V, Q, a) = jax.lax.scan(
        step, (V_H, jnp.zeros_like(V_H)), None, length=horizon, reverse=True
    )
    pi = jax.nn.one_hot(a, mdp.n_actions, dtype=r.dtype)
    return Solution(V=jnp.concatenate([V, V_H[None]], axis=0), Q=Q, pi=pi)


def finite_horizon_sparse(
    mdp: SparseMDP,
    reward: str | Array = "true_reward",
    *,
    horizon: int,
    tie_break: str | Array | None = None,
    tie_tol: float = 1e-5,
    gamma: float = 1.0,
    terminal_value: Array | None = None,
) -> Solution:
    """Optimal time-dependent values and a greedy policy by backward induction (gathers only).

    ``Q_t(s, a) = Σ_k prob[s, a, k] (R[s, a, k] + γ V_{t+1}(next_state[s, a, k]))``.

    Args:
      mdp: the :class:`SparseMDP`.
      reward: a channel name of ``mdp.rewards``, or an ``[S, A, K]`` / ``[S, A]`` array.
      horizon: H (static, keyword-only).
      tie_break: optional second reward (name or array). Among the actions whose ``Q`` is within
        ``tie_tol`` of the best, the policy picks the one with the highest value of this reward
        *under the policy being built* (a lexicographic optimum). Without it the lowest-index
        argmax is taken (exact float ties only).
      tie_tol: absolute tolerance that defines a tie (used only with ``tie_break``).
      gamma: per-step discount (default 1).
      terminal_value: ``[S]`` ``V[H]`` (default 0).

    Returns:
      :class:`~jaxrl.mdp.solvers.Solution` ``(V [H + 1, S], Q [H, S, A], pi [H, S, A])``.
    """
    r = mdp.expected_reward(reward)
    r_tie = None if tie_break is None else mdp.expected_reward(tie_break).astype(r.dtype)
    V_H = jnp.zeros(mdp.n_states, r.dtype) if terminal_value is None else terminal_value
    return _backward(mdp, r, r_tie, int(horizon), gamma, tie_tol, jnp.asarray(V_H, r.dtype))


def _policy_t(pi: Array, horizon: int) -> Array:
    pi = jnp.asarray(pi)
    if pi.ndim == 2:
        return jnp.broadcast_to(pi, (horizon, *pi.shape))
    if pi.shape[0] != horizon:
        raise ValueError(f"policy has {pi.shape[0]} time steps, horizon is {horizon}")
    return pi


@partial(jax.jit, static_argnames=("horizon",))
def _forward(mdp, pi_t, horizon):
    live = (~mdp.terminal).astype(pi_t.dtype)
    S = mdp.n_states

    def step(d, pi):
        x = (d * live)[:, None] * pi  # [S, A] visitation at t
        flow = x[:, :, None] * mdp.prob
        d_next = jnp.zeros(S, d.dtype).at[mdp.next_state.reshape(-1)].add(flow.reshape(-1))
        return d_next, x

    _, visits = jax.lax.scan(step, mdp.init_dist.astype(pi_t.dtype), pi_t, length=horizon)
    return visits


def evaluate_policy_sparse(
    mdp: SparseMDP,
    pi: Array,
    reward: str | Array | None = None,
    *,
    horizon: int,
) -> tuple[Array | dict[str, Array], Array]:
    """Expected (undiscounted) return and state-action visitation of a policy, by forward
    propagation of the state distribution.

    Args:
      mdp: the :class:`SparseMDP`.
      pi: ``[S, A]`` stationary or ``[H, S, A]`` time-indexed policy (rows sum to 1).
      reward: a channel name or ``[S, A, K]`` / ``[S, A]`` array; ``None`` evaluates every channel.
      horizon: H (static, keyword-only).

    Returns:
      ``(ret, visits)``: ``ret`` the expected return ``Σ_t Σ_{s,a} visits[t, s, a] r(s, a)`` (a
      scalar, or ``{name: scalar}`` when ``reward is None``); ``visits [H, S, A]`` with
      ``visits[t, s, a] = Pr(s_t = s, a_t = a, s_t not terminal)``, the per-time occupancy measure
      (each slice sums to the probability of still being alive at ``t``; its time-average is the
      normalised finite-horizon occupancy).
    """
    pi_t = _policy_t(pi, int(horizon)).astype(mdp.prob.dtype)
    visits = _forward(mdp, pi_t, int(horizon))
    occ = jnp.sum(visits, axis=0)
    if reward is None:
        return {k: jnp.sum(occ * mdp.expected_reward(k)) for k in mdp.rewards}, visits
    return jnp.sum(occ * mdp.expected_reward(reward)), visits


@partial(jax.jit, static_argnames=("horizon",))
def _backward_eval(mdp, r, pi_t, horizon, gamma):
    live = (~mdp.terminal).astype(r.dtype)

    def step(V_next, pi):
        Q = live[:, None] * (r + gamma * _next_value(mdp, V_next))
        return jnp.sum(pi * Q, axis=-1), (jnp.sum(pi * Q, axis=-1), Q)

    V_H = jnp.zeros(mdp.n_states, r.dtype)
    _, (V, Q) = jax.lax.scan(step, V_H, pi_t, length=horizon, reverse=True)
    return jnp.concatenate([V, V_H[None]], axis=0), Q


def policy_values_sparse(
    mdp: SparseMDP,
    pi: Array,
    reward: str | Array = "true_reward",
    *,
    horizon: int,
    gamma: float = 1.0,
) -> tuple[Array, Array]:
    """``(V [H + 1, S], Q [H, S, A])`` of a ``[S, A]`` or ``[H, S, A]`` policy (backward)."""
    r = mdp.expected_reward(reward)
    pi_t = _policy_t(pi, int(horizon)).astype(r.dtype)
    return _backward_eval(mdp, r, pi_t, int(horizon), gamma)
