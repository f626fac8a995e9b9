"""Check family 14–15: EPIC (Gleave et al., ICLR 2021; theory.md §5, §11 items 14 and 15).

* **14a EPIC "= 0" invariances**: ``1 − ρ(C(R), C(c·R + γΦ(s') − Φ(s))) ≤ 1e-12`` for random
  ``c > 0`` (log-uniform in [1e-2, 1e2]) and ``Φ ~ N(0, 5²)``, and ``1 − ρ`` of ``(R, R)``; random
  ``D_S``, ``D_A`` and a random full-support coverage ``D``. Compared as ``1 − ρ``, not ``D``
  (theory.md §0.1). Counterexample: an action-dependent "potential" ``γΦ̄(s') − Φ(s, a)`` is not
  removed by the canonicalisation (``1 − ρ`` = 0.58, ``D_EPIC`` = 0.54).
* **14b EPIC distance invariances, symmetry, range**: ``|D(3.7·R₁ + shaping, R₂) − D(R₁, R₂)|``,
  ``|D(R₁, R₂) − D(R₂, R₁)|``, ``|D(R, −R) − 1|`` and the distance outside ``[0, 1]``, all
  ≤ 1e-9. Counterexample: shaping with ``γ' = 1 ≠ γ = 0.9`` changes the distance by 0.078
  (and ``D(R, R + shaping_{γ'=1})`` = 0.18).
* **14c triangle inequality**: ``D(R₁, R₂) + D(R₂, R₃) − D(R₁, R₃) ≥ −1e-10`` over random,
  nearly collinear triples (``R₂`` between ``R₁`` and a perturbed ``R₃ = R₁ + εN``, ε from 1e-4
  to 10, so the inequality is close to tight). Counterexample: the squared distance
  ``(1 − ρ)/2`` (dropping the square root) violates it (by 0.23 at the midpoint of two
  unrelated rewards).
* **15 EPIC regret bound**: ``G_{R_A}(π*_A) − G_{R_A}(π*_B) ≤ 16 K ‖R_A‖₂ D_EPIC / (1 − γ)`` with
  uniform ``D_S``, ``D_A`` and coverage ``D``; ``G`` the unnormalised expected return from ``d0``
  (:func:`jaxrl.mdp.expected_return`); ``‖R_A‖₂`` the L² norm under ``D``; ``K = max_t max
  D_π(t; s, a, s') / D(s, a, s')`` over ``π ∈ {π*_A, π*_B}``, with ``D_π(t)`` the distribution of
  ``(s_t, a_t, s_{t+1})`` from ``d0``, propagated for 400 steps (a max over fewer ``t`` can only
  lower ``K``, so the checked bound is the tighter one). ``R_B = R_A + ε N + shaping`` with ε from
  0.03 to 3, so the distance is small and regret is often positive (11 of the default 30 cases;
  max regret/bound 0.016 there, 0.031 over 300 cases: the bound is loose). Error =
  ``max(0, regret − bound)``; tolerance 1e-10 (slack ≥ −1e-10). Counterexample: a coverage gap —
  ``D_S``, ``D_A``, ``D`` put no mass on a reachable state ``s_x``, and ``R_B`` adds a large
  reward on transitions out of ``s_x``. Then ``C(R_B) = C(R_A)`` on the support of ``D``, so
  ``D_EPIC = 0`` (``1 − ρ`` at round-off), but ``π*_B`` goes to ``s_x`` and the regret is 9. ``K``
  computed on the support of ``D`` is finite (over all transitions it is infinite: the
  assumption that fails), so the "bound" is ≈ 0 and the error is the regret, 9.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.analysis.epic import epic_distance, epic_one_minus_rho
from jaxrl.mdp import TabularMDP, expected_return, policy_iteration
from jaxrl.shaping.potential import shaped_reward_table
from theory_checks.harness import (
    Check,
    MDPCase,
    as_pytest,
    dirichlet_rows,
    mdp_cases,
    numpy_mdp,
)

#: EPIC compiles once per (S, A) (≈ 0.3 s each on 2 cores); a subset of ``DEFAULT_SHAPES`` keeps
#: the four checks ≈ 3 s in all while covering S = 2 and the largest default shape.
EPIC_SHAPES = ((2, 2), (5, 2), (7, 4), (12, 5))

#: ``shaped_reward_table`` as one compiled call per shape (eager dispatch compiles each op).
shaped = jax.jit(shaped_reward_table)


def _dists(case, stream: int = 10):
    """Random ``D_S [S]``, ``D_A [A]`` and a full-support coverage ``D [S, A, S]``."""
    rng = case.rng(stream)
    S, A = case.n_states, case.n_actions
    d_s = dirichlet_rows(rng, (S,), 1.0)
    d_a = dirichlet_rows(rng, (A,), 1.0)
    cov = dirichlet_rows(rng, (S * A * S,), 1.0).reshape(S, A, S)
    return d_s, d_a, cov


def _fixed_case(S: int, A: int, gamma: float, seed: int) -> MDPCase:
    """The dense random MDP case the strategy would draw for these values."""
    return MDPCase(seed, S, A, gamma, None, 0, numpy_mdp(seed, S, A, gamma))


def _shaping(R, phi, gamma):
    return np.asarray(shaped(R, phi, gamma)) - np.asarray(R)


# ----------------------------------------------------------------------------- 14a
def _invariance_rho_error(case) -> float:
    d_s, d_a, cov = _dists(case)
    g = case.gamma
    R = np.asarray(case.mdp.R)
    rng = case.rng(11)
    worst = float(epic_one_minus_rho(R, R, g, d_s, d_a, cov))
    for i in range(3):
        c = 10.0 ** rng.uniform(-2, 2)
        R2 = c * np.asarray(shaped(R, case.potential(stream=20 + i), g))
        worst = max(worst, float(epic_one_minus_rho(R, R2, g, d_s, d_a, cov)))
        worst = max(worst, float(epic_one_minus_rho(R2, R, g, d_s, d_a, cov)))
    return worst


def _action_potential_rho(seed: int = 0, S: int = 5, A: int = 3, gamma: float = 0.9) -> float:
    """``1 − ρ(R, R + γΦ̄(s') − Φ(s, a))`` with ``Φ(s, a) ~ N(0, 5²)``, ``Φ̄(s) = mean_a Φ(s, a)``."""
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((S, A, S))
    phi_sa = 5.0 * rng.standard_normal((S, A))
    F = gamma * phi_sa.mean(1)[None, None, :] - phi_sa[:, :, None]
    d_s, d_a = dirichlet_rows(rng, (S,)), dirichlet_rows(rng, (A,))
    cov = dirichlet_rows(rng, (S * A * S,)).reshape(S, A, S)
    return float(epic_one_minus_rho(R, R + F, gamma, d_s, d_a, cov))


EPIC_ZERO = Check(
    name="14a EPIC 1-rho = 0 under shaping and positive scaling",
    strategy=mdp_cases(shapes=EPIC_SHAPES, sparse=False),
    error=_invariance_rho_error,
    tolerance=1e-12,
    counterexample=_action_potential_rho,
    examples=40,
    description="1 - rho(C(R), C(c R + shaping)) and 1 - rho(R, R); random D_S, D_A, coverage.",
)


# ----------------------------------------------------------------------------- 14b
def _distance_error(case, shaping_gamma: float | None = None) -> float:
    d_s, d_a, cov = _dists(case)
    g = case.gamma
    g_shape = g if shaping_gamma is None else shaping_gamma
    R1 = np.asarray(case.mdp.R)
    R2 = case.rng(12).standard_normal(R1.shape)
    phi = case.potential(stream=21)

    def D(x, y):
        return float(epic_distance(x, y, g, d_s, d_a, cov))

    d12 = D(R1, R2)
    errs = [
        abs(D(3.7 * R1 + _shaping(R1, phi, g_shape), R2) - d12),
        abs(D(R1, 0.05 * R2 + _shaping(R2, -phi, g_shape)) - d12),
        abs(D(R2, R1) - d12),
        abs(D(R1, -R1) - 1.0),
        abs(D(R2, -3.0 * R2) - 1.0),
        max(0.0, -d12, d12 - 1.0),
    ]
    return max(errs)


def _gamma_one_shaping_error() -> float:
    # The same construction (random MDP S = 5, A = 3, γ = 0.9), shaping built with γ' = 1.
    case = _fixed_case(5, 3, 0.9, seed=3)
    return _distance_error(case, shaping_gamma=1.0)


EPIC_DISTANCE = Check(
    name="14b EPIC distance invariant, symmetric, D(R,-R) = 1, in [0,1]",
    strategy=mdp_cases(shapes=EPIC_SHAPES, sparse=False),
    error=_distance_error,
    tolerance=1e-9,
    counterexample=_gamma_one_shaping_error,
    examples=40,
    description="|D(3.7 R1 + shaping, R2) - D(R1, R2)|, symmetry, D(R,-R) = 1, range.",
)


# ----------------------------------------------------------------------------- 14c
def _triangle_error(case, squared: bool = False) -> float:
    d_s, d_a, cov = _dists(case)
    g = case.gamma
    rng = case.rng(13)
    R1 = np.asarray(case.mdp.R)

    def D(x, y):
        if squared:  # (1 − ρ)/2 = D²: not a metric
            return float(epic_one_minus_rho(x, y, g, d_s, d_a, cov)) / 2.0
        return float(epic_distance(x, y, g, d_s, d_a, cov))

    worst = 0.0
    for eps in (1e-4, 1e-2, 0.3, 10.0):
        R3 = R1 + eps * rng.standard_normal(R1.shape)
        t = rng.uniform(0.0, 1.0)
        R2 = (1 - t) * R1 + t * R3 + 0.1 * eps * rng.standard_normal(R1.shape)
        d12, d23, d13 = D(R1, R2), D(R2, R3), D(R1, R3)
        # All three orientations of the triangle from the three pairwise distances.
        worst = max(worst, d13 - d12 - d23, d12 - d13 - d23, d23 - d12 - d13)
    return worst


def _squared_triangle_error() -> float:
    """Midpoint of two unrelated rewards: (1 − ρ)/2 violates the triangle inequality (≈ 0.2)."""
    case = _fixed_case(5, 3, 0.9, seed=4)
    d_s, d_a, cov = _dists(case)
    R1 = np.asarray(case.mdp.R)
    R3 = case.rng(14).standard_normal(R1.shape)
    R2 = 0.5 * (R1 + R3)

    def Dsq(x, y):
        return float(epic_one_minus_rho(x, y, case.gamma, d_s, d_a, cov)) / 2.0

    return max(0.0, Dsq(R1, R3) - Dsq(R1, R2) - Dsq(R2, R3))


EPIC_TRIANGLE = Check(
    name="14c EPIC triangle inequality",
    strategy=mdp_cases(shapes=EPIC_SHAPES, sparse=False),
    error=_triangle_error,
    tolerance=1e-10,
    counterexample=_squared_triangle_error,
    examples=30,
    description="D(R1,R2) + D(R2,R3) - D(R1,R3) >= -1e-10 on nearly collinear triples.",
)


# ----------------------------------------------------------------------------- 15
def max_state_marginals(mdp: TabularMDP, pi: np.ndarray, steps: int = 400) -> np.ndarray:
    """``[S]`` ``max_{t < steps} Pr(s_t = s)`` under ``pi`` from ``d0`` (numpy propagation)."""
    P_pi = np.einsum("sa,sat->st", pi, np.asarray(mdp.P))
    d = np.asarray(mdp.init_dist, dtype=np.float64)
    M = d.copy()
    for _ in range(steps):
        d = d @ P_pi
        np.maximum(M, d, out=M)
    return M


def coverage_constant(mdp: TabularMDP, policies, coverage: np.ndarray, steps: int = 400):
    """``(K_support, K_all)``: ``max_t max D_π(t; s, a, s') / D(s, a, s')`` over ``policies``.

    ``D_π(t; s, a, s') = Pr(s_t = s) π(a|s) P(s'|s, a)``. ``K_support`` takes the max over the
    support of ``D`` only; ``K_all`` is ``inf`` if some ``π`` puts mass where ``D = 0``.
    """
    P = np.asarray(mdp.P)
    k_sup, k_all = 0.0, 0.0
    for pi in policies:
        pi = np.asarray(pi)
        flow = max_state_marginals(mdp, pi, steps)[:, None, None] * pi[:, :, None] * P
        on = coverage > 0
        k = float(np.max(np.where(on, flow / np.where(on, coverage, 1.0), 0.0)))
        k_sup = max(k_sup, k)
        k_all = max(k_all, np.inf if np.any(flow[~on] > 0) else k)
    return k_sup, k_all


def regret_and_bound(mdp: TabularMDP, R_A, R_B, d_s, d_a, coverage) -> dict:
    """Regret ``G_{R_A}(π*_A) − G_{R_A}(π*_B)`` and the bound ``16 K ‖R_A‖₂ D_EPIC / (1 − γ)``.

    ``K`` is taken on the support of ``coverage`` (``K_all`` is returned too).
    """
    R_A, R_B = np.asarray(R_A), np.asarray(R_B)
    pi_a, _ = policy_iteration(mdp.replace(R=jnp.asarray(R_A)))
    pi_b, _ = policy_iteration(mdp.replace(R=jnp.asarray(R_B)))
    mdp_a = mdp.replace(
        R=jnp.asarray(R_A)
    )  # expected_return(mdp, pi) shares the compile with check_solvers
    regret = float(expected_return(mdp_a, pi_a)) - float(expected_return(mdp_a, pi_b))
    k_sup, k_all = coverage_constant(mdp, (pi_a, pi_b), coverage)
    norm = float(np.sqrt(np.sum(coverage * R_A**2)))
    g = float(mdp.gamma)
    dist = float(epic_distance(R_A, R_B, g, d_s, d_a, coverage))
    bound = 16.0 * k_sup * norm * dist / (1.0 - g)
    return dict(regret=regret, bound=bound, K=k_sup, K_all=k_all, D=dist, norm=norm)


def _uniform(S, A):
    d_s, d_a = np.full(S, 1.0 / S), np.full(A, 1.0 / A)
    return d_s, d_a, np.full((S, A, S), 1.0 / (S * S * A))


_regret_cases = st.tuples(
    mdp_cases(shapes=EPIC_SHAPES, gamma=(0.5, 0.95)), st.sampled_from([0.03, 0.1, 0.3, 1.0, 3.0])
)


def _regret_error(args) -> float:
    case, eps = args
    R_A = np.asarray(case.mdp.R)
    noise = eps * case.rng(15).standard_normal(R_A.shape)
    R_B = np.asarray(shaped(R_A + noise, case.potential(stream=22), case.gamma))
    r = regret_and_bound(case.mdp, R_A, R_B, *_uniform(case.n_states, case.n_actions))
    return max(0.0, r["regret"] - r["bound"])


def coverage_gap_example() -> dict:
    """s0 --a0--> s1 (+1 per step forever), s0 --a1--> s_x = s2; R_B pays +10 per step in s_x.

    States s3, s4 are absorbing zero-reward fillers (so the shape (5, 2) shares its compile with
    the other checks). ``D_S = (¼, ¼, 0, ¼, ¼)``, ``D_A`` uniform, ``D = D_S × D_A × D_S``: no
    mass on ``s_x``. γ = 0.9, ``d0 = s0``: ``G_A(π*_A) = γ/(1 − γ) = 9``; ``π*_B`` goes to ``s_x``
    (``G_B = 90``), so ``G_A(π*_B) = 0`` and the regret is 9.
    """
    S, x = 5, 2
    P = np.zeros((S, 2, S))
    P[0, 0, 1] = P[0, 1, x] = 1.0
    for s in range(1, S):
        P[s, :, s] = 1.0
    R_A = np.zeros((S, 2, S))
    R_A[1, :, 1] = 1.0
    R_B = R_A.copy()
    R_B[x, :, x] = 10.0
    mdp = TabularMDP.create(P, R_A, 0.9, init_dist=np.eye(S)[0])
    d_s, d_a = np.array([0.25, 0.25, 0.0, 0.25, 0.25]), np.array([0.5, 0.5])
    cov = d_s[:, None, None] * d_a[None, :, None] * d_s[None, None, :]
    out = regret_and_bound(mdp, R_A, R_B, d_s, d_a, cov)
    out["one_minus_rho"] = float(epic_one_minus_rho(R_A, R_B, 0.9, d_s, d_a, cov))
    return out


def _coverage_gap_error() -> float:
    r = coverage_gap_example()
    return max(0.0, r["regret"] - r["bound"])


EPIC_REGRET = Check(
    name="15 EPIC regret bound 16 K |R_A| D_EPIC / (1 - gamma)",
    strategy=_regret_cases,
    error=_regret_error,
    tolerance=1e-10,
    counterexample=_coverage_gap_error,
    examples=30,
    description="Uniform D; K from 400-step propagation; unnormalised G. Cex: coverage gap.",
)


test_epic_zero_property, test_epic_zero_counterexample = as_pytest(EPIC_ZERO)
test_epic_distance_property, test_epic_distance_counterexample = as_pytest(EPIC_DISTANCE)
test_epic_triangle_property, test_epic_triangle_counterexample = as_pytest(EPIC_TRIANGLE)
test_epic_regret_property, test_epic_regret_counterexample = as_pytest(EPIC_REGRET)


def test_coverage_gap_details():
    """The coverage-gap counterexample: D_EPIC = 0 on the support, regret 9, K infinite overall."""
    with jax.enable_x64(True):
        r = coverage_gap_example()
    assert r["one_minus_rho"] <= 1e-12
    assert abs(r["regret"] - 9.0) <= 1e-9
    assert np.isfinite(r["K"]) and r["K_all"] == np.inf
