"""Checks 0a–0f: the exact MDP layer (:mod:`jaxrl.mdp`) that every other check stands on.

Cases: padded ``mdp_cases()`` (every S ∈ [2, 12] × A ∈ [2, 5], γ ∈ [0, 0.999], 0–2 absorbing
terminals, sparse/dense), per-state quantities compared on live states; the padding states are
terminal and unreachable, so nothing changes on the real MDP. Each case carries the solver
settings a user passes (iteration caps, tolerances, which occupancy function, the recursion's γ),
and mutations swap them for a plausible bug or an invalid input; the same error judges both.

* **0a policy iteration exact and optimal**: ``policy_evaluation(π_PI) = V_PI`` and
  ``max_a Q(V_PI) = V_PI``; error / (1 + ‖V‖∞), tol 1e-9. Mutation: PI stopped after one
  improvement (``max_iters=1``, started from the reward-worst policy so that the first
  step changes it: the returned V is then the previous policy's).
* **0b value iteration = policy iteration**: ``‖V_VI − V_PI‖∞ / (1 + ‖V‖∞) ≤ 1e-10`` (VI to its
  default 1e-12 bound). Mutations: a loose tolerance 1e-2; VI truncated at 5 sweeps.
* **0c occupancy**: ``μ ≥ 0``, ``Σμ = 1``, ``J = Σ μ r / (1 − γ)`` and ``J = Σ ν r`` (theory.md
  §0.1 normalisations) for Dirichlet policies (α ∈ {0.3, 1, 5}), terminals included; tol 1e-9.
  Mutations: occupancy not normalised (``discounted_visits`` where ``occupancy_measure`` is
  meant), occupancy under a wrong γ', policy rows that do not sum to 1 (invalid input).
* **0d episodic γ = 1** (dense P, 1–3 absorbing terminals reachable from everywhere): PI's V solves
  the Bellman equation and ``J = Σ ν r``. Mutation: the visit counts normalised to sum to 1
  (``occupancy_measure``'s γ = 1 convention) used as ν.
* **0e validate_mdp** accepts every generated MDP (continuing and episodic); error 1 if it
  rejects. Mutations (invalid inputs it must reject): a row of P scaled to sum to 0.82, a
  negative entry in a row that still sums to 1, a non-absorbing state marked terminal,
  γ = 1 with no reachable terminal, ``init_dist`` summing to 0.5.
* **0f finite horizon**: ``‖V_0^H − V*‖∞ ≤ γ^H ‖V*‖∞`` for backward induction with ``V_H = 0``
  (H = 10; H is static, so one compile per A); slack ≥ −1e-10 (relative to 1 + ‖V*‖);
  ``attained`` = lhs / rhs. Mutation: backward induction without discounting (γ = 1 in the
  recursion of a discounted MDP).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import (
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
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, mdp_cases

HORIZON = 10


class SolverCase(NamedTuple):
    """A drawn MDP and the solver settings used on it (the defaults are the correct ones)."""

    base: MDPCase
    alpha: float = 1.0  # Dirichlet α of the evaluated policy
    pi_iters: int = 1000
    pi0_worst: bool = False  # start PI from the reward-worst policy (default: reward-greedy)
    vi_tol: float = 1e-12
    vi_iters: int = 100_000
    occupancy: str = "occupancy_measure"  # or "discounted_visits" (unnormalised)
    occ_gamma: float | None = None  # γ the occupancy is computed with (None: the MDP's)
    policy_scale: float = 1.0  # multiplies the policy rows (≠ 1: invalid input)
    visits: str = "discounted_visits"  # ν used in J = Σ ν r (0d)
    horizon: int = 10
    fh_gamma: float | None = None  # γ of the backward recursion (None: the MDP's)


def _sup(x) -> float:
    x = np.asarray(x)
    return float(np.max(np.abs(x))) if x.size else 0.0


def _cases(**kw):
    return mdp_cases(**kw).map(SolverCase)


def _with(**kw):
    return lambda case: case._replace(**kw)


# ----------------------------------------------------------------------------- 0a
def _pi_error(case: SolverCase) -> float:
    mdp, live = case.base.mdp, case.base.live
    if case.pi0_worst:
        V, _, pi = policy_iteration(mdp, case.pi_iters, -np.asarray(mdp.expected_reward))
    else:
        V, _, pi = policy_iteration(mdp, case.pi_iters)  # the call other checks make (one compile)
    V = np.asarray(V)
    V_ls = np.asarray(policy_evaluation(mdp, pi))
    bellman = np.asarray(q_values(mdp, V)).max(-1) - V
    return max(_sup((V_ls - V)[live]), _sup(bellman[live])) / (1 + _sup(V))


PI_OPTIMAL = Check(
    name="0a policy iteration exact and optimal",
    theorem="Howard 1960; Bellman optimality (theory.md §0.1 exact solvers)",
    strategy=_cases(),
    error=_pi_error,
    tolerance=1e-9,
    mutations=(
        Mutation(
            "stopped after 1 step",
            "PI run to a fixed policy",
            _with(pi_iters=1, pi0_worst=True),
        ),
    ),
    description="V_PI = linear solve of pi_PI and max_a Q(V_PI) = V_PI (relative to 1 + |V|).",
)


# ----------------------------------------------------------------------------- 0b
def _vi_error(case: SolverCase) -> float:
    mdp, live = case.base.mdp, case.base.live
    V_vi = value_iteration(mdp, tol=case.vi_tol, max_iters=case.vi_iters).V
    V_pi = policy_iteration(mdp).V
    return _sup((np.asarray(V_vi) - np.asarray(V_pi))[live]) / (1 + _sup(V_pi))


VI_EQ_PI = Check(
    name="0b value iteration = policy iteration",
    theorem="Banach fixed point: VI converges to V* (Puterman 1994, Thm 6.3.1)",
    strategy=_cases(),
    error=_vi_error,
    tolerance=1e-10,
    mutations=(
        Mutation("loose tolerance", "VI run to its 1e-12 error bound", _with(vi_tol=1e-2)),
        Mutation("truncated at 5 sweeps", "VI run to convergence", _with(vi_iters=5)),
    ),
    description="VI at its default 1e-12 error bound matches exact PI (relative to 1 + |V|).",
)


# ----------------------------------------------------------------------------- 0c
def _occupancy_error(case: SolverCase) -> float:
    mdp = case.base.mdp
    pi = case.base.policy(case.alpha) * case.policy_scale
    g = float(mdp.gamma)
    occ_mdp = mdp if case.occ_gamma is None else mdp.replace(gamma=np.float64(case.occ_gamma))
    occ_fn = occupancy_measure if case.occupancy == "occupancy_measure" else discounted_visits
    mu = np.asarray(occ_fn(occ_mdp, pi))
    r = np.asarray(mdp.expected_reward)
    J = float(expected_return(mdp, pi))
    J_nu = float(np.sum(np.asarray(discounted_visits(mdp, pi)) * r))
    scale = 1 + abs(J)
    return max(
        max(0.0, -float(mu.min())),
        abs(float(mu.sum()) - 1),
        abs(J - float(np.sum(mu * r)) / (1 - g)) / scale,
        abs(J - J_nu) / scale,
    )


def _wrong_gamma(case: SolverCase) -> SolverCase:
    g = case.base.gamma
    return case._replace(occ_gamma=0.5 * g if g > 0.2 else g + 0.5)


OCCUPANCY = Check(
    name="0c occupancy sums to 1 and J = sum(mu r)/(1-gamma)",
    theorem="Puterman 1994 §6.9 (dual LP); theory.md §0.1 normalisations",
    strategy=st.builds(
        lambda c, a: c._replace(alpha=a), _cases(), st.sampled_from([0.3, 1.0, 5.0])
    ),
    error=_occupancy_error,
    tolerance=1e-9,
    mutations=(
        Mutation(
            "occupancy not normalised",
            "mu = (1 - gamma) nu",
            _with(occupancy="discounted_visits"),
        ),
        Mutation("wrong gamma", "occupancy under the MDP's gamma", _wrong_gamma),
        Mutation("policy rows sum to 1.3", "pi(.|s) is a distribution", _with(policy_scale=1.3)),
    ),
    description="Normalised occupancy, unnormalised return, terminal states included.",
)


# ----------------------------------------------------------------------------- 0d
_episodic = mdp_cases(gamma=(1.0, 1.0), sparse=False, n_terminal=(1, 3))


def _episodic_error(case: SolverCase) -> float:
    mdp, live = case.base.mdp, case.base.live
    V, _, pi = policy_iteration(mdp)
    V = np.asarray(V)
    bellman = np.asarray(q_values(mdp, V)).max(-1) - V
    J = float(expected_return(mdp, pi))
    nu_fn = discounted_visits if case.visits == "discounted_visits" else occupancy_measure
    J_nu = float(np.sum(np.asarray(nu_fn(mdp, pi)) * np.asarray(mdp.expected_reward)))
    return max(_sup(bellman[live]) / (1 + _sup(V)), abs(J - J_nu) / (1 + abs(J)))


EPISODIC = Check(
    name="0d episodic gamma = 1 with absorbing terminals",
    theorem="Bertsekas & Tsitsiklis 1991 (stochastic shortest path, proper policies)",
    strategy=_episodic.map(SolverCase),
    error=_episodic_error,
    tolerance=1e-9,
    mutations=(
        Mutation(
            "visits normalised",
            "nu = expected visit counts (unnormalised)",
            _with(visits="occupancy_measure"),
        ),
    ),
    description="PI solves the Bellman equation at gamma = 1 and J = sum(nu r).",
)


# ----------------------------------------------------------------------------- 0e
def _validate_error(case: SolverCase) -> float:
    """0 if ``validate_mdp`` accepts the case's MDP, 1 if it rejects it."""
    try:
        validate_mdp(case.base.mdp)
    except ValueError:
        return 1.0
    return 0.0


