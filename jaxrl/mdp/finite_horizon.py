"""Finite-horizon backward induction with time-indexed rewards (and dynamics).

Time runs ``t = 0, ..., H − 1``; ``V[H]`` is the terminal value (default 0). At each step

    Q_t(s, a) = Σ_{s'} P_t(s'|s, a) [R_t(s, a, s') + γ V_{t+1}(s')],

with ``V_t(s) = max_a Q_t(s, a)`` (control) or ``Σ_a π_t(a|s) Q_t(s, a)`` (evaluation). Arrays
without a leading time axis are broadcast over ``t``; ``horizon`` is static (it sets shapes).
States in ``terminal_mask`` are absorbing with zero value at every step (``Q_t = V_t = 0``).
Everything is jittable (``horizon`` static) and vmappable.
"""

from __future__ import annotations

import functools
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.mdp.core import _fmt, _is_concrete
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


def _check_inputs(fn, P, R, horizon, gamma, terminal_value, terminal_mask, pi=None) -> None:
    """Boundary checks on concrete inputs (skipped under ``jit`` / ``vmap``): shapes, ``P``
    stochastic on non-terminal states, finite ``R``, ``γ ∈ [0, 1]``, ``horizon >= 0``."""
    if horizon is not None and (
        isinstance(horizon, bool) or int(horizon) != horizon or horizon < 0
    ):
        raise ValueError(f"{fn}: horizon = {horizon!r} must be an integer >= 0")
    if not _is_concrete(P, R, gamma, terminal_value, terminal_mask, pi):
        return
    P, R, g = np.asarray(P), np.asarray(R), np.asarray(gamma)
    if P.ndim not in (3, 4) or P.shape[-3] != P.shape[-1]:
        raise ValueError(f"{fn}: P must have shape [S, A, S] or [H, S, A, S], got shape {P.shape}")
    S, A = P.shape[-3:-1]
    if S < 1 or A < 1:
        raise ValueError(f"{fn}: P has shape {P.shape}: an MDP needs at least 1 state and 1 action")
    try:
        fits = R.ndim <= 4 and np.broadcast_shapes(R.shape[-3:], P.shape[-3:]) == P.shape[-3:]
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{fn}: R has shape {R.shape}, which does not match P's shape {P.shape}")
    if g.shape != () or not (np.isfinite(g) and 0 <= g <= 1):
        raise ValueError(f"{fn}: gamma = {g} must be a scalar in [0, 1]")
    term = np.zeros(S, bool) if terminal_mask is None else np.asarray(terminal_mask)
    if term.shape != (S,):
        raise ValueError(f"{fn}: terminal_mask has shape {term.shape}, expected ({S},)")
    if terminal_value is not None and np.shape(terminal_value) != (S,):
        raise ValueError(
            f"{fn}: terminal_value has shape {np.shape(terminal_value)}, expected ({S},)"
        )
    if pi is not None:
        pi = np.asarray(pi)
        if pi.shape[-2:] != (S, A) or pi.ndim not in (2, 3):
            raise ValueError(f"{fn}: pi has shape {pi.shape}, expected [S, A] or [H, S, A]")
    live = ~term.astype(bool)
    Pl = P[..., live, :, :]
    if (~np.isfinite(Pl) | (Pl < 0)).any():
        raise ValueError(f"{fn}: P has a negative or non-finite probability")
    sums = Pl.sum(-1)
    atol = max(1e-6, 64 * float(np.finfo(P.dtype).eps)) if P.dtype.kind == "f" else 1e-6
    if (np.abs(sums - 1) > atol).any():
        bad = sums.ravel()[np.argmax(np.abs(sums - 1).ravel())]
        raise ValueError(f"{fn}: a row of P sums to {_fmt(bad)}, expected 1")
    if not np.isfinite(R).all():
        raise ValueError(f"{fn}: R has a non-finite entry")


def _checked(with_pi: bool):
    """Run :func:`_check_inputs` on concrete inputs, then the jitted solver."""

    def wrap(jitted):
        @functools.wraps(jitted)
        def solver(P, R, *args, horizon=None, gamma=1.0, terminal_value=None, terminal_mask=None):
            pi = (args[0] if args else None) if with_pi else None
            name = jitted.__name__
            _check_inputs(name, P, R, horizon, gamma, terminal_value, terminal_mask, pi)
            return jitted(
                P,
                R,
                *args,
                horizon=horizon,
                gamma=gamma,
                terminal_value=terminal_value,
                terminal_mask=terminal_mask,
            )

        solver.jitted = jitted
        return solver

    return wrap


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


@_checked(with_pi=False)
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


@_checked(with_pi=True)
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
