"""Check 13: ORPO's trained discriminator and its penalty rewards (theory.md §4, item 13).

Laidlaw, Singhal & Dragan (ICLR 2025) train a logistic discriminator ``d(s, a)`` on current- vs
reference-policy samples; at the optimum ``d = log μ_π/μ_ref``, so the per-sample penalties
``e^d − 1`` (χ²), ``d`` (KL) and ``(e^d − 1)/√χ̂²`` (√χ²) have means ``χ²``, ``KL`` and ``√χ²``
under ``μ_π``.

Property, on random MDPs (every shape, padded to 12 states; γ ∈ [0, 0.999]; 0–2 terminals), a
random policy π (Dirichlet α ∈ {0.3, 1, 5}) and a full-support reference (Dirichlet(5)), with the
exact normalised occupancies ``μ_π``, ``μ_ref`` (:func:`jaxrl.mdp.occupancy_measure`): the
library's discriminator (``Discriminator`` with ``hidden_sizes=()`` on one-hot ``(s, a)``
cells, i.e. a tabular logit) **trained** by :func:`jaxrl.rewards.fit_occupancy_ratio_exact`
(full batch, weighted by the occupancies, 40 Newton/IRLS steps, float64) satisfies

* ``Σ μ_π |d − log μ_π/μ_ref|`` (cells where both are > 0; :func:`bayes_optimal_logit`),
* ``|E_π[e^d − 1] − χ²| / (1 + χ²)`` (penalty ``"chi2"``, :func:`chi2`),
* ``|E_π[d] − KL| / (1 + KL)`` (penalty ``"kl"``, :func:`kl`),
* ``|E_π[p] − √χ²| / (1 + √χ²)`` for the √χ² reward ``p = penalty_from_logits(d, "sqrt_chi2",
  weights=μ_π, trim=0)`` (its normaliser is the μ_π-weighted mean of ``e^d − 1``, the population
  version of ORPO's batch mean; the 1% trimming is a finite-sample device and is switched off),

error = the largest, tolerance 1e-10. Why 1e-10: the fit's optimality certificate is
``max|∂L/∂θ| ≲ 1e-13``; to first order an identity is off by ``Σ_i |g_i| (1 + w_i)``
(``w = μ_π/μ_ref``) over ≤ 60 cells, below 1e-10 unless some ``w > 1e3``; measured worst 3e-14.

Mutations (the same error, on the same cases):

* **√KL penalty**: the square-root penalty normalised by the KL estimate, ``d / √E_π[d]`` (mean
  ``√KL``), in place of ``(e^d − 1)/√E_π[e^d − 1]``; ``KL < χ²`` so the √χ² identity fails;
* **occupancy not normalised**: both occupancies are the unnormalised discounted visits
  (:func:`jaxrl.mdp.discounted_visits`, mass ``1/(1 − γ)``): the ratio, hence ``d``, is unchanged
  and the χ²/KL identities scale along, but ``E_π[p] = c√χ² ≠ √(cχ²)``, ``c = 1/(1 − γ)``;
* **untrained discriminator**: the freshly initialised network (no training step);
* **wrong labels**: trained with π's occupancy as the reference and vice versa (``d → −d*``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import discounted_visits, occupancy_measure
from jaxrl.regularizers import bayes_optimal_logit, chi2, kl, sqrt_chi2
from jaxrl.rewards import (
    DiscBatch,
    discriminator_logits,
    fit_occupancy_ratio_exact,
    init_discriminator,
    orpo_config,
    penalty_from_logits,
)
from theory_checks.harness import PAD_STATES, Check, MDPCase, Mutation, as_pytest, mdp_cases

MAX_ACTIONS = 5
CELLS = PAD_STATES * MAX_ACTIONS  #: every case is padded to 12 × 5 cells: one compile in total
FIT_STEPS = 40
CONFIG = orpo_config(CELLS, 1, inputs="s", hidden_sizes=())


class DiscCase(NamedTuple):
    """An MDP, π's Dirichlet α, and how the discriminator / penalty are built (mutations)."""

    base: MDPCase
    alpha: float
    penalty: str = "sqrt_chi2"  # or "sqrt_kl"
    normalised: bool = True
    trained: bool = True
    swap_labels: bool = False


@lru_cache(maxsize=1)
def _init_params():
    return init_discriminator(jax.random.PRNGKey(0), CONFIG)


def _cells(x) -> np.ndarray:
    """``[S, A]`` -> ``[CELLS]`` (actions padded to :data:`MAX_ACTIONS` with zero mass)."""
    x = np.asarray(x, np.float64)
    out = np.zeros((PAD_STATES, MAX_ACTIONS))
    out[: x.shape[0], : x.shape[1]] = x
    return out.ravel()


