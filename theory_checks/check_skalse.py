"""Check family 20: Skalse et al. (ICML 2023) invariances (theory.md §10, §11 item 20).

Normalisation (theory.md §0.1): these checks use the *normalised* return
``J(π, R) = (1 − γ) G(π, R)``, where ``G = Σ_s d0(s) V^π(s)`` is the unnormalised return of
:func:`jaxrl.mdp.expected_return`. For ``R₂ = c·(R₁ + γΦ(s') − Φ(s)) + D`` with
``Σ_{s'} τ(s'|s, a) D(s, a, s') = 0``: the shaping term telescopes along every trajectory,
``Σ_t γ^t (γΦ(s_{t+1}) − Φ(s_t)) = −Φ(s_0)`` (γ < 1, no terminals), and ``D`` has zero expected
reward in every ``(s, a)``, so ``G₂ = c·G₁ − c·E_{d0}Φ`` and, multiplying by ``1 − γ``,

    J₂(π) = c·J₁(π) − c·(1 − γ)·E_{d0}[Φ]     for every policy π.

* **20a affine J map (shaping + positive scaling + S'-redistribution)**: random MDPs with k = 3
  successors per ``(s, a)`` (so there are impossible transitions), ``R₁ ~ N(0, 1)``,
  ``Φ ~ N(0, 5²)``, ``c`` log-uniform in ``[0.1, 10]``,
  ``D = (N − E_τ N)·1[τ > 0] + 100·M·1[τ = 0]`` (``N, M ~ N(0, 1)``: arbitrary values on
  impossible transitions). Error = the larger of
  ``max |J₂ − (c·J₁ − c(1−γ)E_{d0}Φ)|`` over 100 random stochastic policies (Dirichlet α ∈
  {0.3, 1, 5}) and 1.0 if the optimal action sets of ``R₁`` and ``R₂`` differ (sets at tolerance
  ``1e-9 (1 + ‖Q‖∞)``, min action gap assumed > 1e-6). Tolerance 1e-10.
  Counterexample (the reported error is the *smallest* of the three; each is also a test):
  (i) a "redistribution" with non-zero mean under τ (``N·1[τ > 0]``, uncentred): predicted-map
  residual 0.47, best affine fit residual 0.48, and the optimal sets change (error 1.0);
  (ii) transfer: the same ``D`` under new dynamics ``P'`` (same support, new weights) is no
  longer an S'-redistribution (Thm 4.2): residual 0.31 (best fit 0.33), sets change (1.0);
  (iii) negative scaling ``c = −1``: the map stays affine (residual 1e-15) but reverses the
  ordering (Spearman −1), so the optimal sets differ (1.0).
* **20b optimality-preserving but not ordering-preserving** (10.2): ``R₂(s, a) = c(s)·A*₁(s, a)``
  with non-constant ``c(s) ~ U[0.2, 5]``; ``Ψ = 0`` certifies optimality preservation (``R₂ ≤ 0``
  with equality iff ``a`` is optimal for ``R₁``), so ``V*₂ = 0`` and the optimal sets agree.
  Error = max(set mismatch 1.0, ``|V*₂| / (1 + |V*₁|)``, ``max(0, max R₂)``); tolerance 1e-9.
  Counterexample to "same *ordering*": ``1 − Spearman(J₁, J₂)`` over 100 random policies on a
  fixed MDP is well above 0 (control: a constant ``c`` is potential shaping with ``Φ = V*₁`` and
  gives Spearman 1, see ``test_constant_c_keeps_ordering``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.mdp import TabularMDP, expected_return, policy_iteration, q_values
from jaxrl.shaping.potential import shaped_reward_table
from theory_checks.harness import Check, MDPCase, as_pytest, dirichlet_rows, numpy_mdp

#: Shapes from ``DEFAULT_SHAPES`` with S > k = 3, so the jit cache is shared with other checks.
SKALSE_SHAPES = ((5, 2), (7, 4), (12, 5))
K_SUCCESSORS = 3
N_POLICIES = 100

#: ``J`` of a batch of policies ``[N, S, A]`` (unnormalised; one compile per shape).
_batch_returns = jax.jit(jax.vmap(expected_return, in_axes=(None, 0)))
shaped = jax.jit(shaped_reward_table)


@st.composite
def skalse_cases(draw):
    S, A = draw(st.sampled_from(list(SKALSE_SHAPES)))
    seed = draw(st.integers(0, 2**32 - 1))
    g = draw(st.floats(0.5, 0.99))
    mdp = numpy_mdp(seed, S, A, g, sparsity_k=K_SUCCESSORS)
    return MDPCase(seed, S, A, float(g), K_SUCCESSORS, 0, mdp)


def _fixed_case(seed: int = 0, S: int = 7, A: int = 4, gamma: float = 0.9) -> MDPCase:
    return MDPCase(seed, S, A, gamma, K_SUCCESSORS, 0, numpy_mdp(seed, S, A, gamma, K_SUCCESSORS))


def random_policies(case: MDPCase, n: int = N_POLICIES, stream: int = 30) -> np.ndarray:
    """``[n, S, A]`` Dirichlet policies, α cycling through {0.3, 1, 5}."""
    rng = case.rng(stream)
    return np.stack(
        [
            dirichlet_rows(rng, (case.n_states, case.n_actions), (0.3, 1.0, 5.0)[i % 3])
            for i in range(n)
        ]
    )


def normalised_returns(mdp: TabularMDP, R, pis: np.ndarray) -> np.ndarray:
    """``[n]`` ``J(π, R) = (1 − γ) G(π, R)`` for each policy (``G`` from ``expected_return``)."""
    G = _batch_returns(mdp.replace(R=jnp.asarray(R)), jnp.asarray(pis))
    return (1.0 - float(mdp.gamma)) * np.asarray(G)


def optimal_q(mdp: TabularMDP, R) -> np.ndarray:
    m = mdp.replace(R=jnp.asarray(R))
    _, V = policy_iteration(m)
    return np.asarray(q_values(m, V))


def _sets(Q: np.ndarray) -> np.ndarray:
    return Q >= Q.max(-1, keepdims=True) - 1e-9 * (1 + np.max(np.abs(Q)))


def _min_gap(Q: np.ndarray) -> float:
    gaps = Q.max(-1, keepdims=True) - Q
    nz = gaps[gaps > 1e-9 * (1 + np.max(np.abs(Q)))]
    return float(nz.min()) if nz.size else np.inf


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected for continuous returns)."""
    rx = np.argsort(np.argsort(x)).astype(np.float64)
    ry = np.argsort(np.argsort(y)).astype(np.float64)
    return float(np.corrcoef(rx, ry)[0, 1])


