"""Checks 7b and 7c: Neumann series on an *indefinite* inner Hessian (issue 15, item 2).

BARFI's outer step inverts the curvature of a REINFORCE surrogate whose returns have both signs,
so ``H = −∇²_θ J_in`` is indefinite, and the plain Neumann series (hypergradient.py (2.3))
diverges for every step α (an eigenvalue λ < 0 makes ``1 − αλ > 1``). The case here is exactly
that surrogate, small: a linear softmax policy (F = 4 features, the first constant, + bias, A = 3;
n = 15 params) on T = 24 drawn steps ``(x_t, a_t)`` with returns
``G_t(φ) = G^p_t + φ₁(x_t) + φ₂(x_t) G^aux_t``, ``φ_i(x) = x·φ[i]`` (BARFI's blend
``r_p + φ₁(s) + φ₂(s) r_aux`` with linear φ on the features; m = 8), ``G^p, G^aux ~ N(0, 1)``,
φ ≈ the naive blend + N(0, 0.3²), θ ~ N(0, 0.5²), and an L2 term λ = 0.05 (softmax logits are
shift-invariant, so without it ``H`` is singular):

    g(θ, φ) = −∇_θ [ (1/T) Σ_t G_t(φ) log π_θ(a_t|x_t) − (λ/2)‖θ‖² ],   v = ∇_θ J_p(θ),

with ``J_p = (1/T) Σ_t G^p_t log π_θ(a_t|x_t)``. Cases whose ``H`` is not clearly indefinite
(λ_min(H) > −0.05·|λ|max) are discarded. Everything comes from :mod:`jaxrl.bilevel`
(``neumann_inverse_vp``/``neumann_hypergradient`` with ``damping`` and ``curvature_fn``, and
:func:`jaxrl.bilevel.curvature.reinforce_gauss_newton_vp`); dense matrices only judge them.

Property (both checks): the series converges to *its own* fixed point ``w* = M⁻¹v`` (``M`` the
matrix it inverts): the exact remainder bound ``‖w_K − w*‖ ≤ q^{K+1}‖w*‖``, ``q = max|1 − αμ(M)|``,
for K = 0, 1, 2, 4, …, 64, and at ``K_final = ⌈ln 1e-10 / ln q₀⌉`` (q₀ of the drawn, unmutated
setting) both ``w_K`` and ``neumann_hypergradient`` are within 1e-6 (relative) of the exact
``M⁻¹v`` and ``−(∂_φ g)ᵀ M⁻¹ v``. A diverging series exceeds that by orders of magnitude.

* **7b damped**: ``M = H + δI``, ``δ = d·|λ|max(H)``, d ∈ [1.25, 3] (so ``δ > −λ_min``), α =
  a/(|λ|max + δ), a ∈ [0.5, 1.5] (BARFI's a = 1). Mutations: **no damping** (δ = 0: the same
  property fails; the series diverges geometrically), damping below ``−λ_min`` (δ = ½|λ_min|).
* **7c Gauss–Newton**: ``M = C``, the return-weighted Fisher (curvature.py (C.1)) + λI, no
  damping, α = a/λ_max(C). Mutation: the exact (indefinite) Hessian instead of ``C``.

:func:`compare_variants` (``python -m theory_checks.check_neumann_damping``) then measures every
variant against the exact IFT hypergradient (2.2) on such cases: cosine and relative error.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

from jaxrl.agents.policy import FeaturePolicy
from jaxrl.bilevel import dense_jacobian, neumann_hypergradient, neumann_inverse_vp
from jaxrl.bilevel.curvature import reinforce_gauss_newton_vp
from theory_checks.harness import Check, Mutation, as_pytest

N_STEPS, N_FEAT, N_ACT = 24, 4, 3
L2 = 0.05
INDEFINITE = 0.05  # λ_min(H) < −INDEFINITE·|λ|max(H), else the case is discarded
K_CAP = 1500
CAP = 1e12
POLICY = FeaturePolicy(N_FEAT, N_ACT)


class Data(NamedTuple):
    x: jax.Array  # [T, F] features
    a: jax.Array  # [T] actions
    gp: jax.Array  # [T] primary returns
    gaux: jax.Array  # [T] auxiliary returns


class DampingCase(NamedTuple):
    """One drawn surrogate and the Neumann variant applied to it.

    ``damping`` is δ/|λ|max(H) as used, ``nominal`` as drawn (it fixes K_final, so a mutation that
    zeroes ``damping`` is judged at the same K); ``curvature`` is ``"hessian"`` or
    ``"gauss_newton"``; ``nominal_curvature`` likewise fixes K_final.
    """

    seed: int
    damping: float = 0.0
    nominal: float = 0.0
    alpha_scale: float = 1.0
    curvature: str = "hessian"
    nominal_curvature: str = "hessian"


def draw(seed: int):
    """``(θ, φ, Data)`` of a seed, float64 (build inside ``jax.enable_x64``)."""
    rng = np.random.default_rng([seed, 15])
    x = rng.standard_normal((N_STEPS, N_FEAT))
    x[:, 0] = 1.0  # a constant feature, as the Fourier bases have
    data = Data(
        jnp.asarray(x),
        jnp.asarray(rng.integers(0, N_ACT, N_STEPS), jnp.int32),
        jnp.asarray(rng.standard_normal(N_STEPS)),
        jnp.asarray(rng.standard_normal(N_STEPS)),
    )
    theta = [(jnp.asarray(0.5 * rng.standard_normal((N_FEAT, N_ACT))),
              jnp.asarray(0.5 * rng.standard_normal(N_ACT)))]  # fmt: skip
    phi = 0.3 * rng.standard_normal((2, N_FEAT))
    phi[1, 0] += 1.0  # φ₂(s) ≈ 1: near the naive blend
    return theta, jnp.asarray(phi), data


def returns(phi, d: Data):
    """``G_t(φ) = G^p_t + φ₁(x_t) + φ₂(x_t) G^aux_t`` ``[T]``, ``φ_i(x) = x·φ[i]``."""
    return d.gp + d.x @ phi[0] + (d.x @ phi[1]) * d.gaux


def _l2(theta):
    return 0.5 * L2 * sum(jnp.sum(p**2) for p in jax.tree.leaves(theta))


def inner_grad(theta, phi, d: Data):
    """``g = −∇_θ J_in`` (loss convention), J_in the L2-regularised surrogate above."""
    J = lambda th: jnp.mean(returns(phi, d) * POLICY.log_prob(th, d.x, d.a)) - _l2(th)
    return jax.tree.map(jnp.negative, jax.grad(J)(theta))


def gauss_newton(u, theta, phi, d: Data):
    """``(C + λI) u``: curvature.py (C.1) with weights ``|G_t|/T``, plus the L2 term's λ."""
    w = jnp.abs(returns(phi, d)) / N_STEPS
    cu = reinforce_gauss_newton_vp(POLICY, theta, d.x, d.a, w, jnp.zeros_like(w), 1.0, u)
    return jax.tree.map(lambda c, ui: c + L2 * ui, cu, u)


