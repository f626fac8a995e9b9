"""Check 12: the correlated-proxy bound (Laidlaw, Singhal & Dragan 2025, Thm 5.1; theory.md §4).

Normalisation (one for the whole check): normalised occupancy ``μ`` (sums to 1) and normalised
return ``J(π, R) = E_{μ_π}[R(s, a)] = Σ μ_π R`` with rewards on ``(s, a)``; ``ΔJ_R = J(π, R) −
J(π_ref, R)``; ``σ_R``, ``σ_R̃`` and the correlation ``ρ`` are the standard deviations and the
correlation of ``R``, ``R̃`` as random variables on ``(S, A) ~ μ_ref``; ``χ² = χ²(μ_π ‖ μ_ref)``
(:func:`jaxrl.regularizers.sqrt_chi2`). For every policy π and every claimed ``r ∈ (0, ρ]``:

    ΔJ_R / σ_R  >=  r · ΔJ_R̃ / σ_R̃ − √(1 − r²) · √χ²        (slack >= −1e-10).

Cases: a random MDP (``mdp_cases``, padded), a full-support reference policy (Dirichlet(5)) and
8 random policies (Dirichlet α ∈ {0.3, 1, 5}). The rewards are *adversarial* for the first policy
π₀ (theory.md §4.2, where the bound is attained): with ``w = μ_π₀/μ_ref``, the standardised proxy
``z̃ ⟂ (w − 1)`` (random otherwise) and ``R = c (ρ z̃ + √(1 − ρ²) ε) + b`` with
``ε ∝ −(w − 1)`` orthogonalised to ``1`` and ``z̃`` under ``μ_ref``, ``ρ ∈ [0.05, 0.95]``,
``c > 0``, ``b`` random. The check re-measures ``ρ`` under ``μ_ref`` and claims ``r = ρ`` and
``r = u·ρ`` (``u ∈ [0.01, 1]`` drawn) for every policy. Error ``max(0, −min slack)``; the slack
at π₀ with ``r = ρ`` is 0 up to rounding (reported as ``attained`` = max over policies of
``rhs − lhs + 1``, i.e. 1 = tight).

Mutations (same cases, same error):

* **√KL in place of √χ²**: ``KL ≤ log(1 + χ²) < χ²`` is too weak to control ``E_π[ε]``;
* **correlation under μ_π**: the claimed ``r`` is ``Corr_{μ_π₀}(R, R̃)`` (the correlation the
  learner sees on its own data) instead of ``Corr_{μ_ref}``;
* **AD-KL in place of occupancy χ²**: ``√(E_{s~μ_ref} KL(π(·|s) ‖ π_ref(·|s)))``
  (:func:`jaxrl.regularizers.ad_kl_penalty`, RLHF's per-state KL, under the reference's states):
  it ignores how a policy change compounds into the state distribution.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import occupancy_measure
from jaxrl.regularizers import ad_kl_penalty, kl, sqrt_chi2, state_marginal
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, mdp_cases

N_POLICIES = 8


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
class ProxyCase(NamedTuple):
    """An MDP, the drawn correlation ``rho``, claimed fraction ``u`` and the variant used.

    ``root``: ``"chi2"`` (the theorem), ``"kl"`` or ``"ad_kl"``; ``corr_under``: ``"ref"`` or
    ``"pi"`` (which occupancy the claimed correlation is measured under)."""

    base: MDPCase
    rho: float
    u: float
    root: str = "chi2"
    corr_under: str = "ref"


def _root_divergence(case: ProxyCase, pi, pi_ref, mu, mu_ref) -> float:
    if case.root == "kl":
        return float(np.sqrt(kl(mu, mu_ref)))
    if case.root == "ad_kl":
        # padded shapes throughout (weight 0 off the reference's states): one compile per A
        weights = np.asarray(state_marginal(mu_ref))
        log_p, log_q = (np.log(np.maximum(x, 1e-300)) for x in (pi, pi_ref))
        return float(np.sqrt(ad_kl_penalty(log_p, log_q, 0.0, 1.0, mask=weights)))
    return float(sqrt_chi2(mu, mu_ref))


def proxy_rewards(case: ProxyCase, mu0: np.ndarray, mu_ref: np.ndarray):
    """``(R, R̃)`` ``[S, A]`` with correlation ``rho`` under ``mu_ref``, adversarial for ``mu0``."""
    rng = case.base.rng(3)
    real = mu_ref > 0  # padded / unreachable cells carry no mass: keep them at 0
    m, w1 = mu_ref[real], mu0[real] / mu_ref[real] - 1.0
    z = _standardize(_orthogonalize(rng.standard_normal(m.shape), [w1], m), m)
    eps = _standardize(_orthogonalize(-w1, [z], m), m)
    R, Rt = np.zeros_like(mu_ref), np.zeros_like(mu_ref)
    R[real] = rng.uniform(0.1, 10.0) * (case.rho * z + np.sqrt(1 - case.rho**2) * eps)
    R[real] += rng.normal()
    Rt[real] = z * rng.uniform(0.1, 10.0) + rng.normal()
    return R, Rt


def slacks(case: ProxyCase) -> np.ndarray:
    """Slacks ``lhs − rhs`` ``[N_POLICIES, 2]`` (claims ``r = ρ`` and ``r = uρ``)."""
    mdp = case.base.mdp
    pi_ref = case.base.policy(alpha=5.0, stream=1)
    mu_ref = np.asarray(occupancy_measure(mdp, pi_ref))
    pis = [case.base.policy(alpha=(0.3, 1.0, 5.0)[k % 3], stream=10 + k) for k in range(N_POLICIES)]
    mus = [np.asarray(occupancy_measure(mdp, pi)) for pi in pis]
    R, Rt = proxy_rewards(case, mus[0], mu_ref)
    under = mu_ref if case.corr_under == "ref" else mus[0]
    rho = _corr(R, Rt, under)
    out = np.empty((N_POLICIES, 2))
    for k, (pi, mu) in enumerate(zip(pis, mus, strict=True)):
        root = _root_divergence(case, pi, pi_ref, mu, mu_ref)
        for j, r in enumerate((rho, case.u * rho)):
            out[k, j] = bound_slack(mu, mu_ref, R, Rt, min(r, 1.0), root)
    return out


def _error(case: ProxyCase) -> float:
    return max(0.0, -float(np.min(slacks(case))))


def _tightness(case: ProxyCase) -> float:
    return 1.0 - float(np.min(slacks(case)))


_cases = st.tuples(mdp_cases(), st.floats(0.05, 0.95), st.floats(0.01, 1.0)).map(
    lambda t: ProxyCase(*t)
)

CORRELATED_PROXY_BOUND = Check(
    name="12 correlated-proxy bound",
    theorem="Laidlaw, Singhal & Dragan 2025 (ICLR), Thm 5.1",
    strategy=_cases,
    error=_error,
    tolerance=1e-10,
    mutations=(
        Mutation(
            "sqrt-KL",
            "sqrt chi2(mu_pi || mu_ref) bounds E_pi[eps]",
            mutate=lambda c: c._replace(root="kl"),
        ),
        Mutation(
            "correlation under mu_pi",
            "r-correlation is measured under mu_ref",
            mutate=lambda c: c._replace(corr_under="pi"),
        ),
        Mutation(
            "AD-KL",
            "the occupancy (not the action-distribution) divergence",
            mutate=lambda c: c._replace(root="ad_kl"),
        ),
    ),
    attained=_tightness,
    description="dJ_R/s_R >= r dJ_P/s_P - sqrt(1-r^2) sqrt(chi2) (stats under mu_ref), rewards "
    "adversarial for one of 8 policies (bound attained: slack 0).",
)

test_correlated_proxy = as_pytest(CORRELATED_PROXY_BOUND)
