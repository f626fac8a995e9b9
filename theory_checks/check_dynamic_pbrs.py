"""Check family 1.3: dynamic potential-based shaping Φ(s, t) (Devlin & Kudenko 2012), theory.md §1c.

Property (finite horizon H ∈ {2, 6}, random MDPs with 0–2 absorbing terminals, time-indexed
Φ[t, s] ~ N(0, 5²) with Φ[H, ·] = 0, backward induction at the MDP's γ): with the shaped rewards
``R_t(s, a, s') = R + γΦ(s', t + 1) − Φ(s, t)`` (potentials at *arrival* times,
:func:`dynamic_shaped_rewards`)

* ``Q'_t = Q_t − Φ(·, t)`` for every t (terminal states excluded: Q = 0 there),
* equal optimal-action sets at every t (near-ties excluded by ``assume``),
* the table form equals the RewardTransform :func:`dynamic_potential` applied to the flattened
  ``[S, A, S']`` transitions at every time t,

error = worst violation / (1 + scale), scale = ‖Q‖∞ + ‖Φ‖∞, tolerance 1e-12 (set mismatch = 1).

Counterexample (theory.md's deterministic unit case): the wrong time index
``F = γΦ(s', t) − Φ(s, t)``; s0 →a0→ s1 pays 1, s0 →a1→ s2 pays 0 (s1, s2 absorb, reward 0),
H = 2, γ = 0.9, Φ(s2, 0) = 10, all other Φ = 0. The wrong index gives a1 a bonus 10γ = 9 > 1 at
t = 0; error = regret of the wrongly-shaped optimal (time-indexed) policy in the unshaped
problem, ``max_{t,s} V_t − V_t^{π'}`` / (1 + ‖V‖∞) = 1/2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.mdp import finite_horizon, finite_horizon_evaluation
from jaxrl.shaping.potential import (
    apply_to_table,
    dynamic_potential,
    dynamic_shaped_rewards,
    time_potential_from_table,
)
from theory_checks.check_pbrs import GAP_MIN, min_action_gap, optimal_sets
from theory_checks.harness import Check, as_pytest, mdp_cases

HORIZONS = (2, 6)
SHAPES = ((2, 2), (3, 3), (7, 4), (12, 5))


def _sup(x) -> float:
    return float(np.max(np.abs(np.asarray(x))))


@jax.jit
def _dynamic_case(P, R, gamma, terminal_mask, phi_t):
    """Unshaped and shaped backward induction + the transform form at every t (one compile)."""
    H = phi_t.shape[0] - 1
    R_H = jnp.broadcast_to(R, (H, *R.shape))
    sol = finite_horizon(P, R_H, gamma=gamma, terminal_mask=terminal_mask)
    R_t = dynamic_shaped_rewards(R, phi_t, gamma, terminal_mask)
    sol_shaped = finite_horizon(P, R_t, gamma=gamma, terminal_mask=terminal_mask)
    transform = dynamic_potential(time_potential_from_table(phi_t))
    R_tr = jax.vmap(lambda t: apply_to_table(transform, R, gamma, terminal_mask, time=t))(
        jnp.arange(H)
    )
    return sol.Q, sol_shaped.Q, jnp.max(jnp.abs(R_t - R_tr))


def _dynamic_error(args) -> float:
    case, H = args
    mdp = case.mdp
    live = ~np.asarray(mdp.terminal_mask)
    phi_t = 5.0 * case.rng(3).standard_normal((H + 1, case.n_states))
    phi_t[H] = 0.0
    Q, Q2, table_err = _dynamic_case(mdp.P, mdp.R, mdp.gamma, mdp.terminal_mask, jnp.asarray(phi_t))
    Q, Q2 = np.asarray(Q), np.asarray(Q2)
    scale = _sup(Q) + _sup(phi_t)
    tie = 1e-9 * (1 + scale)
    assume(min(min_action_gap(Q[t], live, tie) for t in range(H)) > GAP_MIN)
    q_err = _sup((Q2 - (Q - phi_t[:-1, :, None])) * live[None, :, None])
    sets_differ = any(np.any(optimal_sets(Q[t], tie) != optimal_sets(Q2[t], tie)) for t in range(H))
    err = max(q_err, float(table_err)) / (1 + scale)
    return max(err, 1.0 if sets_differ else 0.0)


def wrong_index_rewards(R, phi_t, gamma):
    """The pitfall: ``R + γΦ(s', t) − Φ(s, t)`` (next potential at the *current* time)."""
    H = phi_t.shape[0] - 1
    return R[None] + gamma * phi_t[:H, None, None, :] - phi_t[:H, :, None, None]


def unit_case():
    """theory.md §1c deterministic case: ``(P, R, γ, H, Φ[H + 1, S])``."""
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = P[2, :, 2] = 1.0
    R = np.zeros((3, 2, 3))
    R[0, 0, 1] = 1.0
    H = 2
    phi_t = np.zeros((H + 1, 3))
    phi_t[0, 2] = 10.0
    return P, R, 0.9, H, phi_t


def finite_horizon_regret(P, R, gamma, R_shaped, H) -> float:
    """``max_{t,s} V_t − V_t^{π'}`` / (1 + ‖V‖∞), π' optimal for the shaped time-indexed rewards."""
    R_H = np.broadcast_to(R, (H, *R.shape))
    sol = finite_horizon(P, R_H, gamma=gamma)
    pi_shaped = finite_horizon(P, R_shaped, gamma=gamma).pi
    V_pi, _ = finite_horizon_evaluation(P, R_H, pi_shaped, gamma=gamma)
    return float(np.max(np.asarray(sol.V - V_pi))) / (1 + _sup(sol.V))


def _wrong_index_counter() -> float:
    P, R, gamma, H, phi_t = unit_case()
    return finite_horizon_regret(P, R, gamma, wrong_index_rewards(R, phi_t, gamma), H)


DYNAMIC_PBRS = Check(
    name="1.3 dynamic PBRS Q_t shift (cx: wrong time index)",
    strategy=st.tuples(mdp_cases(shapes=SHAPES, n_terminal=(0, 2)), st.sampled_from(HORIZONS)),
    error=_dynamic_error,
    tolerance=1e-12,
    counterexample=_wrong_index_counter,
    examples=40,
    description=(
        "Q'_t = Q_t - Phi(., t), equal optimal sets for every t, table == transform; "
        "/(1 + |Q| + |Phi|). Counterexample: gamma*Phi(s', t) - Phi(s, t) (regret 1 at t = 0)."
    ),
)

test_dynamic_pbrs_property, test_dynamic_pbrs_counterexample = as_pytest(DYNAMIC_PBRS)