def outer_grad(theta, d: Data):
    """``v = ∇_θ J_p``."""
    return jax.grad(lambda th: jnp.mean(d.gp * POLICY.log_prob(th, d.x, d.a)))(theta)


@jax.jit
def dense(theta, phi, d: Data):
    """``(H [n, n], C [n, n], ∂_φ g [n, m], v [n])`` on the raveled θ."""
    flat, unravel = ravel_pytree(theta)
    H = dense_jacobian(inner_grad, theta, phi, (d,))
    C = jax.jacfwd(lambda u: ravel_pytree(gauss_newton(unravel(u), theta, phi, d))[0])(flat * 0)
    B = jax.jacfwd(lambda p: ravel_pytree(inner_grad(theta, p, d))[0])(phi).reshape(flat.size, -1)
    return H, C, B, ravel_pytree(outer_grad(theta, d))[0]


CURVATURE_FN = {"hessian": None, "gauss_newton": gauss_newton}


class Setting(NamedTuple):
    M: np.ndarray  # [n, n] the matrix the series inverts
    alpha: float
    delta: float
    q: float  # max |1 − α μ(M)|


def setting(H, C, curvature: str, damping: float, alpha_scale: float) -> Setting:
    """``M = (H or C) + δI`` with ``δ = damping·|λ|max(H or C)`` and ``α = a/(|λ|max + δ)``."""
    M0 = C if curvature == "gauss_newton" else H
    rho = float(np.max(np.abs(np.linalg.eigvalsh(M0))))
    delta = damping * rho
    M = M0 + delta * np.eye(M0.shape[0])
    alpha = alpha_scale / (rho + delta)
    return Setting(M, alpha, delta, float(np.max(np.abs(1.0 - alpha * np.linalg.eigvalsh(M)))))


