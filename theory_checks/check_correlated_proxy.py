"""Check 12: the correlated-proxy bound (Laidlaw, Singhal & Dragan; theory.md §4, item 12).

Normalisation (one for the whole check): normalised occupancy ``μ`` (sums to 1) and normalised
return ``J(π, R) = E_{μ_π}[R(s, a)] = Σ μ_π R`` with rewards on ``(s, a)``; ``ΔJ_R = J(π, R) −
J(π_ref, R)``; ``σ_R``, ``σ_R̃`` and the correlation ``ρ`` are the standard deviations and the
correlation of ``R``, ``R̃`` as random variables on ``(S, A) ~ μ_ref``; ``χ² = χ²(μ_π ‖ μ_ref)``
(:func:`jaxrl.regularizers.chi2`). For every policy π and every claimed ``r ∈ (0, ρ]``:

    ΔJ_R / σ_R  >=  r · ΔJ_R̃ / σ_R̃ − √(1 − r²) · √χ²        (slack >= −1e-10).

Cases: a random MDP (``mdp_cases``), a full-support reference policy (Dirichlet(5) rows), a
proxy ``R̃ ~ N(0, 1)`` on ``(s, a)``, and a true reward ``R = c (ρ z̃ + √(1 − ρ²) ε) + b`` where
``z̃`` is ``R̃`` standardised under ``μ_ref``, ``ε`` is standard normal noise orthogonalised to
``1`` and ``z̃`` under ``μ_ref`` (so the correlation is exactly the drawn ``ρ ∈ [0.05, 0.95]``;
the check re-measures it), ``c > 0`` and ``b`` random. The claimed ``r`` is ``u · ρ`` with
``u ∈ [0.01, 1]`` drawn; 16 random policies per case (Dirichlet α ∈ {0.3, 1, 5}). Error =
``max(0, −min slack)``.

Counterexample (theory.md §4, "√KL in place of √χ²"): for a policy π with likelihood ratio
``w = μ_π/μ_ref``, take ``z̃ ⟂ (w − 1)`` under ``μ_ref`` and the adversarial noise ``ε ∝ −(w − 1)``
(orthogonalised to ``z̃``). Then the χ² bound is exactly tight (slack 0) while the "bound" with
``√KL`` has slack ``√(1 − ρ²)(√KL − √χ²) < 0`` since ``KL ≤ log(1 + χ²) < χ²``; the worst of
20 Dirichlet(0.3) policies on a fixed 6×3 MDP (ρ = 0.5) is reported.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import occupancy_measure
from jaxrl.regularizers import chi2, kl
from theory_checks.harness import Check, as_pytest, dirichlet_rows, mdp_cases, numpy_mdp

N_POLICIES = 16
PAD = 60  # χ² / KL are called on zero-padded flat arrays (one compile for every (S, A))


def _root(div, mu: np.ndarray, mu_ref: np.ndarray) -> float:
    """``√div(μ ‖ μ_ref)``; padded cells (μ = μ_ref = 0) contribute 0."""
    pad = np.zeros(max(PAD - mu.size, 0))
    flat = [np.concatenate([np.ravel(x), pad]) for x in (mu, mu_ref)]
    return float(np.sqrt(div(*flat)))


# ----------------------------------------------------------------------------- weighted algebra
def _center(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    return x - np.sum(m * x)


def _standardize(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    xc = _center(x, m)
    return xc / np.sqrt(np.sum(m * xc**2))


def _orthogonalize(x: np.ndarray, basis: list[np.ndarray], m: np.ndarray) -> np.ndarray:
    """``x`` minus its ``μ_ref``-weighted projection on ``1`` and on each (centred) basis vector."""
    x = _center(x, m)
    for b in basis:
        b = _center(b, m)
        x = x - np.sum(m * x * b) / np.sum(m * b * b) * b
    return x


def _stats(R: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """``(mean, std)`` of ``R`` under ``μ_ref`` weights ``m``."""
    mean = float(np.sum(m * R))
    return mean, float(np.sqrt(np.sum(m * (R - mean) ** 2)))


def _corr(R: np.ndarray, Rt: np.ndarray, m: np.ndarray) -> float:
    return float(np.sum(m * _standardize(R, m) * _standardize(Rt, m)))


def bound_slack(mu, mu_ref, R, R_proxy, r, root_divergence) -> float:
    """``ΔJ_R/σ_R − (r ΔJ_R̃/σ_R̃ − √(1 − r²) · root_divergence)`` (normalised returns)."""
    _, s_R = _stats(R, mu_ref)
    _, s_P = _stats(R_proxy, mu_ref)
    dJ = float(np.sum((mu - mu_ref) * R))
    dJ_proxy = float(np.sum((mu - mu_ref) * R_proxy))
    return dJ / s_R - (r * dJ_proxy / s_P - np.sqrt(1 - r * r) * root_divergence)


# ----------------------------------------------------------------------------- property
_cases = st.tuples(mdp_cases(), st.floats(0.05, 0.95), st.floats(0.01, 1.0))


def _error(args) -> float:
    case, rho, u = args
    mdp = case.mdp
    S, A = case.n_states, case.n_actions
    mu_ref = np.asarray(occupancy_measure(mdp, case.policy(alpha=5.0, stream=1)))
    rng = case.rng(2)
    R_proxy = rng.standard_normal((S, A))
    z = _standardize(R_proxy, mu_ref)
    eps = _standardize(_orthogonalize(rng.standard_normal((S, A)), [z], mu_ref), mu_ref)
    R = rng.uniform(0.1, 10.0) * (rho * z + np.sqrt(1 - rho**2) * eps) + rng.normal()
    rho_measured = _corr(R, R_proxy, mu_ref)
    r = u * rho_measured
    worst = np.inf
    for k in range(N_POLICIES):
        pi = case.policy(alpha=(0.3, 1.0, 5.0)[k % 3], stream=10 + k)
        mu = np.asarray(occupancy_measure(mdp, pi))
        worst = min(worst, bound_slack(mu, mu_ref, R, R_proxy, r, _root(chi2, mu, mu_ref)))
    return max(0.0, -worst)


# ----------------------------------------------------------------------------- counterexample
def adversarial_case(mu: np.ndarray, mu_ref: np.ndarray, rho: float, rng: np.random.Generator):
    """``(R, R_proxy)`` with correlation ``rho`` under ``mu_ref`` making the χ² bound tight at π."""
    w1 = mu / mu_ref - 1.0
    z = _standardize(_orthogonalize(rng.standard_normal(mu.shape), [w1], mu_ref), mu_ref)
    eps = _standardize(_orthogonalize(-w1, [z], mu_ref), mu_ref)
    R = rho * z + np.sqrt(1 - rho**2) * eps
    return R, z


def counterexample_slacks(
    seed: int = 0, n_policies: int = 20, rho: float = 0.5
) -> tuple[float, float]:
    """``(worst √KL slack, |χ² slack| at that policy)`` for the adversarial construction."""
    mdp = numpy_mdp(seed=seed, n_states=6, n_actions=3, gamma=0.9)
    rng = np.random.default_rng([seed, 7])
    mu_ref = np.asarray(occupancy_measure(mdp, dirichlet_rows(rng, (6, 3), 5.0)))
    worst, chi2_slack = np.inf, np.nan
    for _ in range(n_policies):
        mu = np.asarray(occupancy_measure(mdp, dirichlet_rows(rng, (6, 3), 0.3)))
        R, R_proxy = adversarial_case(mu, mu_ref, rho, rng)
        r = _corr(R, R_proxy, mu_ref)
        s_kl = bound_slack(mu, mu_ref, R, R_proxy, r, _root(kl, mu, mu_ref))
        if s_kl < worst:
            worst = s_kl
            chi2_slack = bound_slack(mu, mu_ref, R, R_proxy, r, _root(chi2, mu, mu_ref))
    return worst, chi2_slack


def _counterexample() -> float:
    worst_kl_slack, _ = counterexample_slacks()
    return max(0.0, -worst_kl_slack)


CORRELATED_PROXY_BOUND = Check(
    name="12 correlated-proxy bound",
    strategy=_cases,
    error=_error,
    tolerance=1e-10,
    counterexample=_counterexample,
    examples=40,
    description=(
        "dJ_R/s_R >= r dJ_P/s_P - sqrt(1-r^2) sqrt(chi2) (normalised returns, stats under mu_ref) "
        "for 16 policies per case; counterexample: sqrt(KL) in place of sqrt(chi2)."
    ),
)

test_correlated_proxy_property, test_correlated_proxy_counterexample = as_pytest(
    CORRELATED_PROXY_BOUND
)
