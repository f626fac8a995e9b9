"""Checks 6, 7, 8 and 2.4: BARFI's bi-level problem (Gupta et al. 2023; theory.md §2, §11).

Exact tabular problem (:mod:`jaxrl.bilevel.tabular`): softmax logits θ, BARFI's blend
``r_φ = r_p + φ₁(s) + φ₂(s)·r_aux``, ``γ_φ = sigmoid(θ_γ)`` (:mod:`jaxrl.shaping.blend`, one-hot
features), inner ``θ*(φ)`` a root of the inner map (Newton to ‖g‖∞ < 1e-10), outer
``J_p(θ) = J(π_θ; r_p, γ)``. Cases: :mod:`theory_checks.check_barfi_inner` (S ∈ [2, 8], A = 3,
γ ∈ [0, 0.95]; why there). Hypergradients come from :mod:`jaxrl.bilevel` only.

* **6 IFT = finite differences** (theory.md check 2.1): for the L2-regularised (λ = 0.05) and the
  entropy-regularised (τ = 1/(1 − γ), one logit per state anchored, λ = 0) inner problem,
  ``ift_hypergradient`` · u = central FD of φ ↦ J_p(θ*(φ)) (h = 1e-5, one Richardson step) along
  u ∈ {the hypergradient's own direction, a random unit vector}; error = max_u |ift·u − fd_u| /
  (‖ift‖ + max|fd|), tolerance 1e-6. Mutations: the outer-loss sign convention (hypergradient
  sign flip), IFT taken after 2 Newton steps (inner not converged). Removing the regulariser
  (λ = ρ = 0: softmax shift invariance makes H singular) is *not* a mutation: the IFT is then
  NaN, which the harness rightly counts as an error, not as a violated property.
* **2.4 biased inner loop** (theory.md check 2.4): the inner map is the policy gradient that drops
  γ^t (``biased_inner_grad``, not a gradient field, H not symmetric). Same error as 6 on episodic
  MDPs (1–2 terminals, dense rows, so undiscounted visits are finite). ``attained`` reports the
  largest ‖∇_θ J_in(θ̃)‖∞: the biased fixed point is not the inner optimum. Mutations: the IFT
  with the Jacobian of the true gradient field at θ̃ (a user differentiating the objective the
  loop does not follow), and the sign flip.
* **7 Neumann series → IFT** (check 2.2): with α = a/|λ|max(H), a ∈ [0.5, 1.5], the library's
  ``neumann_inverse_vp`` obeys the exact remainder bound ‖w_K − H⁻¹v‖ ≤ ρ^{K+1}‖H⁻¹v‖,
  ρ = max|1 − αλ(H)|, for K = 0, 1, 2, 4, …, and ``neumann_hypergradient`` at K_final =
  ⌈ln 1e-10 / ln(1 − 0.5/κ)⌉ matches ``ift_hypergradient`` to 1e-6 (relative). ``attained`` =
  max_K error/bound (1 = the bound is tight). Mutations: α = 3/|λ|max (> 2/λmax: diverges), the
  inner map in reward convention (g = +∇J, H ≺ 0: the series diverges although the IFT is
  unchanged), the first-order approximation (K = 0) used as the hypergradient.
* **8 learned blend beats the naive blend** (check 2.3) under a misleading aux reward
  ``M·1[a = argmin Q*_p]``, M = 2(1 + max|R_p|): ``N_OUTER`` normalised IFT-hypergradient ascent
  steps from φ_naive must recover ≥ ``RECOVER`` = ½ of the gap to the primary-only blend φ_prim
  (φ₁ = φ₂ = 0, which is feasible): J_p(θ*(φ_N)) ≥ J0 + ½(J_prim − J0) − tol with
  J0 = J_p(θ*(φ_naive)); cases where the aux does not mislead (gap < 1e-3(1 + |J0|)) are
  discarded. error = shortfall / (1 + |J0|). Mutations: outer descent (hypergradient sign flip),
  the outer gradient on the blended reward instead of r_p (ascent on the wrong objective), blend
  weights frozen (only γ_φ learned).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume
from jax.flatten_util import ravel_pytree

from jaxrl.bilevel import ift_hypergradient, neumann_hypergradient, neumann_inverse_vp
from jaxrl.bilevel.tabular import inner_grad, inner_mdp
from jaxrl.mdp import expected_return, softmax_policy
from theory_checks.check_barfi_inner import (
    N_ACTIONS,
    N_NEWTON,
    N_STATES,
    BilevelCase,
    bilevel_cases,
    capped,
    fd_directional,
    flat,
    ift,
    naive_phi,
    problem,
    random_phi,
    solve,
    solve_from_zero,
)
from theory_checks.harness import Check, Mutation, as_pytest

# ----------------------------------------------------------------------------- 6 and 2.4


def _inner_solution(case: BilevelCase, phi, tag="random"):
    """``(converged θ*, the θ the IFT is taken at)`` for the case's inner map."""
    full = solve_from_zero(case, phi, tag, N_NEWTON, "gradient")
    if case.field == "biased":  # the biased root, by plain Newton from the true optimum
        full = solve(full.theta, phi, problem(case), N_NEWTON, "biased")
    if case.inner_iters >= N_NEWTON:
        return full, full
    return full, solve_from_zero(case, phi, tag, case.inner_iters, case.field)