def redistribution(P: np.ndarray, N: np.ndarray, M: np.ndarray, centred: bool = True) -> np.ndarray:
    """``D = (N − E_τ N)·1[τ > 0] + 100·M·1[τ = 0]`` (``centred=False`` drops ``− E_τ N``)."""
    mean = np.sum(P * N, axis=-1, keepdims=True) if centred else 0.0
    return np.where(P > 0, N - mean, 100.0 * M)


# ----------------------------------------------------------------------------- 20a
def affine_error(
    case: MDPCase,
    c: float | None = None,
    centred: bool = True,
    eval_mdp: TabularMDP | None = None,
    check_gap: bool = True,
) -> dict:
    """Residual of ``J₂ = c J₁ − c(1−γ)E_{d0}Φ`` over random policies, and set equality.

    ``eval_mdp``: evaluate both rewards under these dynamics instead (``D`` stays built for
    ``case.mdp.P``): the transfer counterexample.
    """
    mdp = case.mdp
    rng = case.rng(31)
    R1 = np.asarray(mdp.R)
    P = np.asarray(mdp.P)
    phi = case.potential(stream=32)
    if c is None:
        c = 10.0 ** rng.uniform(-1, 1)
    N, M = rng.standard_normal(P.shape), rng.standard_normal(P.shape)
    R2 = c * np.asarray(shaped(R1, phi, case.gamma)) + redistribution(P, N, M, centred)
    target = mdp if eval_mdp is None else eval_mdp
    g = float(target.gamma)
    pis = random_policies(case)
    J1, J2 = normalised_returns(target, R1, pis), normalised_returns(target, R2, pis)
    const = -c * (1 - g) * float(np.dot(np.asarray(target.init_dist), phi))
    residual = float(np.max(np.abs(J2 - (c * J1 + const))))
    Q1, Q2 = optimal_q(target, R1), optimal_q(target, R2)
    if check_gap:
        assume(_min_gap(Q1) > 1e-6 and _min_gap(Q2) > 1e-6)
    same = bool(np.array_equal(_sets(Q1), _sets(Q2)))
    fit = np.polyfit(J1, J2, 1)
    fit_residual = float(np.max(np.abs(J2 - np.polyval(fit, J1))))
    return dict(
        residual=residual,
        same_sets=same,
        error=max(residual, 0.0 if same else 1.0),
        best_fit_residual=fit_residual,
        spearman=spearman(J1, J2),
        c=c,
    )


def nonzero_mean_error() -> dict:
    return affine_error(_fixed_case(1), centred=False, check_gap=False)


