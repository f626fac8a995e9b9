"""Check 13: the ORPO discriminator identities (theory.md §4, "Discriminator identities", item 13).

For exact tabular occupancies ``μ = μ_π``, ``μ_ref`` (full-support Dirichlet(5) reference, random
π with Dirichlet α ∈ {0.3, 1, 5}), the Bayes-optimal logistic discriminator
``d* = log μ/μ_ref`` (:func:`jaxrl.regularizers.bayes_optimal_logit`) satisfies

* ``E_π[e^{d*} − 1] = χ²(μ ‖ μ_ref)``, computed through ORPO's χ² penalty reward
  (:func:`jaxrl.regularizers.penalty_from_logits`, ``"chi2"``), relative to ``1 + χ²``;
* ``E_π[d*] = KL(μ ‖ μ_ref)`` through the KL penalty reward (``"kl"``), relative to ``1 + KL``;
* ``d*`` minimises the population logistic loss
  ``L(d) = Σ μ softplus(−d) + Σ μ_ref softplus(d)`` (:func:`population_logistic_loss`): its
  gradient (``jax.grad``) vanishes, ``‖∇L(d*)‖∞``, and random perturbations ``d* + δ``
  (``δ ~ 0.1·N(0, 1)`` and ``1e-3·N(0, 1)``) never decrease it, ``max(0, L(d*) − L(d* + δ))``.

The error is the largest of these; tolerance 1e-12 (reference error 4e-16). Cells with
``μ = 0`` (a Dirichlet(0.3) row can underflow) are left out of the loss terms (``d* = −inf``
there, contributing 0 to both expectations).

Counterexample: a non-Bayes-optimal discriminator ``d = 0.5 · d*`` (an under-trained, shrunk
one) breaks both identities and has a non-zero loss gradient.
"""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import occupancy_measure
from jaxrl.regularizers import (
    bayes_optimal_logit,
    chi2,
    kl,
    penalty_from_logits,
    population_logistic_loss,
)
from theory_checks.harness import Check, as_pytest, dirichlet_rows, mdp_cases, numpy_mdp

_grad_loss = jax.jit(jax.grad(population_logistic_loss))

#: Occupancies are flattened and zero-padded to this length (12 × 5, the largest shape) before
#: the jitted divergence / penalty / loss calls, so each compiles once for every (S, A); padded
#: cells have μ = μ_ref = 0 and contribute nothing to any term.
PAD = 60


def _pad(x) -> np.ndarray:
    x = np.ravel(np.asarray(x, np.float64))
    return np.concatenate([x, np.zeros(max(PAD - x.size, 0))])


def discriminator_errors(mu, mu_ref, d, rng: np.random.Generator) -> dict[str, float]:
    """The four error terms of check 13 for a candidate discriminator ``d`` (cellwise array)."""
    mu, mu_ref, d = (_pad(x) for x in (mu, mu_ref, d))
    support = mu > 0
    c2 = float(chi2(mu, mu_ref))
    k = float(kl(mu, mu_ref))
    pen_chi2 = np.asarray(penalty_from_logits(d, "chi2"))
    pen_kl = np.asarray(penalty_from_logits(d, "kl"))
    e_chi2 = float(np.sum(np.where(support, mu * pen_chi2, 0.0)))
    e_kl = float(np.sum(np.where(support, mu * pen_kl, 0.0)))
    # Loss restricted to the support of μ (where d* is finite).
    d_s = np.where(support, d, 0.0)
    mu_s, ref_s = np.where(support, mu, 0.0), np.where(support, mu_ref, 0.0)
    grad = np.asarray(_grad_loss(d_s, mu_s, ref_s))
    base = float(population_logistic_loss(d_s, mu_s, ref_s))
    decrease = 0.0
    for scale in (0.1, 1e-3):
        delta = np.where(support, scale * rng.standard_normal(d.shape), 0.0)
        perturbed = float(population_logistic_loss(d_s + delta, mu_s, ref_s))
        decrease = max(decrease, base - perturbed)
    return {
        "chi2_identity": abs(e_chi2 - c2) / (1 + c2),
        "kl_identity": abs(e_kl - k) / (1 + k),
        "loss_gradient": float(np.max(np.abs(grad))),
        "loss_decrease": max(0.0, decrease),
    }


_cases = st.tuples(mdp_cases(), st.sampled_from([0.3, 1.0, 5.0]))


def _error(args) -> float:
    case, alpha = args
    mu_ref = np.asarray(occupancy_measure(case.mdp, case.policy(alpha=5.0, stream=1)))
    mu = np.asarray(occupancy_measure(case.mdp, case.policy(alpha=alpha, stream=2)))
    d_star = np.asarray(bayes_optimal_logit(_pad(mu), _pad(mu_ref)))
    return max(discriminator_errors(mu, mu_ref, d_star, case.rng(3)).values())


def counterexample_errors(scale: float = 0.5, seed: int = 0) -> dict[str, float]:
    """Errors of the shrunk discriminator ``scale · d*`` on a fixed 6×3 MDP."""
    mdp = numpy_mdp(seed=seed, n_states=6, n_actions=3, gamma=0.9)
    rng = np.random.default_rng([seed, 5])
    mu_ref = np.asarray(occupancy_measure(mdp, dirichlet_rows(rng, (6, 3), 5.0)))
    mu = np.asarray(occupancy_measure(mdp, dirichlet_rows(rng, (6, 3), 1.0)))
    d = scale * np.asarray(bayes_optimal_logit(_pad(mu), _pad(mu_ref)))
    return discriminator_errors(mu, mu_ref, d, rng)


ORPO_DISCRIMINATOR = Check(
    name="13 ORPO discriminator identities",
    strategy=_cases,
    error=_error,
    tolerance=1e-12,
    counterexample=lambda: max(counterexample_errors().values()),
    examples=50,
    description=(
        "d* = log mu/mu_ref: E_pi[e^d*-1] = chi2, E_pi[d*] = KL, grad L(d*) = 0 and L(d*+delta) "
        ">= L(d*); counterexample: shrunk d = 0.5 d*."
    ),
)

test_orpo_discriminator_property, test_orpo_discriminator_counterexample = as_pytest(
    ORPO_DISCRIMINATOR
)
