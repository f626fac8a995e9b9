"""Check family 19: a trained OPRL implicit PRM is potential-based shaping (theory.md §9, §11.19).

Everything goes through :mod:`jaxrl.rewards.oprl`: a token tree (history-as-state, depth 4,
branching 3, 81 trajectories), a random reference ``π_ref`` (Dirichlet(1) rows), outcome rewards
``r_o ~ N(0, s²)``, s ∈ {0.1, 0.5, 1, 2}, β ∈ [0.25, 5]. The implicit PRM π_φ is *trained* with
:func:`train_implicit_prm` (trajectory DPO, L-BFGS from π_ref) on every pair of trajectories with
Bradley–Terry labels ``σ(r_i − r_j)`` (full support), and its step rewards are read with
:func:`implicit_step_rewards`, as OPRL would. Errors are relative to ``1 + max |V|``.

Tolerance 1e-7: the fit stops at ``‖∇J‖∞ ≤ 1e-12`` or 300 L-BFGS iterations; the residual is
set by the BT curvature ``σ'(r_i − r_j)``, small for large outcome gaps (s = 2, β = 0.25: ~3e-9;
s = 3: ~2e-7, hence s ≤ 2; s = 10 with β = 0.1 saturates σ and stalls at ~1e-2). Every mutation
must clear 100x the tolerance.

* **19a PBRS form** (theory.md §9 (ii)): every step reward equals ``r_o·1[s' leaf] + Φ(s') −
  Φ(s)`` with ``Φ`` the closed-form soft value (:func:`soft_values`, Φ(leaf) = 0); and the
  learner's discounted returns-to-go of the step rewards (:func:`discounted_returns`, γ of the
  case, 1 here) equal those of the sparse outcome reward minus ``Φ(s_t)`` on every trajectory
  (the PBRS invariance a learner relies on). Mutations:

  - **stochastic transitions** (own cases: depth 2, each action reaches one of 2 children): the
    DPO fit can only match preferences in expectation, so step rewards are ``Q(s,a) − V(s)``-like,
    not ``V(s') − V(s)`` per sample (theory.md: gap 1.8–2.0);
  - **gamma mismatch**: the learner discounts with γ ∈ [0.5, 0.99] while OPRL's shaping is the
    γ = 1 form ``Φ(s') − Φ(s)`` (theory.md §11.19's gap; same failure as check 1.1);
  - **wrong reference policy**: rewards read against the current policy π_θ on odd steps
    instead of the snapshot π_ref the PRM was trained against.

* **19b trajectory consistency** (§9 (i)): the step rewards sum to ``β log π_φ(τ)/π_ref(τ)``
  (:func:`trajectory_log_ratio`, a product of probabilities) on all 81 trajectories, and their
  sums order every pair as the preference data: ``z_i − z_j = r_i − r_j`` (the BT optimum).
  Mutation: the same **wrong reference policy**.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import numpy as np
import pytest
from hypothesis import strategies as st

from jaxrl.agents.reinforce import discounted_returns
from jaxrl.rewards.oprl import (
    TokenTree,
    bradley_terry_pairs,
    implicit_step_rewards,
    soft_values,
    train_implicit_prm,
    trajectory_log_ratio,
    tree_paths,
)
from theory_checks.harness import Check, Mutation, as_pytest, dirichlet_rows

TREE = TokenTree(depth=4, branch=3)
STOCHASTIC = TokenTree(depth=2, branch=3, outcomes=2)


class OprlCase(NamedTuple):
    """A random tree task, the learner's γ and which reference the step rewards are read with."""

    seed: int
    beta: float
    reward_scale: float
    tree: TokenTree = TREE
    gamma: float = 1.0
    reference: str = "snapshot"  # or "mixed": π_θ on odd steps


@functools.cache
def _paths(tree: TokenTree):
    return tree_paths(tree)


@functools.lru_cache(maxsize=256)
def _fit(seed: int, beta: float, reward_scale: float, tree: TokenTree):
    """``(log π_ref, r_leaf, trained logits)``; cached, so mutations reuse the training."""
    rng = np.random.default_rng([seed, 0])
    log_ref = np.log(dirichlet_rows(rng, (tree.n_internal, tree.branch)))
    r_leaf = reward_scale * rng.standard_normal(tree.n_leaves)
    fit = train_implicit_prm(log_ref, beta, _paths(tree), bradley_terry_pairs(r_leaf))
    return log_ref, r_leaf, np.asarray(fit.logits)