def ift_fd_error(case: BilevelCase) -> float:
    phi = random_phi(case)
    full, used = _inner_solution(case, phi)
    # a well-posed problem the solver failed on is discarded; an ill-posed one is judged
    assume(full.converged or not case.well_posed)
    hg = ift(case, phi, used, case.ift_field or case.field)
    # one direction mixing the hypergradient's own with a random one: a flipped, scaled or
    # zero hypergradient all miss the FD along it
    u = case.base.rng(9).standard_normal(hg.size)
    u = u / np.linalg.norm(u) + hg / max(np.linalg.norm(hg), 1e-300)
    u = u / np.linalg.norm(u)
    fd = fd_directional(case, phi, full.theta, u, case.field)
    return capped(abs(float(hg @ u) - fd) / (np.linalg.norm(hg) + abs(fd) + 1e-12))


def _bias_size(case: BilevelCase) -> float:
    """‖∇_θ J_in(θ̃)‖∞ at the biased root θ̃ (0 would mean the bias changes nothing)."""
    phi = random_phi(case)
    _, used = _inner_solution(case, phi)
    return float(np.max(np.abs(inner_grad(jnp.asarray(used.theta), phi, problem(case)))))


IFT_VS_FD = Check(
    name="6 BARFI implicit hypergradient = finite differences",
    theorem="Implicit function theorem; Gupta et al. 2023 (BARFI) / Lorraine et al. 2020",
    strategy=bilevel_cases("mixed"),
    error=ift_fd_error,
    tolerance=1e-6,
    mutations=(
        Mutation(
            "outer-loss sign",
            "hypergradient of J_p, not of -J_p",
            lambda c: c._replace(outer_sign=-1.0),
        ),
        Mutation(
            "inner not converged", "IFT taken at a root of g", lambda c: c._replace(inner_iters=2)
        ),
    ),
    description="L2 (0.05) and entropy-regularised inner problems; directional FD, h = 1e-5.",
)

BIASED_INNER = Check(
    name="2.4 BARFI hypergradient through a biased (gamma^t-dropping) inner loop",
    theorem="IFT for a non-gradient fixed point; Thomas 2014, Nota & Thomas 2020; BARFI abstract",
    strategy=bilevel_cases(n_terminal=(1, 2), sparse=False).map(
        lambda c: c._replace(field="biased")
    ),
    error=ift_fd_error,
    tolerance=1e-6,
    mutations=(
        Mutation(
            "true-gradient Jacobian",
            "IFT uses the Jacobian of the map the loop follows",
            lambda c: c._replace(ift_field="gradient"),
        ),
        Mutation(
            "outer-loss sign",
            "hypergradient of J_p, not of -J_p",
            lambda c: c._replace(outer_sign=-1.0),
        ),
    ),
    attained=_bias_size,
    description="inner map = biased policy gradient (undiscounted visits); attained = "
    "max |grad J_in| at the biased root.",
)


# ----------------------------------------------------------------------------- 7
K_CAP = 5000


