"""Check 1.3: dynamic potential-based shaping Φ(s, t) (Devlin & Kudenko 2012), theory.md §1c.

Property, on random MDPs (every shape S ∈ [2, 12] × A ∈ [2, 5], padded to 12 states, γ ∈ [0, 0.999],
0–2 absorbing terminals, sparse/dense/deterministic P), horizon H = 4, time-indexed potentials
Φ[t, s] ~ N(0, 5²) with Φ[H, ·] = 0: the learner's rewards at time t are the library transform
:func:`dynamic_potential` (``r + γ(1 − terminated)Φ(s', t + 1) − Φ(s, t)``, potentials at *arrival*
times) run on the ``[S, A, S']`` transitions by :func:`apply_to_table` with ``time = t`` (or, on
half of the cases, the table form :func:`dynamic_shaped_rewards`). Backward induction
(:func:`jaxrl.mdp.finite_horizon`) on the ``[H, S, A, S']`` shaped rewards gives

* ``Q'_t = Q_t − Φ(·, t)`` for every t < H on live states,
* equal optimal-action sets at every t (near-ties excluded by ``assume``),

error = worst violation / (1 + ‖Q‖∞ + ‖Φ‖∞), tolerance 1e-12 (a set mismatch counts as 1).

Mutations (same error, same cases, the learner's rewards built differently):

* **current-time index** (Devlin & Kudenko's pitfall): the next-state potential read at the
  current time, ``γΦ(s', t) − Φ(s, t)``: the static :func:`potential_based` transform
  re-instantiated with the current potential ``Φ(·, t)`` at every step (what a learner that
  refreshes a static PBRS each step computes). The sum no longer telescopes.
* **Φ(·, H) kept**: a non-zero final potential collected on the last step (``zero_final=False``,
  terminal value 0): the horizon-H objective gains ``γE[Φ(s_H, H)]``.
* **time off by one in F**: the transform fed ``time = t + 1`` on the potential of the state
  left but ``t + 1`` for the arrival (a step counter incremented before shaping): potentials
  ``γΦ(s', t + 1) − Φ(s, t + 1)`` do not telescope with the ``−Φ(s, t)`` of the next step.

H is fixed (4) because :func:`finite_horizon` compiles per horizon; every H ≥ 2 exercises the
same telescoping, and the deterministic unit case of theory.md lives in tests/test_potential.py.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.mdp import finite_horizon
from jaxrl.shaping.potential import (
    apply_to_table,
    dynamic_potential,
    dynamic_shaped_rewards,
    potential_based,
    potential_from_table,
    time_potential_from_table,
)
from theory_checks.check_pbrs import GAP_MIN, _sup, min_action_gap, optimal_sets
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, mdp_cases

H = 4
#: How the learner's time-indexed rewards are built (traced index, one compile per A).
ROUTES = ("transform", "table", "current-time index", "final potential kept", "time off by one")


class DynamicCase(NamedTuple):
    """A random MDP, a time-indexed potential ``phi_t [H + 1, S]`` and the reward route."""

    base: MDPCase
    phi_t: np.ndarray
    route: str = "transform"


@jax.jit
def shaped_rewards(route: int, R, gamma, terminal_mask, phi_t):
    """``[H, S, A, S']`` rewards the learner sees under ``ROUTES[route]``."""
    horizon = phi_t.shape[0] - 1
    dyn = dynamic_potential(time_potential_from_table(phi_t))
    times = jnp.arange(horizon)

    def per_time(fn):
        return jax.vmap(fn)(times)

    transform = per_time(lambda t: apply_to_table(dyn, R, gamma, terminal_mask, time=t))
    table = dynamic_shaped_rewards(R, phi_t, gamma, terminal_mask)
    current = per_time(
        lambda t: apply_to_table(
            potential_based(potential_from_table(phi_t[t])), R, gamma, terminal_mask
        )
    )
    kept = dynamic_shaped_rewards(R, phi_t, gamma, terminal_mask, zero_final=False)
    off = per_time(lambda t: apply_to_table(dyn, R, gamma, terminal_mask, time=t + 1))
    return jnp.stack([transform, table, current, kept, off])[route]


def _dynamic_error(case: DynamicCase) -> float:
    mdp = case.base.mdp
    live = case.base.live
    route = jnp.asarray(ROUTES.index(case.route))
    R_t = shaped_rewards(route, mdp.R, mdp.gamma, mdp.terminal_mask, jnp.asarray(case.phi_t))
    R_H = np.broadcast_to(np.asarray(mdp.R), (H, *np.shape(mdp.R)))
    Q = np.asarray(finite_horizon(mdp.P, R_H, gamma=mdp.gamma, terminal_mask=mdp.terminal_mask).Q)
    scale = _sup(Q) + _sup(case.phi_t)
    tie = 1e-9 * (1 + scale)
    assume(min(min_action_gap(Q[t], live, tie) for t in range(H)) > GAP_MIN)
    Q2 = np.asarray(finite_horizon(mdp.P, R_t, gamma=mdp.gamma, terminal_mask=mdp.terminal_mask).Q)
    shift = (Q2 - (Q - case.phi_t[:-1, :, None]))[:, live]
    sets_differ = any(
        np.any((optimal_sets(Q[t], tie) != optimal_sets(Q2[t], tie))[live]) for t in range(H)
    )
    return max(_sup(shift) / (1 + scale), 1.0 if sets_differ else 0.0)


@st.composite
def _cases(draw, route_choices=("transform", "table")):
    base = draw(mdp_cases())
    phi_t = 5.0 * base.rng(3).standard_normal((H + 1, base.n_padded))
    phi_t[H] = 0.0
    return DynamicCase(base, phi_t, draw(st.sampled_from(route_choices)))


def _route(name: str):
    return lambda case: case._replace(route=name)


def _final_potential(case: DynamicCase) -> DynamicCase:
    phi_t = case.phi_t.copy()
    phi_t[H] = 5.0 * case.base.rng(4).standard_normal(case.base.n_padded)
    return case._replace(phi_t=phi_t, route="final potential kept")


DYNAMIC_PBRS = Check(
    name="1.3 dynamic PBRS Q_t shift",
    theorem="Devlin & Kudenko 2012, F = gamma Phi(s', t+1) - Phi(s, t) (arrival times)",
    strategy=_cases(),
    error=_dynamic_error,
    tolerance=1e-12,
    mutations=(
        Mutation(
            "current-time index",
            "next potential at arrival time t+1",
            mutate=_route("current-time index"),
        ),
        Mutation("final potential kept", "Phi(., H) = 0", mutate=_final_potential),
        Mutation(
            "time off by one", "Phi(s, t) at the time s was entered", _route("time off by one")
        ),
    ),
    description="Rewards from dynamic_potential via apply_to_table (or dynamic_shaped_rewards), "
    "H = 4 backward induction: Q'_t = Q_t - Phi(., t), equal sets; /(1 + |Q| + |Phi|).",
)

test_dynamic_pbrs = as_pytest(DYNAMIC_PBRS)
