"""Check family 0: the exact MDP layer agrees with itself (the ground every other check stands on).

* **0a policy iteration is optimal and exact**: V of PI's policy by linear solve equals PI's V, and
  satisfies the Bellman optimality equation. Tolerance 1e-9 on errors divided by ``1 + ‖V‖∞``.
  Counterexample: the myopic policy (PI stopped before any improvement) on a chain where a
  zero-reward step leads to a +2-per-step state; its Bellman residual is large.
* **0b value iteration = policy iteration** to 1e-10 (absolute). Counterexample: VI stopped at a
  loose tolerance (1e-2) at γ = 0.99.
* **0c occupancy identities**: μ ≥ 0, Σ μ = 1 and ``J = Σ μ r / (1 − γ)`` (normalised μ,
  unnormalised J; theory.md §0.1), with terminal states; also ``J = Σ ν r`` for the unnormalised
  visits. Counterexample: occupancy computed with a wrong discount γ' ≠ γ.
* **0d episodic γ = 1**: with absorbing terminals reachable from everywhere, PI's V solves the
  Bellman equation, and ``J = Σ ν r``. Counterexample: the same MDP without terminal states
  (I − P_π singular, values blow up).
* **0e validate_mdp**: accepts every generated MDP (sparse, terminal, γ = 1 episodic). Counter-
  example: one transition row scaled to sum to 0.82 must be rejected, naming the row.
* **0f finite horizon**: ``‖V_0^H − V*‖∞ <= γ^H ‖V*‖∞`` for backward induction with V_H = 0.
  Counterexample: backward induction that forgets to discount (γ = 1 in the recursion).
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import (
    TabularMDP,
    discounted_visits,
    expected_return,
    finite_horizon,
    occupancy_measure,
    policy_evaluation,
    policy_iteration,
    q_values,
    validate_mdp,
    value_iteration,
)
from theory_checks.harness import Check, as_pytest, mdp_cases, numpy_mdp


def _sup(x) -> float:
    return float(np.max(np.abs(np.asarray(x))))


def _myopic_chain() -> TabularMDP:
    """s0: a=0 pays +1 and stays; a=1 pays 0 and moves to s1, which pays +2 forever (γ = 0.9).

    V*(s0) = 0 + 0.9 · 2 / 0.1 = 18 > 1 / 0.1 = 10, so the myopic action 0 is wrong.
    """
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1.0
    R = np.zeros((2, 2, 2))
    R[0, 0, 0] = 1.0
    R[1, :, 1] = 2.0
    return TabularMDP.create(P, R, 0.9)


# ----------------------------------------------------------------------------- 0a
def _pi_error(mdp: TabularMDP, pi, V) -> float:
    V = np.asarray(V)
    V_ls = np.asarray(policy_evaluation(mdp, pi))
    bellman = np.asarray(q_values(mdp, V)).max(-1) - V
    return max(_sup(V_ls - V), _sup(bellman)) / (1 + _sup(V))


def _pi_case(case) -> float:
    pi, V = policy_iteration(case.mdp)
    return _pi_error(case.mdp, pi, V)


def _pi_counter() -> float:
    mdp = _myopic_chain()
    pi, V = policy_iteration(mdp, max_iters=0)  # the initial, reward-greedy policy
    return _pi_error(mdp, pi, policy_evaluation(mdp, pi))


PI_OPTIMAL = Check(
    name="0a policy iteration exact and optimal",
    strategy=mdp_cases(),
    error=_pi_case,
    tolerance=1e-9,
    counterexample=_pi_counter,
    description="V_PI = linear solve of pi_PI and max_a Q(V_PI) = V_PI (relative to 1 + |V|).",
)


# ----------------------------------------------------------------------------- 0b
def _vi_case(case) -> float:
    V_vi, _ = value_iteration(case.mdp)
    _, V_pi = policy_iteration(case.mdp)
    return _sup(V_vi - V_pi)


def _vi_counter() -> float:
    mdp = numpy_mdp(seed=0, n_states=6, n_actions=3, gamma=0.99)
    V_vi, _ = value_iteration(mdp, tol=1e-2)
    _, V_pi = policy_iteration(mdp)
    return _sup(V_vi - V_pi)


VI_EQ_PI = Check(
    name="0b value iteration = policy iteration",
    strategy=mdp_cases(),
    error=_vi_case,
    tolerance=1e-10,
    counterexample=_vi_counter,
    description="VI run to its default 1e-12 error bound matches exact PI (absolute).",
)


# ----------------------------------------------------------------------------- 0c
def _occupancy_error(mdp: TabularMDP, pi, occupancy_gamma=None) -> float:
    mu_mdp = mdp if occupancy_gamma is None else mdp.replace(gamma=jnp.asarray(occupancy_gamma))
    mu = np.asarray(occupancy_measure(mu_mdp, pi))
    r = np.asarray(mdp.expected_reward)
    J = float(expected_return(mdp, pi))
    gamma = float(mdp.gamma)
    J_mu = float(np.sum(mu * r)) / (1 - gamma)
    J_nu = float(np.sum(np.asarray(discounted_visits(mdp, pi)) * r))
    scale = 1 + abs(J)
    return max(
        max(0.0, -float(mu.min())),
        abs(float(mu.sum()) - 1),
        abs(J - J_mu) / scale,
        abs(J - J_nu) / scale,
    )


_occ_cases = st.tuples(mdp_cases(n_terminal=(0, 2)), st.sampled_from([0.3, 1.0, 5.0]))


def _occ_case(args) -> float:
    case, alpha = args
    return _occupancy_error(case.mdp, case.policy(alpha))


def _occ_counter() -> float:
    # Deterministic chain s0 -> s1 -> s1 ..., reward 1 per step in s1: J = γ / (1 − γ) = 9, but
    # μ computed with γ' = 0.8 puts mass γ' on s1, giving γ' / (1 − γ) = 8.
    P = np.zeros((2, 1, 2))
    P[:, 0, 1] = 1.0
    R = np.zeros((2, 1, 2))
    R[1, 0, 1] = 1.0
    mdp = TabularMDP.create(P, R, 0.9, init_dist=np.array([1.0, 0.0]))
    return _occupancy_error(mdp, np.ones((2, 1)), occupancy_gamma=0.8)


OCCUPANCY = Check(
    name="0c occupancy sums to 1 and J = sum(mu r)/(1-gamma)",
    strategy=_occ_cases,
    error=_occ_case,
    tolerance=1e-9,
    counterexample=_occ_counter,
    description="Normalised occupancy, unnormalised return, terminal states included.",
)


# ----------------------------------------------------------------------------- 0d
_episodic = mdp_cases(gamma=(1.0, 1.0), sparse=False, n_terminal=(1, 3), reward_scale=1.0)


def _episodic_error(mdp: TabularMDP) -> float:
    pi, V = policy_iteration(mdp)
    V = np.asarray(V)
    bellman = np.asarray(q_values(mdp, V)).max(-1) - V
    J = float(expected_return(mdp, pi))
    J_nu = float(np.sum(np.asarray(discounted_visits(mdp, pi)) * np.asarray(mdp.expected_reward)))
    err = max(_sup(bellman) / (1 + _sup(V)), abs(J - J_nu) / (1 + abs(J)))
    return err if np.isfinite(err) else float("inf")


def _episodic_counter() -> float:
    mdp = numpy_mdp(seed=1, n_states=6, n_actions=3, gamma=1.0)  # no terminal states
    return _episodic_error(mdp)


EPISODIC = Check(
    name="0d episodic gamma = 1 with absorbing terminals",
    strategy=_episodic,
    error=lambda case: _episodic_error(case.mdp),
    tolerance=1e-9,
    counterexample=_episodic_counter,
    examples=30,
    description="PI solves the Bellman equation at gamma = 1 and J = sum(nu r).",
)


# ----------------------------------------------------------------------------- 0e
def _validate_error(mdp: TabularMDP) -> float:
    """0 if ``validate_mdp`` accepts ``mdp``, 1 if it rejects it."""
    try:
        validate_mdp(mdp)
    except ValueError:
        return 1.0
    return 0.0


_valid_cases = st.one_of(mdp_cases(n_terminal=(0, 2)), _episodic)


def _validate_counter() -> float:
    mdp = numpy_mdp(seed=2, n_states=5, n_actions=3, gamma=0.9)
    P = np.asarray(mdp.P).copy()
    P[3, 1] *= 0.82
    try:
        validate_mdp(mdp.replace(P=jnp.asarray(P)))
    except ValueError as e:
        # Rejected, and for the right reason: the message names the row and its sum.
        return 1.0 if re.search(r"P\[s=3, a=1, :\] sums to 0\.82", str(e)) else 0.0
    return 0.0


VALIDATE = Check(
    name="0e validate_mdp accepts valid and rejects non-stochastic P",
    strategy=_valid_cases,
    error=lambda case: _validate_error(case.mdp),
    tolerance=0.0,
    counterexample=_validate_counter,
    examples=30,
    description="Error 1 = rejected. Counterexample: a row of P sums to 0.82.",
)


# ----------------------------------------------------------------------------- 0f
# Horizon is static (it sets V's shape): a few values keep compiles down.
_fh_cases = st.tuples(mdp_cases(gamma=(0.5, 0.95)), st.sampled_from([2, 40]))


def _fh_error(mdp: TabularMDP, horizon: int, recursion_gamma=None) -> float:
    g = mdp.gamma if recursion_gamma is None else recursion_gamma
    V0 = finite_horizon(mdp.P, mdp.R, horizon=horizon, gamma=g).V[0]
    _, V_star = policy_iteration(mdp)
    bound = float(mdp.gamma) ** horizon * _sup(V_star)
    return max(0.0, _sup(V0 - V_star) - bound)


def _fh_counter() -> float:
    # Reward 1 everywhere, γ = 0.9: V* = 10, but undiscounted backward induction over H = 40 gives
    # V_0 = 40, so |V_0 − V*| = 30 > γ^40 · 10 ≈ 0.15.
    mdp = numpy_mdp(seed=3, n_states=2, n_actions=2, gamma=0.9)
    mdp = mdp.replace(R=np.ones_like(mdp.R))
    return _fh_error(mdp, 40, recursion_gamma=1.0)


FINITE_HORIZON = Check(
    name="0f finite horizon converges at rate gamma^H",
    strategy=_fh_cases,
    error=lambda args: _fh_error(args[0].mdp, args[1]),
    tolerance=1e-10,
    counterexample=_fh_counter,
    examples=30,
    description="|V_0^H - V*| <= gamma^H |V*| (inequality; error = max(0, -slack)).",
)


test_pi_optimal_property, test_pi_optimal_counterexample = as_pytest(PI_OPTIMAL)
test_vi_eq_pi_property, test_vi_eq_pi_counterexample = as_pytest(VI_EQ_PI)
test_occupancy_property, test_occupancy_counterexample = as_pytest(OCCUPANCY)
test_episodic_property, test_episodic_counterexample = as_pytest(EPISODIC)
test_validate_property, test_validate_counterexample = as_pytest(VALIDATE)
test_finite_horizon_property, test_finite_horizon_counterexample = as_pytest(FINITE_HORIZON)
