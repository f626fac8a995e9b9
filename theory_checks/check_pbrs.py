"""Check family 1.1: potential-based reward shaping (Ng, Harada & Russell 1999), theory.md §1a.

Property (on random MDPs with 0–2 absorbing terminals, Φ ~ N(0, 5²), Φ(terminal) = 0 by
construction): with ``R' = R + γΦ(s') − Φ(s)``

* ``Q*_{R'} = Q*_R − Φ`` (policy iteration, exact linear solves),
* equal optimal-action *sets* (tie tolerance 1e-9·(1 + scale); near-ties excluded by ``assume``),
* ``V^π_{R'} = V^π_R − Φ`` for 20 random stochastic policies (Dirichlet α ∈ {0.3, 1, 5}),
* the table form :func:`shaped_reward_table` equals the RewardTransform :func:`potential_based`
  applied to the flattened ``[S, A, S']`` batch of transitions (:func:`apply_to_table`),

error = worst violation / (1 + scale), scale = ‖Q*‖∞ + ‖Φ‖∞, tolerance 1e-9 (a set mismatch
counts as error 1).

The theorem has three counterexamples, one Check each (same property, so each appears in the
report); each returns the optimality gap in M of M′'s optimal policy, ``max_s V*_M − V^{π'}_M``,
relative to ``1 + ‖V*_M‖∞`` (> 0 iff the optimum flipped):

* **1.1a action bonus**: ``F = γΦ(s') − Φ(s) + 100·1[a = a₀]`` (Markov, not potential-based), with
  a₀ chosen as a non-optimal action of M, so "always a₀" (M′'s optimum) is not optimal in M.
* **1.1b γ mismatch**: ``F = Φ(s') − Φ(s)`` (``potential_based(..., gamma=1, allow_gamma_mismatch
  =True)``) for an agent with γ = 0.9; s0 → goal (+1) or s0 → trap (0), both absorbing (not
  terminal: Φ is not zeroed there), Φ(trap) = 50: the optimum flips goal → trap.
* **1.1c constructive necessity**: a random action-independent F(s, s') with an absorbing s₀;
  pick distinct (s, s₁) maximising ``|δ| = |F(s, s₁) + γF(s₁, s₀) − F(s, s₀)|`` (≠ 0 iff F is not
  potential-based on that triple) and build the 3-state MDP: from s, a₀ → s₁ → s₀, a₁ → s₀ with
  ``R(s, a₁, s₀) = δ/2``. M prefers a₁ iff δ > 0, M′ prefers a₀ iff δ > 0: it always flips.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume

from jaxrl.mdp import TabularMDP, policy_evaluation, policy_iteration, q_values
from jaxrl.shaping.potential import (
    apply_to_table,
    potential_based,
    potential_from_table,
    shaped_reward_table,
)
from theory_checks.harness import Check, as_pytest, mdp_cases, numpy_mdp

N_POLICIES = 20
ALPHAS = (0.3, 1.0, 5.0)
GAP_MIN = 1e-6


def _sup(x) -> float:
    return float(np.max(np.abs(np.asarray(x)))) if np.size(x) else 0.0


def _solve(mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    """``(pi* [S, A], Q* [S, A])`` by exact policy iteration."""
    pi, V = policy_iteration(mdp)
    return np.asarray(pi), np.asarray(q_values(mdp, V))


def min_action_gap(Q: np.ndarray, live: np.ndarray, tie: float) -> float:
    """Smallest gap ``max_a Q − Q(s, a)`` above ``tie`` on live states (inf if none)."""
    gaps = (Q.max(-1, keepdims=True) - Q)[live]
    gaps = gaps[gaps > tie]
    return float(gaps.min()) if gaps.size else np.inf


def regret_of_shaped_optimum(mdp: TabularMDP, R_shaped) -> float:
    """``max_s V*_M(s) − V^{π'}_M(s)`` for π' optimal in M′ = (M with R_shaped), / (1 + ‖V*‖∞)."""
    pi_shaped, _ = policy_iteration(mdp.replace(R=jnp.asarray(R_shaped)))
    _, V_star = policy_iteration(mdp)
    V_shaped_pi = policy_evaluation(mdp, pi_shaped)
    return float(np.max(np.asarray(V_star - V_shaped_pi))) / (1 + _sup(V_star))


def optimal_sets(Q: np.ndarray, tie: float) -> np.ndarray:
    """``[S, A]`` bool ``{a : Q(s, a) >= max Q(s, ·) − tie}`` (numpy optimal_action_sets)."""
    return Q >= Q.max(-1, keepdims=True) - tie


@jax.jit
def _shaped_tables(R, phi, gamma, terminal_mask):
    """Table form and RewardTransform form of the same PBRS, one compile per shape."""
    table = shaped_reward_table(R, phi, gamma, terminal_mask)
    transform = potential_based(potential_from_table(phi))  # F uses the learner's γ
    return table, apply_to_table(transform, R, gamma, terminal_mask)


def _pbrs_error(case) -> float:
    mdp = case.mdp
    live = ~np.asarray(mdp.terminal_mask)
    phi = case.potential()
    phi_live = phi * live

    R_table, R_transform = _shaped_tables(mdp.R, jnp.asarray(phi), mdp.gamma, mdp.terminal_mask)
    shaped = mdp.replace(R=R_table)

    _, Q = _solve(mdp)
    _, Q2 = _solve(shaped)
    scale = _sup(Q) + _sup(phi)
    tie = 1e-9 * (1 + scale)
    assume(min_action_gap(Q, live, tie) > GAP_MIN)

    q_err = _sup(Q2 - (Q - phi_live[:, None]))
    sets_differ = np.any(optimal_sets(Q, tie) != optimal_sets(Q2, tie))
    v_err = 0.0
    for i in range(N_POLICIES):
        pi = jnp.asarray(case.policy(ALPHAS[i % len(ALPHAS)], stream=10 + i))
        V = policy_evaluation(mdp, pi)
        V2 = policy_evaluation(shaped, pi)
        v_err = max(v_err, _sup(np.asarray(V2) - (np.asarray(V) - phi_live)))
    table_err = _sup(np.asarray(R_table) - np.asarray(R_transform))
    err = max(q_err, v_err, table_err) / (1 + scale)
    return max(err, 1.0 if sets_differ else 0.0)


# ----------------------------------------------------------------------------- counterexamples
def _action_bonus_counter(c: float = 100.0) -> float:
    mdp = numpy_mdp(seed=11, n_states=7, n_actions=4, gamma=0.9)  # a DEFAULT_SHAPES shape
    phi = 5.0 * np.random.default_rng(12).standard_normal(7)
    _, Q = _solve(mdp)
    s, a0 = np.unravel_index(np.argmax(Q.max(-1, keepdims=True) - Q), Q.shape)
    del s  # a0 is strictly sub-optimal in state s, so "always a0" is not optimal in M
    bonus = np.zeros(Q.shape)[:, :, None] + c * (np.arange(Q.shape[1]) == a0)[None, :, None]
    R_shaped = _shaped_tables(mdp.R, jnp.asarray(phi), mdp.gamma, mdp.terminal_mask)[0] + bonus
    return regret_of_shaped_optimum(mdp, R_shaped)


def goal_trap_mdp(gamma: float = 0.9) -> TabularMDP:
    """s0 (0) → goal (1) with +1 via a0, → trap (2) with 0 via a1; goal and trap absorb, reward 0.

    Absorbing but *not* terminal, so ``potential_based`` does not zero Φ there.
    """
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = P[2, :, 2] = 1.0
    R = np.zeros((3, 2, 3))
    R[0, 0, 1] = 1.0
    return TabularMDP.create(P, R, gamma, init_dist=np.array([1.0, 0.0, 0.0]))


def _gamma_mismatch_counter() -> float:
    mdp = goal_trap_mdp(0.9)
    phi = jnp.asarray([0.0, 0.0, 50.0])
    wrong = potential_based(potential_from_table(phi), gamma=1.0, allow_gamma_mismatch=True)
    # The learner's γ = 0.9 (the transitions' discount); F uses γ' = 1. One jit, not ~20 eager ops.
    R_shaped = jax.jit(lambda R, g: apply_to_table(wrong, R, g))(mdp.R, mdp.gamma)
    return regret_of_shaped_optimum(mdp, R_shaped)


def potential_defect(F: np.ndarray, gamma: float, absorbing: int) -> np.ndarray:
    """``δ[s, s₁] = F(s, s₁) + γF(s₁, s₀) − F(s, s₀)`` for absorbing s₀ (0 iff F is PBRS)."""
    return F + gamma * F[:, absorbing][None, :] - F[:, absorbing][:, None]


def necessity_mdp(F: np.ndarray, gamma: float, absorbing: int) -> tuple[TabularMDP, np.ndarray]:
    """The 3-state MDP (s, s₁, s₀) of Ng et al.'s necessity proof and ``R + F`` on it.

    ``(s, s₁)`` maximise ``|δ|`` over distinct non-absorbing pairs; states are renumbered
    ``s → 0, s₁ → 1, s₀ → 2`` (terminal).
    """
    delta = potential_defect(F, gamma, absorbing)
    n = F.shape[0]
    cand = [(i, j) for i in range(n) for j in range(n) if len({i, j, absorbing}) == 3]
    s, s1 = max(cand, key=lambda ij: abs(delta[ij]))
    d = float(delta[s, s1])
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 2] = 1.0
    P[2, :, 2] = 1.0
    R = np.zeros((3, 2, 3))
    R[0, 1, 2] = d / 2
    idx = np.array([s, s1, absorbing])
    F3 = F[np.ix_(idx, idx)]
    mdp = TabularMDP.create(
        P, R, gamma, init_dist=np.array([1.0, 0.0, 0.0]), terminal_mask=np.array([0, 0, 1], bool)
    )
    return mdp, R + F3[:, None, :]


def _necessity_counter() -> float:
    gamma = 0.9
    F = np.random.default_rng(13).standard_normal((4, 4))  # generic F: not potential-based
    mdp, R_shaped = necessity_mdp(F, gamma, absorbing=3)
    return regret_of_shaped_optimum(mdp, R_shaped)


# ----------------------------------------------------------------------------- checks
_cases = mdp_cases(n_terminal=(0, 2))
_DESC = (
    "Q*' = Q* - Phi, equal optimal sets, V^pi shift (20 pi), table == transform; "
    "/(1 + |Q*| + |Phi|). Counterexample error: regret in M of M''s optimum. "
)

PBRS_ACTION_BONUS = Check(
    name="1.1a PBRS Q-shift (cx: action bonus)",
    strategy=_cases,
    error=_pbrs_error,
    tolerance=1e-9,
    counterexample=_action_bonus_counter,
    examples=40,
    description=_DESC + "Counterexample: F + 100*1[a=a0], a0 sub-optimal in M.",
)
PBRS_GAMMA_MISMATCH = Check(
    name="1.1b PBRS Q-shift (cx: gamma mismatch)",
    strategy=_cases,
    error=_pbrs_error,
    tolerance=1e-9,
    counterexample=_gamma_mismatch_counter,
    examples=20,
    description=_DESC + "Counterexample: F = Phi(s') - Phi(s) for gamma = 0.9, goal -> trap.",
)
PBRS_NECESSITY = Check(
    name="1.1c PBRS Q-shift (cx: non-potential F, necessity)",
    strategy=_cases,
    error=_pbrs_error,
    tolerance=1e-9,
    counterexample=_necessity_counter,
    examples=20,
    description=_DESC + "Counterexample: 3-state MDP built from a random F with delta != 0.",
)

test_pbrs_action_bonus_property, test_pbrs_action_bonus_counterexample = as_pytest(
    PBRS_ACTION_BONUS
)
test_pbrs_gamma_mismatch_property, test_pbrs_gamma_mismatch_counterexample = as_pytest(
    PBRS_GAMMA_MISMATCH
)
test_pbrs_necessity_property, test_pbrs_necessity_counterexample = as_pytest(PBRS_NECESSITY)