def _reward_convention(theta, phi, prob):
    """Inner map with the sign convention of an ascent field (``+∇_θ J_in``)."""
    return -inner_grad(theta, phi, prob)


def neumann_error(case: BilevelCase) -> float:
    phi = random_phi(case)
    s = solve_from_zero(case, phi, "random", N_NEWTON, "gradient")
    assume(s.converged)
    lam = np.linalg.eigvalsh(0.5 * (s.H + s.H.T))
    kappa = lam[-1] / lam[0]
    k_final = math.ceil(math.log(1e-10) / math.log1p(-0.5 / kappa))
    assume(k_final <= K_CAP)
    k_final = k_final if case.k_final is None else case.k_final
    alpha = case.alpha_scale / np.max(np.abs(lam))  # α from |λ|max, as power iteration gives it
    g = inner_grad if case.map_sign > 0 else _reward_convention
    prob, theta = problem(case), jnp.asarray(s.theta)
    v = jnp.asarray(s.v.reshape(N_STATES, N_ACTIONS))
    exact_w = np.linalg.solve(s.H.T, s.v)
    rho = float(np.max(np.abs(1.0 - alpha * lam)))
    worst = 0.0
    K = 0
    while K <= min(k_final, 64):
        w = flat(neumann_inverse_vp(v, g, theta, phi, K, alpha, (prob,)))
        e = np.linalg.norm(w - exact_w) / np.linalg.norm(exact_w)
        worst = max(worst, capped(e - (1 + 1e-8) * rho ** (K + 1) - 1e-12) if rho < 1 else 0.0)
        K = 2 * K if K else 1
    exact = ift(case, phi, s, "gradient")
    hg = flat(neumann_hypergradient(v, g, theta, phi, k_final, alpha, (prob,)))
    return max(worst, capped(np.linalg.norm(hg - exact) / np.linalg.norm(exact)))


def _neumann_tightness(case: BilevelCase) -> float:
    """max_K ‖w_K − H⁻¹v‖ / (ρ^{K+1}‖H⁻¹v‖) over K ≤ 64 (1 = the bound is attained)."""
    phi = random_phi(case)
    s = solve_from_zero(case, phi, "random", N_NEWTON, "gradient")
    lam = np.linalg.eigvalsh(0.5 * (s.H + s.H.T))
    alpha = case.alpha_scale / np.max(np.abs(lam))
    rho = float(np.max(np.abs(1.0 - alpha * lam)))
    exact_w = np.linalg.solve(s.H.T, s.v)
    v = jnp.asarray(s.v.reshape(N_STATES, N_ACTIONS))
    ratios = []
    for K in (0, 1, 2, 4, 8, 16, 32, 64):
        w = flat(neumann_inverse_vp(v, inner_grad, jnp.asarray(s.theta), phi, K, alpha,
                                    (problem(case),)))  # fmt: skip
        bound = rho ** (K + 1) * np.linalg.norm(exact_w)
        if bound > 1e-9 * np.linalg.norm(exact_w):
            ratios.append(np.linalg.norm(w - exact_w) / bound)
    return max(ratios, default=0.0)


def _neumann_cases():
    from hypothesis import strategies as st

    return st.tuples(bilevel_cases("l2"), st.floats(0.5, 1.5)).map(
        lambda t: t[0]._replace(alpha_scale=t[1])
    )


NEUMANN = Check(
    name="7 BARFI Neumann series converges to the IFT hypergradient",
    theorem="Neumann series for H^-1 (Lorraine et al. 2020, BARFI's BarfiNeumann)",
    strategy=_neumann_cases(),
    error=neumann_error,
    tolerance=1e-6,
    mutations=(
        Mutation(
            "alpha > 2/lambda_max",
            "0 < alpha < 2/lambda_max(H)",
            lambda c: c._replace(alpha_scale=3.0),
        ),
        Mutation(
            "reward convention",
            "g = -grad J (H positive definite)",
            lambda c: c._replace(map_sign=-1.0),
        ),
        Mutation(
            "first order as hypergradient",
            "K -> infinity (K = 0 is an approximation)",
            lambda c: c._replace(k_final=0),
        ),
    ),
    attained=_neumann_tightness,
    description="remainder <= rho^(K+1) for every K, and 1e-6 of the IFT at K_final.",
)