_DENSE: dict = {}


def problem(seed: int):
    """``(θ, φ, data, H, C, B, v)`` of a seed (memoised: mutations reuse it)."""
    if seed not in _DENSE:
        theta, phi, d = draw(seed)
        _DENSE[seed] = (theta, phi, d, *(np.asarray(a) for a in dense(theta, phi, d)))
    return _DENSE[seed]


def _flat(tree) -> np.ndarray:
    return np.asarray(ravel_pytree(tree)[0])


def _capped(x: float) -> float:
    return min(float(x), CAP)


def _rel(w: np.ndarray, ref: np.ndarray) -> float:
    """``‖w − ref‖/‖ref‖``, capped at ``CAP``. An iterate that overflowed (inf, then NaN from
    inf − inf) is a diverged series and reports ``CAP`` too: on the property's own cases that
    fails the check, so an overflow can never pass; it can only kill a mutation."""
    if not np.all(np.isfinite(w)):
        return CAP
    with np.errstate(over="ignore"):  # a huge finite iterate: its norm may overflow, then CAP
        return _capped(np.linalg.norm(w - ref) / np.linalg.norm(ref))


def series_error(case: DampingCase) -> float:
    """Worst violation of the remainder bound and of the 1e-6 fixed-point match (module doc)."""
    theta, phi, d, H, C, B, v = problem(case.seed)
    lam = np.linalg.eigvalsh(H)
    assume(lam[0] < -INDEFINITE * np.max(np.abs(lam)))  # an indefinite inner problem
    nominal = setting(H, C, case.nominal_curvature, case.nominal, case.alpha_scale)
    if not nominal.q < 1:
        raise ValueError(f"the drawn setting must converge (q = {nominal.q}): {case}")
    k_final = math.ceil(math.log(1e-10) / math.log(nominal.q))
    assume(k_final <= K_CAP)
    s = setting(H, C, case.curvature, case.damping, case.alpha_scale)
    assume(np.min(np.abs(np.linalg.eigvalsh(s.M))) > 1e-8 * np.max(np.abs(lam)))  # M⁻¹ exists
    w_star = np.linalg.solve(s.M, v)
    curv = CURVATURE_FN[case.curvature]
    vt = outer_grad(theta, d)
    run = lambda K: _flat(neumann_inverse_vp(vt, inner_grad, theta, phi, K, s.alpha, (d,),
                                             True, s.delta, curv))  # fmt: skip
    worst = 0.0
    if s.q < 1:  # the exact remainder bound (I − αM)^{K+1} w*, M symmetric
        for K in (0, 1, 2, 4, 8, 16, 32, 64):
            worst = max(worst, _capped(_rel(run(K), w_star) - (1 + 1e-8) * s.q ** (K + 1) - 1e-12))
    worst = max(worst, _rel(run(k_final), w_star))
    hg = _flat(neumann_hypergradient(vt, inner_grad, theta, phi, k_final, s.alpha, (d,), None,
                                     True, s.delta, curv))  # fmt: skip
    exact = -B.T @ w_star
    return max(worst, _rel(hg, exact))


def _damped_cases():
    return st.tuples(st.integers(0, 2**32 - 1), st.floats(1.25, 3.0), st.floats(0.5, 1.5)).map(
        lambda t: DampingCase(t[0], damping=t[1], nominal=t[1], alpha_scale=t[2])
    )


def _gn_cases():
    return st.tuples(st.integers(0, 2**32 - 1), st.floats(0.5, 1.5)).map(
        lambda t: DampingCase(
            t[0], alpha_scale=t[1], curvature="gauss_newton", nominal_curvature="gauss_newton"
        )  # fmt: skip
    )