def _edit_mdp(edit):
    """Mutation from ``edit(case, mdp, s, rng) -> mdp``, ``s`` a random live real state."""

    def mutate(case: SolverCase) -> SolverCase:
        rng = case.base.rng(40)
        s = int(rng.choice(np.flatnonzero(case.base.live)))
        return case._replace(base=replace(case.base, mdp=edit(case.base, case.base.mdp, s, rng)))

    return mutate


def _scale_row(base, mdp, s, rng):
    P = np.array(mdp.P)
    P[s, rng.integers(P.shape[1])] *= 0.82
    return mdp.replace(P=P)


def _negative_entry(base, mdp, s, rng):
    P = np.array(mdp.P)
    a = rng.integers(P.shape[1])
    i, j = rng.choice(P.shape[0], 2, replace=False)
    P[s, a, j] += P[s, a, i] + 0.1
    P[s, a, i] = -0.1  # the row still sums to 1
    return mdp.replace(P=P)


def _fake_terminal(base, mdp, s, rng):
    term = np.array(mdp.terminal_mask)
    term[s] = True
    return mdp.replace(terminal_mask=term)


def _no_terminal_episodic(base, mdp, s, rng):
    """γ = 1 with the real terminals unmarked (still absorbing); padding is unreachable."""
    term = np.array(mdp.terminal_mask)
    term[: base.n_states] = False
    return mdp.replace(gamma=np.float64(1.0), terminal_mask=term)