def occupancies(case: DiscCase) -> tuple[np.ndarray, np.ndarray]:
    """``(μ_π, μ_ref)`` ``[CELLS]`` (normalised occupancies, or discounted visits if mutated)."""
    occ = occupancy_measure if case.normalised else discounted_visits
    mdp = case.base.mdp
    mu = occ(mdp, case.base.policy(alpha=case.alpha, stream=2))
    mu_ref = occ(mdp, case.base.policy(alpha=5.0, stream=1))
    return _cells(mu), _cells(mu_ref)


def trained_logits(case: DiscCase, mu: np.ndarray, mu_ref: np.ndarray) -> np.ndarray:
    """``d`` ``[CELLS]`` of the library's discriminator trained on the exact occupancies."""
    state = _init_params()
    batch = DiscBatch(jnp.eye(CELLS), jnp.zeros(CELLS, jnp.int32))
    if not case.trained:
        return np.asarray(discriminator_logits(CONFIG, state.variables, batch))
    w_pi, w_ref = (mu_ref, mu) if case.swap_labels else (mu, mu_ref)
    _, metrics = fit_occupancy_ratio_exact(state, batch, w_pi, w_ref, num_steps=FIT_STEPS)
    return np.asarray(metrics["logits"])


def _root_penalty(case: DiscCase, d: np.ndarray, mu: np.ndarray) -> np.ndarray:
    if case.penalty == "sqrt_kl":  # mutation: normalised by the KL estimate, mean √KL
        return d / np.sqrt(np.sum(mu * d))
    return np.asarray(penalty_from_logits(d, "sqrt_chi2", trim=0.0, weights=mu))


def discriminator_errors(case: DiscCase) -> dict[str, float]:
    """The four error terms of check 13 (see the module docstring)."""
    mu, mu_ref = occupancies(case)
    d = trained_logits(case, mu, mu_ref)
    both = (mu > 0) & (mu_ref > 0)
    d_star = np.asarray(bayes_optimal_logit(mu, mu_ref))
    c2, k, root = (float(f(mu, mu_ref)) for f in (chi2, kl, sqrt_chi2))
    e_chi2 = float(np.sum(mu * np.asarray(penalty_from_logits(d, "chi2"))))
    e_kl = float(np.sum(mu * np.asarray(penalty_from_logits(d, "kl"))))
    e_root = float(np.sum(mu * _root_penalty(case, d, mu)))
    return {
        "logit": float(np.sum(np.where(both, mu * np.abs(d - np.where(both, d_star, 0.0)), 0.0))),
        "chi2_identity": abs(e_chi2 - c2) / (1 + c2),
        "kl_identity": abs(e_kl - k) / (1 + k),
        "sqrt_chi2_reward": abs(e_root - root) / (1 + root),
    }


def _error(case: DiscCase) -> float:
    return max(discriminator_errors(case).values())


_cases = st.tuples(mdp_cases(), st.sampled_from([0.3, 1.0, 5.0])).map(lambda t: DiscCase(*t))

ORPO_DISCRIMINATOR = Check(
    name="13 ORPO trained discriminator",
    theorem="Laidlaw, Singhal & Dragan 2025 (ORPO): d* = log mu_pi/mu_ref, E_pi[e^d-1] = chi2",
    strategy=_cases,
    error=_error,
    tolerance=1e-10,
    mutations=(
        Mutation(
            "sqrt-KL penalty",
            "the root penalty is normalised by chi2 (mean sqrt chi2), not KL",
            mutate=lambda c: c._replace(penalty="sqrt_kl"),
        ),
        Mutation(
            "occupancy not normalised",
            "mu_pi, mu_ref are probability distributions (sum to 1)",
            mutate=lambda c: c._replace(normalised=False),
        ),
        Mutation(
            "untrained discriminator",
            "d is trained to the logistic-loss optimum",
            mutate=lambda c: c._replace(trained=False),
        ),
        Mutation(
            "wrong labels",
            "softplus(-d) on pi's samples, softplus(d) on the reference's",
            mutate=lambda c: c._replace(swap_labels=True),
        ),
    ),
    description="fit_occupancy_ratio_exact (tabular logit, 40 IRLS steps) on exact occupancies; "
    "d = log mu/mu_ref, E[e^d-1] = chi2, E[d] = KL, E[sqrt-chi2 reward] = sqrt chi2.",
)

test_orpo_discriminator = as_pytest(ORPO_DISCRIMINATOR)