def _below_lambda_min(case: DampingCase) -> DampingCase:
    """δ = ½|λ_min(H)|, expressed relative to |λ|max(H) as ``damping`` is."""
    lam = np.linalg.eigvalsh(problem(case.seed)[3])
    return case._replace(damping=0.5 * abs(lam[0]) / np.max(np.abs(lam)))


DAMPED = Check(
    name="7b BARFI damped Neumann series converges on an indefinite Hessian",
    theorem="Neumann series for (H + dI)^-1 (Levenberg-Marquardt damping), hypergradient.py (2.5)",
    strategy=_damped_cases(),
    error=series_error,
    tolerance=1e-6,
    mutations=(
        Mutation("no damping", "delta > -lambda_min(H)", lambda c: c._replace(damping=0.0)),
        Mutation("damping below -lambda_min", "delta > -lambda_min(H)", _below_lambda_min),
    ),
    description="remainder <= q^(K+1) and 1e-6 of (H + dI)^-1 v at K_final; undamped diverges.",
)

GAUSS_NEWTON = Check(
    name="7c BARFI Gauss-Newton Neumann series converges on an indefinite Hessian",
    theorem="Neumann series for a PSD generalised Gauss-Newton matrix, curvature.py (C.1)",
    strategy=_gn_cases(),
    error=series_error,
    tolerance=1e-6,
    mutations=(
        Mutation(
            "exact indefinite Hessian",
            "the series inverts a PSD curvature",
            lambda c: c._replace(curvature="hessian"),
        ),
    ),
    description="remainder <= q^(K+1) and 1e-6 of C^-1 v at K_final; the Hessian diverges.",
)

# ----------------------------------------------------------------------------- comparison
#: The variants :func:`compare_variants` measures: (name, curvature, damping δ/|λ|max, K);
#: ``K = None`` is the series' exact limit (a dense solve), K = 0 the first-order hypergradient.
VARIANTS = (
    ("first order", "hessian", 0.0, 0),
    ("neumann", "hessian", 0.0, 5),
    ("neumann", "hessian", 0.0, 100),
    ("damped d=1.25", "hessian", 1.25, 5),
    ("damped d=1.25", "hessian", 1.25, 100),
    ("damped d=1.25", "hessian", 1.25, None),
    ("damped d=3", "hessian", 3.0, 5),
    ("damped d=3", "hessian", 3.0, None),
    ("gauss-newton", "gauss_newton", 0.0, 5),
    ("gauss-newton", "gauss_newton", 0.0, 100),
    ("gauss-newton", "gauss_newton", 0.0, None),
)


def variant_hypergradient(seed: int, curvature: str, damping: float, K: int | None):
    """``(hypergradient [m], exact IFT [m], ‖w_K‖/‖H⁻¹v‖)`` of one variant on one seed, with
    α = 1/(|λ|max + δ) as BARFI sets it; K = None: ``−(∂_φ g)ᵀ M⁻¹ v`` by a dense solve."""
    theta, phi, d, H, C, B, v = problem(seed)
    s = setting(H, C, curvature, damping, 1.0)
    exact = -B.T @ np.linalg.solve(H, v)
    if K is None:
        w = np.linalg.solve(s.M, v)
    else:
        w = _flat(neumann_inverse_vp(outer_grad(theta, d), inner_grad, theta, phi, K, s.alpha,
                                     (d,), True, s.delta, CURVATURE_FN[curvature]))  # fmt: skip
    return -B.T @ w, exact, float(np.linalg.norm(w) / np.linalg.norm(np.linalg.solve(H, v)))


def case_seeds(n: int, indefinite: bool = True) -> list[int]:
    """The first ``n`` seeds whose ``H`` passes the checks' indefiniteness filter (or, with
    ``indefinite=False``, whose ``H`` is positive definite)."""
    seeds, seed = [], 0
    while len(seeds) < n:
        lam = np.linalg.eigvalsh(problem(seed)[3])
        ok = lam[0] < -INDEFINITE * np.max(np.abs(lam)) if indefinite else lam[0] > 0
        if ok:
            seeds.append(seed)
        seed += 1
    return seeds