def _half_d0(base, mdp, s, rng):
    return mdp.replace(init_dist=0.5 * np.asarray(mdp.init_dist))


VALIDATE = Check(
    name="0e validate_mdp accepts valid MDPs and rejects invalid ones",
    theorem="jaxrl.mdp.core conventions (stochastic P, absorbing terminals, gamma = 1 episodic)",
    strategy=st.one_of(_cases(), _episodic.map(SolverCase)),
    error=_validate_error,
    tolerance=0.0,
    mutations=(
        Mutation("row sums to 0.82", "rows of P sum to 1", _edit_mdp(_scale_row)),
        Mutation("negative probability", "P >= 0", _edit_mdp(_negative_entry)),
        Mutation("non-absorbing terminal", "terminal states absorb", _edit_mdp(_fake_terminal)),
        Mutation(
            "gamma = 1, no terminal",
            "gamma = 1 needs a reachable terminal",
            _edit_mdp(_no_terminal_episodic),
        ),
        Mutation("init_dist sums to 0.5", "d0 is a distribution", _edit_mdp(_half_d0)),
    ),
    description="Error 1 = rejected; each mutation is an invalid input that must be rejected.",
)


# ----------------------------------------------------------------------------- 0f
def _fh_terms(case: SolverCase) -> tuple[float, float, float]:
    """``(‖V_0^H − V*‖, γ^H ‖V*‖, ‖V*‖)`` on live states."""
    mdp, live = case.base.mdp, case.base.live
    g = mdp.gamma if case.fh_gamma is None else np.float64(case.fh_gamma)
    V0 = np.asarray(
        finite_horizon(
            mdp.P, mdp.R, horizon=case.horizon, gamma=g, terminal_mask=mdp.terminal_mask
        ).V[0]
    )
    V_star = policy_iteration(mdp).V
    V_star = np.asarray(V_star)
    return (
        _sup((V0 - V_star)[live]),
        float(mdp.gamma) ** case.horizon * _sup(V_star[live]),
        _sup(V_star),
    )


def _fh_error(case: SolverCase) -> float:
    lhs, rhs, scale = _fh_terms(case)
    return max(0.0, lhs - rhs) / (1 + scale)


def _fh_attained(case: SolverCase) -> float:
    """lhs / rhs where the bound is above round-off (γ^H ‖V*‖ > 1e-8 (1 + ‖V*‖)), else 0."""
    lhs, rhs, scale = _fh_terms(case)
    return lhs / rhs if rhs > 1e-8 * (1 + scale) else 0.0


FINITE_HORIZON = Check(
    name="0f finite horizon converges at rate gamma^H",
    theorem="Puterman 1994 §6.3 (|T^H 0 - V*| <= gamma^H |V*|)",
    strategy=_cases().map(_with(horizon=HORIZON)),
    error=_fh_error,
    tolerance=1e-10,
    attained=_fh_attained,
    mutations=(
        Mutation("undiscounted recursion", "backup uses the MDP's gamma", _with(fh_gamma=1.0)),
    ),
    description="|V_0^H - V*| <= gamma^H |V*| (inequality; error = max(0, -slack)).",
)


test_pi_optimal = as_pytest(PI_OPTIMAL)
test_vi_eq_pi = as_pytest(VI_EQ_PI)
test_occupancy = as_pytest(OCCUPANCY)
test_episodic = as_pytest(EPISODIC)
test_validate = as_pytest(VALIDATE)
test_finite_horizon = as_pytest(FINITE_HORIZON)
