"""Check 1.1: potential-based reward shaping (Ng, Harada & Russell 1999), theory.md §1a.

Property, on random MDPs (every shape S ∈ [2, 12] × A ∈ [2, 5], γ ∈ [0, 0.999], 0–2 absorbing
terminals, Φ ~ N(0, 5²)): shaping the reward table with the library's RewardTransform
(:func:`potential_based` through :func:`apply_to_table`, exactly what a learner would see) gives

* ``Q*_{R'} = Q*_R − Φ`` (policy iteration, exact linear solves) on live states,
* equal optimal-action *sets* (tie tolerance 1e-9·(1 + scale); near-ties excluded by ``assume``),
* ``V^π_{R'} = V^π_R − Φ`` for random stochastic policies (Dirichlet α ∈ {0.3, 1, 5}),

error = worst violation / (1 + scale), scale = ‖Q*‖∞ + ‖Φ‖∞, tolerance 1e-9; a set mismatch
counts as error 1.

Mutations (the same error on the same MDPs, with the shaping transform replaced):

* **action bonus**: ``F + c·1[a = a₀]`` (Markov, not potential-based);
* **gamma mismatch**: F built with its own γ' ≠ γ (``allow_gamma_mismatch=True``);
* **non-potential F**: a random action-independent ``F(s, s')`` (Ng et al.'s necessity: any F that
  is not of the form γΦ(s') − Φ(s) changes some MDP's optimum);
* **terminal potential kept**: ``γΦ(s') − Φ(s)`` without the ``(1 − terminated)`` factor, on MDPs
  with at least one terminal (Grześ 2017: Φ(terminal) must be 0).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume

from jaxrl.mdp import TabularMDP, policy_evaluation, policy_iteration, q_values
from jaxrl.shaping.potential import (
    apply_to_table,
    potential_based,
    potential_from_table,
    potential_shaping,
)
from jaxrl.shaping.transform import RewardTransform
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, mdp_cases

N_POLICIES = 6
ALPHAS = (0.3, 1.0, 5.0)
GAP_MIN = 1e-6
BONUS = 1.0


def _sup(x) -> float:
    return float(np.max(np.abs(np.asarray(x)))) if np.size(x) else 0.0


def _solve(mdp: TabularMDP) -> np.ndarray:
    """``Q* [S, A]`` by exact policy iteration."""
    V = policy_iteration(mdp).V
    return np.asarray(q_values(mdp, V))


def min_action_gap(Q: np.ndarray, live: np.ndarray, tie: float) -> float:
    """Smallest gap ``max_a Q − Q(s, a)`` above ``tie`` on live states (inf if none)."""
    gaps = (Q.max(-1, keepdims=True) - Q)[live]
    gaps = gaps[gaps > tie]
    return float(gaps.min()) if gaps.size else np.inf


def optimal_sets(Q: np.ndarray, tie: float) -> np.ndarray:
    """``[S, A]`` bool ``{a : Q(s, a) >= max Q(s, ·) − tie}``."""
    return Q >= Q.max(-1, keepdims=True) - tie


class ShapingCase(NamedTuple):
    """A random MDP, a potential and which shaping transform the learner's rewards go through.

    ``kind``: ``"pbrs"`` (the library's :func:`potential_based`) or a mutation's name.
    """

    base: MDPCase
    phi: np.ndarray
    kind: str = "pbrs"
    extra: np.ndarray | float = 0.0  # the mutation's parameter (bonus action, F table, γ')


def _bonus(c: float, a0: int) -> RewardTransform:
    """``r + c·1[a = a₀]``: a Markov but not potential-based term."""
    return RewardTransform(
        lambda p: (), lambda p, s, tr: (tr.reward + c * (tr.action == a0), s), ()
    )


def _state_pair_table(F) -> RewardTransform:
    """``r + F[s, s']``: an arbitrary action-independent shaping term."""
    return RewardTransform(
        lambda p: (), lambda p, s, tr: (tr.reward + F[tr.obs, tr.next_obs], s), ()
    )


def _terminal_kept(phi_fn, gamma) -> RewardTransform:
    """``r + γΦ(s') − Φ(s)`` with γ not multiplied by ``1 − terminated``."""

    def apply(p, s, tr):
        return tr.reward + potential_shaping(phi_fn(tr.obs), phi_fn(tr.next_obs), gamma), s

    return RewardTransform(lambda p: (), apply, ())


@partial(jax.jit, static_argnames="kind")
def shaped_table(kind: str, R, gamma, terminal_mask, phi, extra):
    """The ``[S, A, S']`` rewards a learner sees under shaping ``kind`` (one compile per shape)."""
    phi_fn = potential_from_table(phi)
    pbrs = potential_based(phi_fn)
    if kind == "pbrs":
        transforms = [pbrs]
    elif kind == "action bonus":
        transforms = [pbrs, _bonus(BONUS, extra)]
    elif kind == "gamma mismatch":
        transforms = [potential_based(phi_fn, gamma=extra, allow_gamma_mismatch=True)]
    elif kind == "non-potential F":
        transforms = [_state_pair_table(extra)]
    elif kind == "terminal potential kept":
        transforms = [_terminal_kept(phi_fn, gamma)]
    else:
        raise ValueError(f"unknown shaping kind {kind!r}")
    out = R
    for t in transforms:
        out = apply_to_table(t, out, gamma, terminal_mask)
    return out


def _pbrs_error(case: ShapingCase) -> float:
    mdp = case.base.mdp
    live = case.base.live
    phi_live = case.phi * live
    extra = jnp.asarray(case.extra)
    R2 = shaped_table(case.kind, mdp.R, mdp.gamma, mdp.terminal_mask, case.phi, extra)
    shaped = mdp.replace(R=R2)

    Q = _solve(mdp)
    scale = _sup(Q) + _sup(case.phi)
    tie = 1e-9 * (1 + scale)
    assume(min_action_gap(Q, live, tie) > GAP_MIN)
    Q2 = _solve(shaped)

    q_err = _sup((Q2 - (Q - phi_live[:, None]))[live])
    sets_differ = np.any((optimal_sets(Q, tie) != optimal_sets(Q2, tie))[live])
    v_err = 0.0
    for i in range(N_POLICIES):
        pi = case.base.policy(ALPHAS[i % len(ALPHAS)], stream=10 + i)
        V = np.asarray(policy_evaluation(mdp, pi))
        V2 = np.asarray(policy_evaluation(shaped, pi))
        v_err = max(v_err, _sup((V2 - (V - phi_live))[live]))
    err = max(q_err, v_err) / (1 + scale)
    return max(err, 1.0 if sets_differ else 0.0)


# ----------------------------------------------------------------------------- cases
def _pbrs_cases(**kw):
    return mdp_cases(**kw).map(lambda c: ShapingCase(c, c.potential()))


def _action_bonus(case: ShapingCase) -> ShapingCase:
    """Bonus on the action that is worst (largest gap) somewhere in M."""
    Q = _solve(case.base.mdp)
    live = case.base.live
    gaps = np.where(live[:, None], Q.max(-1, keepdims=True) - Q, -np.inf)
    a0 = int(np.unravel_index(np.argmax(gaps), gaps.shape)[1])
    return case._replace(kind="action bonus", extra=np.int32(a0))


def _gamma_mismatch(case: ShapingCase) -> ShapingCase:
    g = case.base.gamma
    return case._replace(kind="gamma mismatch", extra=1.0 if g < 0.75 else 0.5 * g)


def _non_potential(case: ShapingCase) -> ShapingCase:
    S = case.base.n_padded
    return case._replace(kind="non-potential F", extra=case.base.rng(3).standard_normal((S, S)))


def _terminal_kept_mutation(case: ShapingCase) -> ShapingCase:
    return case._replace(kind="terminal potential kept")


PBRS = Check(
    name="1.1 PBRS Q-shift, optimal sets, V^pi shift",
    theorem="Ng, Harada & Russell 1999, Thm 1 (sufficiency and necessity)",
    strategy=_pbrs_cases(),
    error=_pbrs_error,
    tolerance=1e-9,
    mutations=(
        Mutation("action bonus", "F = gamma Phi(s') - Phi(s) (no action term)", _action_bonus),
        Mutation("gamma mismatch", "F uses the learner's gamma", _gamma_mismatch),
        Mutation("non-potential F", "F(s, s') is a potential difference", _non_potential),
        Mutation(
            "terminal potential kept",
            "Phi(terminal) = 0 (Grzes 2017)",
            strategy=_pbrs_cases(n_terminal=(1, 2)).map(_terminal_kept_mutation),
        ),
    ),
    description="R' = apply_to_table(potential_based(Phi)); error / (1 + |Q*| + |Phi|).",
)

test_pbrs = as_pytest(PBRS)
