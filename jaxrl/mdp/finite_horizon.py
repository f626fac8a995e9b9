"""Finite-horizon backward induction with time-indexed rewards (and dynamics).

Time runs ``t = 0, ..., H − 1``; ``V[H]`` is the terminal value (default 0). At each step

    Q_t(s, a) = Σ_{s'} P_t(s'|s, a) [R_t(s, a, s') + γ V_{t+1}(s')],

with ``V_t(s) = max_a Q_t(s, a)`` (control) or ``Σ_a π_t(a|s) Q_t(s, a)`` (evaluation). Arrays
without a leading time axis are broadcast over ``t``; ``horizon`` is static (it sets shapes).
States in ``terminal_mask`` are absorbing with zero value at every step (``Q_t = V_t = 0``).
Everything is jittable (``horizon`` static) and vmappable.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.mdp.solvers import Solution, greedy_policy

Array = Any


def _horizon(horizon: int | None, *arrays: tuple[Array, int]) -> int:
    """Infer H from any time-indexed array (``(array, untimed_ndim)`` pairs); check consistency."""
    found = {int(x.shape[0]) for x, nd in arrays if x is not None and x.ndim == nd + 1}
    if horizon is not None:
        found.add(int(horizon))
    if len(found) != 1:
        raise ValueError(
            f"cannot determine a single horizon: got {sorted(found) or 'none'} (pass `horizon`, "
            "or give P / R / pi a leading time axis of the same length)"
        )
    return found.pop()


def _prepare(P, R, horizon, terminal_value, terminal_mask, extra=None):
    P = jnp.asarray(P)
    R = jnp.asarray(R, dtype=P.dtype)
    H = _horizon(horizon, (P, 3), (R, 3), *([] if extra is None else [extra]))
    P_t = jnp.broadcast_to(P, (H, *P.shape[-3:]))
    R_t = jnp.broadcast_to(R, (H, *P.shape[-3:]))
    S = P.shape[-3]
    V_H = (
        jnp.zeros((S,), P.dtype) if terminal_value is None else jnp.asarray(terminal_value, P.dtype)
    )
    live = (
        jnp.ones((S,), P.dtype)
        if terminal_mask is None
        else (~jnp.asarray(terminal_mask, bool)).astype(P.dtype)
    )
    return H, P_t, R_t, V_H * live, live


def _backup(P, R, V_next, gamma, live):
    """``[S, A]`` one Bellman backup ``Σ_{s'} P (R + γ V_{t+1})``, zero on terminal states."""
    Q = jnp.einsum("sat,sat->sa", P, R + gamma * V_next[None, None, :])
    return Q * live[:, None]


@partial(jax.jit, static_argnames=("horizon",))
def finite_horizon(
    P: Array,
    R: Array,
    *,
    horizon: int | None = None,
    gamma: float | Array = 1.0,
    terminal_value: Array | None = None,
    terminal_mask: Array | None = None,
) -> Solution:
    """Optimal time-dependent values and greedy policy by backward induction.

    Args:
      P: ``[S, A, S']`` or time-indexed ``[H, S, A, S']`` transitions.
      R: ``[S, A, S']`` or time-indexed ``[H, S, A, S']`` rewards ``R_t(s, a, s')``.
      horizon: H (static, keyword-only); may be omitted when ``P`` or ``R`` has a time axis.
      gamma: per-step discount (default 1, the usual finite-horizon objective).
      terminal_value: ``[S]`` value ``V[H]`` after the last step (default 0).
      terminal_mask: ``[S]`` bool absorbing zero-value states (default none).

    Returns:
      :class:`~jaxrl.mdp.solvers.Solution` ``(V [H + 1, S], Q [H, S, A], pi [H, S, A])``.
    """
    H, P_t, R_t, V_H, live = _prepare(P, R, horizon, terminal_value, terminal_mask)

    def step(V_next, xs):
        P_, R_ = xs
        Q = _backup(P_, R_, V_next, gamma, live)
        V = jnp.max(Q, axis=-1)
        return V, (V, Q)

    _, (V, Q) = jax.lax.scan(step, V_H, (P_t, R_t), reverse=True)
    return Solution(V=jnp.concatenate([V, V_H[None]], axis=0), Q=Q, pi=greedy_policy(Q))


@partial(jax.jit, static_argnames=("horizon",))
def finite_horizon_evaluation(
    P: Array,
    R: Array,
    pi: Array,
    *,
    horizon: int | None = None,
    gamma: float | Array = 1.0,
    terminal_value: Array | None = None,
    terminal_mask: Array | None = None,
) -> tuple[Array, Array]:
    """Values of a (time-indexed) policy by backward induction.

    Args:
      P: ``[S, A, S']`` or ``[H, S, A, S']`` transitions.
      R: ``[S, A, S']`` or ``[H, S, A, S']`` rewards.
      pi: ``[S, A]`` stationary or ``[H, S, A]`` time-indexed policy.
      horizon, gamma, terminal_value, terminal_mask: as in :func:`finite_horizon` (keyword-only).

    Returns:
      ``(V [H + 1, S], Q [H, S, A])`` with ``V[t] = Σ_a π_t Q[t]`` and ``V[H]`` the terminal value.
    """
    pi = jnp.asarray(pi)
    H, P_t, R_t, V_H, live = _prepare(P, R, horizon, terminal_value, terminal_mask, (pi, 2))
    pi_t = jnp.broadcast_to(pi.astype(P_t.dtype), (H, *pi.shape[-2:]))

    def step(V_next, xs):
        P_, R_, pi_ = xs
        Q = _backup(P_, R_, V_next, gamma, live)
        V = jnp.sum(pi_ * Q, axis=-1)
        return V, (V, Q)

    _, (V, Q) = jax.lax.scan(step, V_H, (P_t, R_t, pi_t), reverse=True)
    return jnp.concatenate([V, V_H[None]], axis=0), Q