def transfer_error() -> dict:
    """Same ``D`` (centred for ``P``) under ``P'``: same support, new Dirichlet weights."""
    case = _fixed_case(2)
    P = np.asarray(case.mdp.P)
    P_new = np.where(P > 0, dirichlet_rows(case.rng(33), P.shape), 0.0)
    P_new /= P_new.sum(-1, keepdims=True)
    return affine_error(case, eval_mdp=case.mdp.replace(P=jnp.asarray(P_new)), check_gap=False)


def negative_scaling_error() -> dict:
    return affine_error(_fixed_case(3), c=-1.0, check_gap=False)


def _affine_counter() -> float:
    return min(f()["error"] for f in (nonzero_mean_error, transfer_error, negative_scaling_error))


SKALSE_AFFINE = Check(
    name="20a Skalse shaping + scaling + redistribution: J2 = c J1 + const",
    strategy=skalse_cases(),
    error=lambda case: affine_error(case)["error"],
    tolerance=1e-10,
    counterexample=_affine_counter,
    examples=30,
    description="Normalised J, 100 random policies, k = 3 successors. Cex: min over 3 breakages.",
)


# ----------------------------------------------------------------------------- 20b
def advantage_reward(case: MDPCase, c_s: np.ndarray):
    """``(R₂ [S, A, S'], Q*₁)`` with ``R₂(s, a, ·) = c(s)·A*₁(s, a)``."""
    Q1 = optimal_q(case.mdp, case.mdp.R)
    A1 = Q1 - Q1.max(-1, keepdims=True)
    R2 = np.broadcast_to((c_s[:, None] * A1)[:, :, None], np.asarray(case.mdp.P).shape)
    return np.ascontiguousarray(R2), Q1


def _opt_preserving_error(case: MDPCase) -> float:
    c_s = case.rng(34).uniform(0.2, 5.0, case.n_states)
    R2, Q1 = advantage_reward(case, c_s)
    assume(_min_gap(Q1) > 1e-6)
    m2 = case.mdp.replace(R=jnp.asarray(R2))
    _, V2 = policy_iteration(m2)
    Q2 = np.asarray(q_values(m2, V2))
    same = bool(np.array_equal(_sets(Q1), _sets(Q2)))
    scale = 1 + float(np.max(np.abs(Q1)))
    return max(0.0 if same else 1.0, float(np.max(np.abs(V2))) / scale, max(0.0, float(R2.max())))


def ordering_spearman(c_s: np.ndarray | None = None, seed: int = 4) -> float:
    """Spearman(J₁, J₂) over 100 random policies for ``R₂ = c(s)·A*₁`` on a fixed MDP."""
    case = _fixed_case(seed)
    if c_s is None:
        c_s = case.rng(35).uniform(0.2, 5.0, case.n_states)
    R2, _ = advantage_reward(case, c_s)
    pis = random_policies(case)
    J1 = normalised_returns(case.mdp, case.mdp.R, pis)
    J2 = normalised_returns(case.mdp, R2, pis)
    return spearman(J1, J2)


SKALSE_OPT = Check(
    name="20b Skalse c(s) A*: optimum kept (ordering not: cex)",
    strategy=skalse_cases(),
    error=_opt_preserving_error,
    tolerance=1e-9,
    counterexample=lambda: 1.0 - ordering_spearman(),
    examples=30,
    description="Psi = 0 certificate; equal optimal sets. Cex: 1 - Spearman(J1, J2) > 0.",
)


test_skalse_affine_property, test_skalse_affine_counterexample = as_pytest(SKALSE_AFFINE)
test_skalse_opt_property, test_skalse_opt_counterexample = as_pytest(SKALSE_OPT)


def test_each_affine_counterexample_fails():
    """Every one of the three breakages fails on its own (20a reports only the smallest)."""
    with jax.enable_x64(True):
        nz, tr, neg = nonzero_mean_error(), transfer_error(), negative_scaling_error()
    assert nz["residual"] > 0.1 and nz["best_fit_residual"] > 0.01
    assert tr["residual"] > 0.1 and tr["best_fit_residual"] > 0.01
    assert neg["residual"] <= 1e-10 and not neg["same_sets"]
    assert neg["spearman"] <= -1 + 1e-12  # ordering exactly reversed


def test_constant_c_keeps_ordering():
    """Control for 20b: constant c is potential shaping with Φ = V*₁, so the ordering is kept."""
    with jax.enable_x64(True):
        assert ordering_spearman(c_s=np.full(7, 2.5)) >= 1 - 1e-12
        assert ordering_spearman() < 0.99