# ----------------------------------------------------------------------------- 8
N_OUTER = 6
#: least fraction of the naive -> primary-only gap the outer loop must recover in N_OUTER steps.
#: Known open problem: under --thorough some cases recover less (a 3-state case: 0.2, still above
#: naive), while with 0 (theory.md's "no worse than naive") frozen blend weights are never caught.
RECOVER = 0.5
OUTER_STEP = 0.5
_RUNS: dict = {}


@jax.jit
def _blended_return_grad(theta, phi, prob):
    """∇_θ J(π_θ; r_φ, γ_φ): the outer gradient of the *wrong* objective."""
    return jax.grad(lambda t: expected_return(inner_mdp(phi, prob), softmax_policy(t)))(theta)


def outer_run(case: BilevelCase):
    """``(J0, J_prim, J_N)``: J_p at φ_naive, at the primary-only blend, after the outer loop."""
    key = (case.key, case.outer_sign, case.outer_reward, case.frozen)
    if key not in _RUNS:
        _RUNS[key] = _outer_run(case)
    return _RUNS[key]


def _outer_run(case: BilevelCase):
    prob = problem(case)
    phi = naive_phi(case)
    _, unravel = ravel_pytree(phi)
    s = solve_from_zero(case, phi, "naive", N_NEWTON, "gradient")
    prim = solve_from_zero(case, phi._replace(bias=jnp.zeros(2)), "prim", N_NEWTON, "gradient")
    J0 = s.J_p
    mask = np.ones_like(flat(phi))
    if case.frozen:
        mask[:-1] = 0.0  # only θ_γ (the last raveled entry) moves
    for _ in range(N_OUTER):
        th = jnp.asarray(s.theta)
        if case.outer_reward == "blended":
            v = _blended_return_grad(th, phi, prob)
        else:
            v = jnp.asarray(s.v.reshape(N_STATES, N_ACTIONS))
        hg = case.outer_sign * flat(ift_hypergradient(v, inner_grad, th, phi, (prob,))) * mask
        step = OUTER_STEP * hg / max(np.linalg.norm(hg), 1e-300)
        phi = unravel(jnp.asarray(flat(phi) + step))
        s = solve(s.theta, phi, prob, N_NEWTON, "gradient")
    return J0, prim.J_p, s.J_p


def feasibility_error(case: BilevelCase) -> float:
    J0, J_prim, J_N = outer_run(case)
    assume(J_prim - J0 > 1e-3 * (1 + abs(J0)))  # the aux reward misleads
    return capped(max(0.0, J0 + RECOVER * (J_prim - J0) - J_N) / (1 + abs(J0)))


def _recovered(case: BilevelCase) -> float:
    J0, J_prim, J_N = outer_run(case)
    return (J_N - J0) / (J_prim - J0)


FEASIBILITY = Check(
    name="8 BARFI learned blend beats the naive blend (misleading aux)",
    theorem="BARFI bi-level objective (Gupta et al. 2023), theory.md check 2.3",
    strategy=bilevel_cases(sparse=False).map(lambda c: c._replace(aux="misleading")),
    error=feasibility_error,
    tolerance=1e-8,
    mutations=(
        Mutation(
            "outer descent", "phi moves along +dJ_p/dphi", lambda c: c._replace(outer_sign=-1.0)
        ),
        Mutation(
            "outer on blended reward",
            "outer objective is the primary return",
            lambda c: c._replace(outer_reward="blended"),
        ),
        Mutation(
            "blend weights frozen",
            "the reward blend (W, b) is learned",
            lambda c: c._replace(frozen=True),
        ),
    ),
    attained=_recovered,
    description="6 normalised IFT ascent steps of 0.5 from phi_naive recover >= 1/2 of the "
    "gap to the primary-only blend; attained = max fraction recovered.",
)

test_ift_vs_fd = pytest.mark.heavy(as_pytest(IFT_VS_FD))
test_biased_inner = pytest.mark.heavy(as_pytest(BIASED_INNER))
test_neumann = pytest.mark.heavy(as_pytest(NEUMANN))
test_feasibility = pytest.mark.heavy(as_pytest(FEASIBILITY))