def compare_variants(n_seeds: int = 40, indefinite: bool = True) -> list[dict]:
    """Every :data:`VARIANTS` against the exact IFT hypergradient on ``n_seeds`` cases
    (:func:`case_seeds`): per variant the median and minimum cosine, the fraction of cases with
    cosine > 0, the median relative error ‖ĥ − h‖/‖h‖, and the median ‖w_K‖/‖H⁻¹v‖ (growth of
    the iterate). Call inside ``jax.enable_x64``."""
    seeds = case_seeds(n_seeds, indefinite)
    rows = []
    for name, curvature, damping, K in VARIANTS:
        cos, rel, growth = [], [], []
        for seed in seeds:
            hg, exact, g = variant_hypergradient(seed, curvature, damping, K)
            finite = bool(np.all(np.isfinite(hg)))
            with np.errstate(over="ignore", invalid="ignore"):
                nh = np.linalg.norm(hg)
                cos.append(float(hg @ exact / (nh * np.linalg.norm(exact))) if finite else np.nan)
                rel.append(_rel(hg, exact))
            growth.append(min(g, CAP) if math.isfinite(g) else CAP)
        cos_arr = np.asarray(cos)
        rows.append({
            "variant": name, "K": "exact" if K is None else K, "cases": len(seeds),
            "cos_median": float(np.nanmedian(cos_arr)) if np.isfinite(cos_arr).any() else np.nan,
            "cos_min": float(np.nanmin(cos_arr)) if np.isfinite(cos_arr).any() else np.nan,
            "frac_cos_pos": float(np.mean(cos_arr > 0)),
            "rel_err_median": float(np.median(rel)),
            "norm_ratio_median": float(np.median(growth)),
        })  # fmt: skip
    return rows


def format_comparison(rows: list[dict]) -> str:
    head = f"{'variant':<15} {'K':>5} {'cos med':>8} {'cos min':>8} {'cos>0':>6} "
    head += f"{'rel err med':>11} {'|w_K|/|H^-1 v|':>15}"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['variant']:<15} {r['K']!s:>5} {r['cos_median']:>8.3f} {r['cos_min']:>8.3f} "
            f"{r['frac_cos_pos']:>6.2f} {r['rel_err_median']:>11.3g} "
            f"{r['norm_ratio_median']:>15.3g}"
        )
    return "\n".join(lines)


test_damped = as_pytest(DAMPED)
test_gauss_newton = as_pytest(GAUSS_NEWTON)


@pytest.mark.heavy
def test_compare_variants():
    """What the comparison shows, on 40 indefinite and 40 positive-definite cases (module doc)."""
    with jax.enable_x64(True):
        indef = {(r["variant"], r["K"]): r for r in compare_variants(40, indefinite=True)}
        pd = {(r["variant"], r["K"]): r for r in compare_variants(40, indefinite=False)}
    # indefinite H: the plain series diverges; every damped / Gauss-Newton one stays bounded and
    # points (in median) along the exact IFT hypergradient, unlike the plain K = 5 truncation
    assert indef[("neumann", 100)]["norm_ratio_median"] >= 1e6
    plain = indef[("neumann", 5)]["cos_median"]
    assert plain < 0
    for (name, K), r in indef.items():
        if name.startswith(("damped", "gauss")):
            assert r["norm_ratio_median"] < 1, (name, K)
            assert r["cos_median"] > max(plain, 0.0), (name, K)
    # positive-definite H: the plain series reaches the IFT; damping and GN are biased (2.5)
    assert pd[("neumann", 100)]["cos_min"] > 0.95 and pd[("neumann", 100)]["rel_err_median"] < 0.01
    assert pd[("damped d=1.25", "exact")]["rel_err_median"] > 0.1
    assert pd[("gauss-newton", "exact")]["frac_cos_pos"] == 1.0


if __name__ == "__main__":
    with jax.enable_x64(True):
        for indefinite in (True, False):
            print("indefinite H" if indefinite else "positive definite H")
            print(format_comparison(compare_variants(indefinite=indefinite)))
