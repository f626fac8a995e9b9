"""Check family 1.5: PBRS in episodic tasks, terminal states and time limits (Grześ 2017), §1e.

Property, on random episodic MDPs with 1–3 absorbing terminal states (γ = 1 with dense P, so
every policy is proper, or γ ∈ [0.5, 0.99] with sparse or dense P), Φ ~ N(0, 5²) on *every* state
(the shaping itself must drop Φ at terminals): the RewardTransform :func:`potential_based` run on
the ``[S, A, S']`` transitions (``discount = γ·(1 − terminated)``, so Φ(terminal) = 0 by
construction) gives

* ``Q*' = Q* − Φ`` on non-terminal states and equal optimal-action sets (policy iteration);
* time-limit treatment (a), T = 3: the timeout is not terminal, F keeps ``γΦ(s_T)`` and the
  recursion bootstraps from the shaped value ``V*' = V* − Φ``: then ``Q'_t = Q_t − Φ`` for every
  t < T (``Q_t`` = backward induction from ``V*``, which equals ``Q*``), equal sets at every t,

error = worst violation / (1 + ‖Q*‖∞ + ‖Φ‖∞), tolerance 1e-9 (a set mismatch counts as 1).

Two counterexamples (one Check each, same property), each returning the regret in the true
problem of the optimal policy of the wrongly shaped one, relative to 1 + ‖V*‖∞:

* **1.5a Φ(goal) = +10 kept at the terminal** (theory.md's deterministic unit case): s0 → goal in
  one step with reward 0, or s0 → m1 → m2 → goal with 0.5 on the last step, γ = 0.9. The long
  route is optimal (0.405 > 0); shaping that does not zero Φ(goal) pays γ^N·10, which favours the
  short episode: the optimum flips long → short.
* **1.5b mixed truncation treatment**: same finite-horizon (time-limit T = 3) problem, but the last
  step's F zeroes ``Φ(s_T)`` (as if the timeout were terminal) while still bootstrapping from the
  shaped ``V*' = V* − Φ``. This adds ``−γ E[Φ(s_T)]`` to the last target. Constructive case (time
  is not in the state, Φ concentrated on one state s†): on a seeded random MDP pick the live state
  s, its optimal action a* and a rival a₂ that maximise ``Δp = P(s†|s, a*) − P(s†|s, a₂)`` over
  live s†, and set ``Φ = c·1[s†]`` with ``c = 2·gap/(γ·Δp)``; the mixed target then prefers a₂
  over a* at t = T − 1 (by ``gap``), i.e. it picks a different action near the horizon.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.mdp import (
    TabularMDP,
    finite_horizon,
    finite_horizon_evaluation,
    policy_evaluation,
    policy_iteration,
    q_values,
)
from jaxrl.shaping.potential import (
    apply_to_table,
    dynamic_shaped_rewards,
    potential_based,
    potential_from_table,
    shaped_reward_table,
)
from theory_checks.check_pbrs import GAP_MIN, min_action_gap, optimal_sets
from theory_checks.harness import Check, as_pytest, mdp_cases, numpy_mdp

TIME_LIMIT = 3


def _sup(x) -> float:
    return float(np.max(np.abs(np.asarray(x))))


@partial(jax.jit, static_argnames=("mixed",))
def _truncation_q(P, R, gamma, terminal_mask, phi, V_boot, mixed: bool = False):
    """Time-limit-T backward induction bootstrapping from ``V_boot``, unshaped and shaped.

    Treatment (a) (``mixed=False``): F = γΦ(s') − Φ(s) at every step, bootstrap ``V_boot − Φ``.
    Mixed (``mixed=True``): the last step's F drops Φ(s_T) but still bootstraps from ``V_boot − Φ``.
    """
    live = 1.0 - terminal_mask.astype(phi.dtype)
    R_T = jnp.broadcast_to(R, (TIME_LIMIT, *R.shape))
    sol = finite_horizon(P, R_T, gamma=gamma, terminal_value=V_boot, terminal_mask=terminal_mask)
    phi_t = jnp.broadcast_to(phi, (TIME_LIMIT + 1, phi.shape[0]))
    R_shaped = dynamic_shaped_rewards(R, phi_t, gamma, terminal_mask, zero_final=mixed)
    sol_shaped = finite_horizon(
        P, R_shaped, gamma=gamma, terminal_value=(V_boot - phi) * live, terminal_mask=terminal_mask
    )
    return sol.Q, sol_shaped.Q, sol_shaped.pi


@jax.jit
def _transform_table(R, gamma, terminal_mask, phi):
    """The deep-RL code path: ``potential_based`` on the flattened ``[S, A, S']`` transitions."""
    return apply_to_table(potential_based(potential_from_table(phi)), R, gamma, terminal_mask)


def _episodic_error(case) -> float:
    mdp = case.mdp
    live = ~np.asarray(mdp.terminal_mask)
    phi = case.potential()  # nonzero on terminal states too: the shaping must drop it there
    phi_live = phi * live

    R_shaped = _transform_table(mdp.R, mdp.gamma, mdp.terminal_mask, jnp.asarray(phi))
    _, V = policy_iteration(mdp)
    Q = np.asarray(q_values(mdp, V))
    shaped = mdp.replace(R=R_shaped)
    _, V2 = policy_iteration(shaped)
    Q2 = np.asarray(q_values(shaped, V2))
    scale = _sup(Q) + _sup(phi)
    tie = 1e-9 * (1 + scale)
    assume(min_action_gap(Q, live, tie) > GAP_MIN)

    Qt, Qt2, _ = _truncation_q(
        mdp.P, mdp.R, mdp.gamma, mdp.terminal_mask, jnp.asarray(phi), V, mixed=False
    )
    Qt, Qt2 = np.asarray(Qt), np.asarray(Qt2)
    q_err = max(_sup(Q2 - (Q - phi_live[:, None])), _sup(Qt2 - (Qt - phi_live[None, :, None])))
    sets_differ = np.any(optimal_sets(Q, tie) != optimal_sets(Q2, tie)) or any(
        np.any(optimal_sets(Qt[t], tie) != optimal_sets(Qt2[t], tie)) for t in range(TIME_LIMIT)
    )
    return max(q_err / (1 + scale), 1.0 if sets_differ else 0.0)


# ----------------------------------------------------------------------------- counterexamples
def goal_route_mdp(gamma: float = 0.9) -> TabularMDP:
    """States s0 = 0, goal = 1 (terminal), m1 = 2, m2 = 3. s0: a0 → goal (0), a1 → m1 (0);
    m1 → m2 (0); m2 → goal (+0.5). The long route is optimal: γ²·0.5 = 0.405 > 0."""
    P = np.zeros((4, 2, 4))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = 1.0
    P[2, :, 3] = 1.0
    P[3, :, 1] = 1.0
    R = np.zeros((4, 2, 4))
    R[3, :, 1] = 0.5
    term = np.array([False, True, False, False])
    return TabularMDP.create(P, R, gamma, init_dist=np.eye(4)[0], terminal_mask=term)


def regret(mdp: TabularMDP, R_shaped) -> float:
    """``max_s V*(s) − V^{π'}(s)`` / (1 + ‖V*‖∞), π' optimal for ``R_shaped`` (same dynamics)."""
    pi_shaped, _ = policy_iteration(mdp.replace(R=jnp.asarray(R_shaped)))
    _, V_star = policy_iteration(mdp)
    return float(np.max(np.asarray(V_star - policy_evaluation(mdp, pi_shaped)))) / (
        1 + _sup(V_star)
    )


def _goal_potential_counter(phi_goal: float = 10.0) -> float:
    mdp = goal_route_mdp(0.9)
    phi = jnp.asarray([0.0, phi_goal, 0.0, 0.0])
    # Shaping that does not know the goal is terminal: γΦ(goal) is collected on entry.
    return regret(mdp, jax.jit(shaped_reward_table)(mdp.R, phi, mdp.gamma))


def mixed_truncation_case(seed: int = 21) -> tuple[TabularMDP, np.ndarray]:
    """A seeded random MDP and the one-state potential Φ = c·1[s†] that flips the last step."""
    mdp = numpy_mdp(seed, n_states=7, n_actions=4, gamma=0.9, n_terminal=1)
    P = np.asarray(mdp.P)
    live = ~np.asarray(mdp.terminal_mask)
    _, V = policy_iteration(mdp)
    Q = np.asarray(q_values(mdp, V))
    best = None  # (Δp, s, a*, a2, s†)
    for s in np.flatnonzero(live):
        a_star = int(np.argmax(Q[s]))
        for a2 in range(Q.shape[1]):
            if a2 == a_star:
                continue
            dp = (P[s, a_star] - P[s, a2]) * live
            cand = (float(dp.max()), s, a_star, a2, int(np.argmax(dp)))
            if best is None or cand[0] > best[0]:
                best = cand
    dp, s, a_star, a2, s_dag = best
    gap = Q[s, a_star] - Q[s, a2]
    phi = np.zeros(mdp.n_states)
    phi[s_dag] = 2 * gap / (float(mdp.gamma) * dp)
    return mdp, phi


def _mixed_truncation_counter() -> float:
    mdp, phi = mixed_truncation_case()
    _, V = policy_iteration(mdp)
    Qt, _, pi_mixed = _truncation_q(
        mdp.P, mdp.R, mdp.gamma, mdp.terminal_mask, jnp.asarray(phi), V, mixed=True
    )
    R_T = jnp.broadcast_to(mdp.R, (TIME_LIMIT, *mdp.R.shape))
    V_mixed, _ = finite_horizon_evaluation(
        mdp.P, R_T, pi_mixed, gamma=mdp.gamma, terminal_value=V, terminal_mask=mdp.terminal_mask
    )
    V_exact = np.max(np.asarray(Qt), axis=-1)  # = V* at every t < T
    return float(np.max(V_exact - np.asarray(V_mixed)[:TIME_LIMIT])) / (1 + _sup(V))


_cases = st.one_of(
    mdp_cases(gamma=(1.0, 1.0), sparse=False, n_terminal=(1, 3)),
    mdp_cases(n_terminal=(1, 3)),
)
_DESC = (
    "Phi(terminal) dropped by the transform: Q*' = Q* - Phi and equal sets (gamma <= 1), and the "
    "time-limit treatment (a) gives Q'_t = Q_t - Phi. Counterexample error: regret of the wrongly "
    "shaped optimum. "
)

EPISODIC_GOAL = Check(
    name="1.5a episodic PBRS, Phi(terminal)=0 (cx: Phi(goal)=+10)",
    strategy=_cases,
    error=_episodic_error,
    tolerance=1e-9,
    counterexample=_goal_potential_counter,
    examples=40,
    description=_DESC + "Counterexample: Phi(goal) = +10 kept, flips long -> short route.",
)
EPISODIC_MIXED_TRUNCATION = Check(
    name="1.5b episodic PBRS, time limits (cx: mixed truncation)",
    strategy=_cases,
    error=_episodic_error,
    tolerance=1e-9,
    counterexample=_mixed_truncation_counter,
    examples=20,
    description=_DESC + "Counterexample: Phi(s_T) zeroed in F but bootstrap from V' = V - Phi.",
)

test_episodic_goal_property, test_episodic_goal_counterexample = as_pytest(EPISODIC_GOAL)
test_episodic_mixed_property, test_episodic_mixed_counterexample = as_pytest(
    EPISODIC_MIXED_TRUNCATION
)
