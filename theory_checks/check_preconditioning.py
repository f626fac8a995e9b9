"""Check 11: pessimistic reward preconditioning (theory.md §3, Blondé et al.), on the systems of
:mod:`theory_checks.check_lipschitz`.

* **11 preconditioning**: ``r = softplus(wᵀx + b) ≥ 0`` (:func:`minimax_reward`),
  ``ψ = clamp(exp(−‖s‖²/4), ψ_min, 1)`` (:func:`psi_from_penalty`): ``Q_{ψr} ≤ Q_r`` at 32 starts,
  ``V^π_{ψR} ≤ V^π_R`` and ``V*_{ψR} ≤ V*_R`` on a 6×3 MDP (``ψ ~ U(ψ_min, 1)`` per cell), and
  ``Lip(ψr) ≤ sup ψ · L_r + sup|r| · L_ψ`` on the ball ``‖x‖ ≤ 3`` (``sup|r| ≤ softplus(3‖w‖ +
  |b|)``, ``L_ψ = e^{−1/2}/√2``; gradient norms by :func:`jaxrl.analysis.lipschitz.
  gradient_norms` at 256 points). Tol 1e-10. Mutations: negative reward ``log σ(wᵀx + b)``;
  ψ scaled by 1.5 (outside ``[ψ_min, 1]``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.analysis.lipschitz import gradient_norms
from jaxrl.mdp import policy_evaluation, policy_iteration
from theory_checks.check_lipschitz import (
    GAIL,
    GAIL_PSI,
    LipCase,
    System,
    _reward,
    _starts,
    build_system,
    lip_cases,
    q_values,
)
from theory_checks.harness import Check, Mutation, as_pytest, dirichlet_rows, numpy_mdp

BALL = 3.0  #: Lip(ψr) is checked on ‖x‖ ≤ BALL, where sup|r| is known
L_PSI = np.sqrt(0.5) * np.exp(-0.5)  #: sup ‖∇ exp(−‖s‖²/4)‖, attained at ‖s‖ = √2


def _tabular_gap(case: LipCase) -> float:
    mdp = numpy_mdp(case.seed, 6, 3, case.gamma)
    rng = np.random.default_rng([case.seed, 3])
    R = case.sign * np.logaddexp(0.0, case.sign * rng.standard_normal(mdp.R.shape))
    psi = case.psi_hi * rng.uniform(case.psi_min, 1.0, R.shape)
    m_r, m_psi = mdp.replace(R=R), mdp.replace(R=psi * R)
    pi = dirichlet_rows(rng, (6, 3))
    gaps = [
        np.asarray(policy_evaluation(m_psi, pi)) - np.asarray(policy_evaluation(m_r, pi)),
        np.asarray(policy_iteration(m_psi).V) - np.asarray(policy_iteration(m_r).V),
    ]
    return float(np.max(np.concatenate(gaps)))


@jax.jit
def _psi_r_gradient_norms(sys: System, x: jnp.ndarray) -> jnp.ndarray:
    """``‖∇_x(ψr)(x_i)‖`` ``[N]`` by :func:`jaxrl.analysis.lipschitz.gradient_norms`."""
    return gradient_norms(lambda y: _reward(sys._replace(kind=jnp.int32(GAIL_PSI)), y), x)


def _lip_psi_r(case: LipCase) -> tuple[float, float]:
    """``(max ‖∇(ψr)‖ on the ball, sup ψ · L_r + sup|r| · L_ψ)`` (theory.md §3)."""
    sys = build_system(case)
    x = np.random.default_rng([case.seed, 4]).standard_normal((256, case.n_s + 1))
    x *= BALL * np.random.default_rng([case.seed, 5]).uniform(0, 1, (256, 1)) ** (1 / 3)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True) / BALL, 1.0)
    grads = np.asarray(_psi_r_gradient_norms(sys, x))
    L_r = float(np.linalg.norm(sys.w))  # |softplus'|, |(log σ)'| ≤ 1
    sup_r = float(np.logaddexp(0.0, L_r * BALL + abs(float(sys.b))))
    return float(grads.max()), 1.0 * L_r + sup_r * L_PSI


def _pessimism_error(case: LipCase) -> float:
    sys = build_system(case)
    x = _starts(case)
    gap = max(float(np.max(q_values(sys, x, GAIL_PSI) - q_values(sys, x, GAIL))),
              _tabular_gap(case))  # fmt: skip
    lip, bound = _lip_psi_r(case)
    return max(0.0, gap, (lip - bound) / (1 + bound))


PESSIMISM = Check(
    name="11 pessimistic reward preconditioning",
    theorem="Blonde, Strasser & Kalousis 2022, reward preconditioning (theory.md §3)",
    strategy=lip_cases(c=(0.2, 0.95)),
    error=_pessimism_error,
    tolerance=1e-10,
    mutations=(
        Mutation(
            "negative reward",
            "r >= 0 (here log sigma(D) <= 0)",
            mutate=lambda c: c._replace(sign=-1.0),
        ),
        Mutation(
            "psi above 1",
            "psi in [psi_min, 1] (here 1.5 x psi)",
            mutate=lambda c: c._replace(psi_hi=1.5),
        ),
    ),
    attained=lambda case: (lambda lb: lb[0] / lb[1])(_lip_psi_r(case)),
    description="r >= 0, psi in [psi_min, 1] => Q_{psi r} <= Q_r (rollouts), V^pi, V* (finite "
    "MDP), and |grad(psi r)| <= sup psi L_r + sup|r| L_psi on a ball.",
)

test_pessimism = pytest.mark.heavy(as_pytest(PESSIMISM))