def _reward_reference(case: OprlCase, log_ref: np.ndarray):
    if case.reference == "snapshot":
        return log_ref
    theta = log_ref + np.random.default_rng([case.seed, 5]).standard_normal(log_ref.shape)
    return np.stack([log_ref if t % 2 == 0 else theta for t in range(case.tree.depth)])


def _steps(case: OprlCase):
    log_ref, r_leaf, logits = _fit(case.seed, case.beta, case.reward_scale, case.tree)
    paths = _paths(case.tree)
    ref = _reward_reference(case, log_ref)
    steps = np.asarray(implicit_step_rewards(logits, ref, case.beta, paths))
    return log_ref, r_leaf, logits, paths, steps


_returns = jax.jit(jax.vmap(discounted_returns, in_axes=(0, 0, None)))


def _pbrs_error(case: OprlCase) -> float:
    log_ref, r_leaf, _, paths, steps = _steps(case)
    V = np.asarray(soft_values(case.tree, log_ref, r_leaf, case.beta))
    phi = np.where(np.arange(len(V)) < case.tree.n_internal, V, 0.0)  # Φ(leaf) = 0
    H = case.tree.depth
    outcome = np.zeros_like(steps)
    outcome[:, -1] = r_leaf  # trajectory ℓ ends in leaf ℓ
    target = outcome + phi[paths.next_nodes] - phi[paths.nodes]
    scale = 1.0 + float(np.max(np.abs(V)))
    ones = np.ones((len(steps), H))
    g_step = np.asarray(_returns(steps, ones, case.gamma))
    g_sparse = np.asarray(_returns(outcome, ones, case.gamma))
    invariance = np.abs(g_step - (g_sparse - phi[paths.nodes]))
    return max(float(np.max(np.abs(steps - target))), float(np.max(invariance))) / scale


def _consistency_error(case: OprlCase) -> float:
    log_ref, r_leaf, logits, paths, steps = _steps(case)
    z = steps.sum(-1)
    traj = np.asarray(trajectory_log_ratio(logits, log_ref, case.beta, paths))
    prefs = bradley_terry_pairs(r_leaf)
    margins = (z[prefs.i] - z[prefs.j]) - (r_leaf[prefs.i] - r_leaf[prefs.j])
    scale = 1.0 + float(np.max(np.abs(traj)))
    return max(float(np.max(np.abs(z - traj))), float(np.max(np.abs(margins)))) / scale


def _cases(tree: TokenTree = TREE):
    draw = st.tuples(
        st.integers(0, 2**32 - 1), st.floats(0.25, 5.0), st.sampled_from([0.1, 0.5, 1.0, 2.0])
    )
    return draw.map(lambda t: OprlCase(*t, tree=tree))


def _gamma_mismatch(case: OprlCase) -> OprlCase:
    return case._replace(gamma=float(np.random.default_rng([case.seed, 6]).uniform(0.5, 0.99)))


def _mixed_reference(case: OprlCase) -> OprlCase:
    return case._replace(reference="mixed")


WRONG_REF = Mutation(
    "wrong reference policy", "rewards use the snapshot pi_ref of the DPO loss", _mixed_reference
)

OPRL_PBRS = Check(
    name="19a trained OPRL step reward = r_o 1[end] + Phi(s') - Phi(s)",
    theorem="Liu et al. 2025 (OPRL) claim (ii); Rafailov et al. 2024; theory.md 9",
    strategy=_cases(),
    error=_pbrs_error,
    tolerance=1e-7,
    mutations=(
        Mutation(
            "stochastic transitions",
            "deterministic history-as-state dynamics",
            strategy=_cases(STOCHASTIC),
        ),
        Mutation("gamma mismatch", "learner gamma = 1 of the shaping", _gamma_mismatch),
        WRONG_REF,
    ),
    description="Implicit PRM trained by trajectory DPO to convergence; Phi = soft value.",
)

OPRL_SUM = Check(
    name="19b trained OPRL step rewards sum to beta log pi_phi(tau)/pi_ref(tau), order as BT",
    theorem="Liu et al. 2025 (OPRL) claim (i); theory.md 9",
    strategy=_cases(),
    error=_consistency_error,
    tolerance=1e-7,
    mutations=(WRONG_REF,),
    description="Sum of step log-ratios = trajectory log-ratio; margins = outcome differences.",
)

test_oprl_pbrs = pytest.mark.heavy(as_pytest(OPRL_PBRS))
test_oprl_sum = as_pytest(OPRL_SUM)
