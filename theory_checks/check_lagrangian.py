"""Check: constrained RLHF's Lagrangian fixed point satisfies the thresholds (KKT).

Moskovitz et al. 2023 (arXiv 2310.04373), issue 18. Problem, on a one-context bandit with ``K``
arms, ``M`` component rewards ``c [M, K]`` and an entropy-regularised (softmax) policy:

    max_π Σ_i μ_i c_i·π + τ H(π)   s.t.   v_i = c_i·π ≤ θ_i.

The library's exact primal-dual iteration
(:func:`jaxrl.rewards.constrained.solve_bandit_lagrangian`:
best response ``π_λ = softmax(Σ (μ_i − λ_i) c_i / τ)``, projected dual step
:func:`~jaxrl.rewards.constrained.dual_step` ``λ ← max(0, λ + η (v − θ))``) must reach the
saddle point: primal feasibility ``v ≤ θ``, dual feasibility ``λ ≥ 0``, complementary slackness
``λ_i (v_i − θ_i) = 0`` (active constraints hold with equality, inactive ones have λ_i = 0), and
it must be the *planted* saddle point ``(λ*, v*)``.

Cases (float64, M = 3, K = 6): ``c ~ N(0, 1)``, μ = 1/M, τ ∈ [0.5, 1.5]; a planted multiplier
``λ*`` with component 0 active (λ*_0 ∈ [0.2, 1]), component 2 inactive (λ*_2 = 0) and component 1
either; ``π* = π_{λ*}`` and ``θ_i = v_i(π*)`` where λ*_i > 0, ``θ_i = v_i(π*) + s_i`` (s_i ∈
[0.05, 0.5]) where λ*_i = 0. By the KKT theorem (concave objective, linear constraints) π* is
the optimum and λ* the dual optimum. Step η = τ / (2 max_k ‖c_k‖²), 20000 iterations; cases whose
dual is ill-conditioned (smallest curvature of the dual on the active set below 0.02) are
discarded. error = max of the KKT residuals and ``|λ − λ*|``, ``|v − v*|``; tolerance 1e-7.

Mutations (the same error must exceed the tolerance):

* **wrong-sign dual step** ``λ ← max(0, λ − η (v − θ))``: breaks "dual descent on L"; λ stays 0,
  the active constraint is exceeded;
* **no projection** ``λ ← λ + η (v − θ)``: breaks "λ ≥ 0"; it drives the inactive constraint to
  equality with a negative multiplier.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.rewards.constrained import dual_step, solve_bandit_lagrangian
from theory_checks.harness import Check, Mutation, as_pytest

M, K = 3, 6
ITERS = 20000
MIN_CURVATURE = 0.02


def _wrong_sign(lam, value, threshold, lr):
    return dual_step(lam, threshold, value, lr)  # λ − η (v − θ), projected


def _no_projection(lam, value, threshold, lr):
    return lam + lr * (value - threshold)


_solve = jax.jit(solve_bandit_lagrangian, static_argnames=("iters", "dual_update"))


class LagrangianCase(NamedTuple):
    components: np.ndarray  # [M, K]
    tau: float
    lam_star: np.ndarray  # [M]
    slack: np.ndarray  # [M] θ − v* (0 where active)
    update: str = "dual_step"


@st.composite
def lagrangian_cases(draw) -> LagrangianCase:
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(M, K))
    tau = draw(st.floats(0.5, 1.5))
    middle_active = draw(st.booleans())
    lam = np.array([rng.uniform(0.2, 1.0), rng.uniform(0.2, 1.0) * middle_active, 0.0])
    slack = np.where(lam > 0, 0.0, rng.uniform(0.05, 0.5, M))
    return LagrangianCase(c, tau, lam, slack)


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def lagrangian_error(case: LagrangianCase) -> float:
    c, tau = case.components, case.tau
    mu = np.full(M, 1.0 / M)
    pi_star = _softmax((mu - case.lam_star) @ c / tau)
    v_star = c @ pi_star
    theta = v_star + case.slack
    active = case.lam_star > 0
    cov = (c * pi_star) @ c.T - np.outer(v_star, v_star)  # Cov_π*(c) [M, M]: dual Hessian · τ
    assume(np.linalg.eigvalsh(cov[np.ix_(active, active)] / tau).min() >= MIN_CURVATURE)
    lr = tau / (2.0 * np.max(np.sum(c**2, axis=0)))
    update = {"dual_step": dual_step, "wrong_sign": _wrong_sign, "no_proj": _no_projection}
    with jax.enable_x64(True):
        out = _solve(
            jnp.asarray(c), jnp.asarray(theta), jnp.asarray(mu), jnp.float64(tau),
            jnp.float64(lr), iters=ITERS, dual_update=update[case.update],
        )  # fmt: skip
        lam, v = np.asarray(out.lam, np.float64), np.asarray(out.value, np.float64)
    gap = v - theta
    kkt = max(
        np.max(np.maximum(gap, 0.0)), np.max(np.maximum(-lam, 0.0)), np.max(np.abs(lam * gap))
    )
    return float(max(kkt, np.max(np.abs(lam - case.lam_star)), np.max(np.abs(v - v_star))))


CHECK = Check(
    name="18 constrained RLHF Lagrangian fixed point",
    theorem="KKT: projected dual descent reaches the saddle point (Moskovitz et al. 2023, Eq. 4-5)",
    strategy=lagrangian_cases(),
    error=lagrangian_error,
    tolerance=1e-7,
    mutations=(
        Mutation(
            "wrong-sign dual step",
            "λ ← λ + η (v − θ) (dual descent on L)",
            mutate=lambda case: case._replace(update="wrong_sign"),
        ),
        Mutation(
            "no projection",
            "λ ≥ 0 (projection onto the dual cone)",
            mutate=lambda case: case._replace(update="no_proj"),
        ),
    ),
    description="The saddle point of the entropy-regularised constrained bandit meets the "
    "thresholds with complementary slackness.",
)

test_lagrangian = as_pytest(CHECK)
