"""Checks 14a–c: EPIC invariances and pseudometric (Gleave et al., ICLR 2021; theory.md §5, §11.14).

Every check calls :mod:`jaxrl.analysis.epic` (``epic_one_minus_rho`` / ``epic_distance``) on
rewards shaped by the library transform (``apply_to_table(potential_based(Φ))`` through
:func:`theory_checks.check_pbrs.shaped_table`, whose compile is shared with check 1.1).

Cases: ``mdp_cases()`` (every S ∈ [2, 12] × A ∈ [2, 5], γ ∈ [0, 0.999]), padded to 12 states.
EPIC is a statement about distributions over states, so **the EPIC distributions are restricted to
the real states**: ``D_S`` (Dirichlet on the drawn S states), ``D_A`` (Dirichlet) and the coverage
``D`` (Dirichlet over the real ``(s, a, s')``) put zero mass on padding. With zero mass there,
``C(R)`` on the support and ``ρ`` are exactly those of the unpadded reward, and EPIC compiles
once per A instead of once per shape. The reward compared is the MDP's ``R ~ N(0, 1)``; terminal
states play no role in EPIC, so shaping here uses no terminal mask (``F = γΦ(s') − Φ(s)``
everywhere). Φ ~ N(0, 5²).

* **14a "= 0"**: ``1 − ρ(C(R), C(c·R + γΦ(s') − Φ(s))) ≤ 1e-12`` (both orders, 3 draws of
  ``c`` log-uniform in [1e-2, 1e2] and Φ) and ``1 − ρ(R, R)``; tested as ``1 − ρ``, not ``D``
  (theory.md §0.1: the square root turns 1e-16 into 7e-9).
* **14b distance**: ``|D(3.7 R₁ + shaping, R₂) − D(R₁, R₂)|``, ``|D(R₁, 0.05 R₂ + shaping) −
  D(R₁, R₂)|``, symmetry, ``D(R, −R) = 1``, ``D(R, −3R) = 1`` and ``D ∈ [0, 1]``; tol 1e-9.
* **14c triangle**: ``D(R₁, R₃) ≤ D(R₁, R₂) + D(R₂, R₃)`` (all three orientations) on nearly
  collinear triples (``R₂`` between ``R₁`` and ``R₃ = R₁ + εN``, ε ∈ {1e-4, 1e-2, 0.3, 10}), so
  the inequality is close to tight; slack ≥ −1e-10.

Mutations (same error, same cases; only the case's shaping, scale or metric changes):

* **action potential**: look-ahead advice Φ(s, a) used as a state potential,
  ``F = γ max_a' Φ(s', a') − Φ(s, a)`` (:func:`lookahead_advice_reward`): not removed by ``C``;
* **gamma' = 1 shaping**: ``potential_based(Φ, gamma=1)`` while EPIC canonicalises with γ;
* **no canonicalisation**: Pearson distance of the raw rewards (``pearson_one_minus_rho``), the
  plausible bug "EPIC without C";
* **negative scale**: ``c < 0`` (invariance holds for ``c > 0`` only);
* **squared distance** (14c): ``D² = (1 − ρ)/2`` (no square root) is not a metric.

Check 15 (regret bound) is in :mod:`theory_checks.check_epic_regret`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxrl.analysis.epic import (
    epic_distance,
    epic_one_minus_rho,
    pearson_distance,
    pearson_one_minus_rho,
)
from jaxrl.shaping.potential import lookahead_advice_reward
from theory_checks.check_pbrs import shaped_table
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, dirichlet_rows, mdp_cases

N_DRAWS = 3


class EpicCase(NamedTuple):
    """A reward (the MDP's ``R``), EPIC distributions on the real states, and the variant used.

    Attributes:
      base: the drawn (padded) MDP case; ``R [12, A, 12]`` is the reward compared.
      d_s: ``[12]`` ``D_S`` (zero on padding). d_a: ``[A]`` ``D_A``.
      cov: ``[12, A, 12]`` coverage ``D`` (zero wherever s or s' is padding).
      shaping: ``"pbrs"`` | ``"action potential"`` | ``"gamma one"``.
      metric: ``"epic"`` | ``"raw pearson"`` | ``"squared"``.
      sign: sign of the positive scale factors (``-1`` is the negative-scale mutation).
    """

    base: MDPCase
    d_s: np.ndarray
    d_a: np.ndarray
    cov: np.ndarray
    shaping: str = "pbrs"
    metric: str = "epic"
    sign: float = 1.0


def restricted_dists(case: MDPCase, stream: int = 10):
    """Dirichlet ``D_S [n_padded]``, ``D_A [A]``, coverage ``[n_padded, A, n_padded]``, zero on
    padded states (so EPIC is that of the unpadded reward)."""
    rng = case.rng(stream)
    S, A, n = case.n_states, case.n_actions, case.n_padded
    d_s = np.zeros(n)
    d_s[:S] = dirichlet_rows(rng, (S,))
    cov = np.zeros((n, A, n))
    cov[:S, :, :S] = dirichlet_rows(rng, (S * A * S,)).reshape(S, A, S)
    return d_s, dirichlet_rows(rng, (A,)), cov


def _epic_cases():
    return mdp_cases().map(lambda c: EpicCase(c, *restricted_dists(c)))


def shape(case: EpicCase, R: np.ndarray, stream: int, sign: float = 1.0) -> np.ndarray:
    """``R + F`` with Φ = ``sign · case.base.potential(stream)``, for the case's shaping variant
    (library transforms; no terminal mask)."""
    g = case.base.mdp.gamma  # the 0-d array check 1.1 passes too: same jit cache entry
    phi = sign * case.base.potential(stream=stream)
    no_term = np.zeros(case.base.n_padded, bool)
    if case.shaping == "pbrs":
        return np.asarray(shaped_table("pbrs", R, g, no_term, phi, jnp.asarray(0.0)))
    if case.shaping == "gamma one":
        return np.asarray(shaped_table("gamma mismatch", R, g, no_term, phi, jnp.asarray(1.0)))
    if case.shaping == "action potential":
        # Advice Φ(s, a) = Φ(s) + N(0, 5²), read at the greedy action of s' (Wiewiora et al. 2003).
        noise = case.base.rng(stream + 100).standard_normal((phi.size, R.shape[1]))
        phi_sa = phi[:, None] + 5.0 * noise
        F = lookahead_advice_reward(phi_sa[:, :, None], phi_sa.max(1)[None, None, :], g)
        return R + np.asarray(F)
    raise ValueError(f"unknown shaping {case.shaping!r}")


def one_minus_rho(case: EpicCase, x, y) -> float:
    """``1 − ρ`` of the case's metric (EPIC, or raw Pearson for the no-canonicalisation bug)."""
    if case.metric == "raw pearson":
        return float(pearson_one_minus_rho(x, y, case.cov))
    return float(epic_one_minus_rho(x, y, case.base.gamma, case.d_s, case.d_a, case.cov))


def distance(case: EpicCase, x, y) -> float:
    """``D_EPIC`` (or the mutated metric: raw Pearson distance, or ``D² = (1 − ρ)/2``)."""
    if case.metric == "raw pearson":
        return float(pearson_distance(x, y, case.cov))
    if case.metric == "squared":
        return one_minus_rho(case, x, y) / 2.0
    return float(epic_distance(x, y, case.base.gamma, case.d_s, case.d_a, case.cov))


# ----------------------------------------------------------------------------- 14a
def _zero_error(case: EpicCase) -> float:
    R = np.asarray(case.base.mdp.R)
    rng = case.base.rng(11)
    worst = one_minus_rho(case, R, R)
    for i in range(N_DRAWS):
        c = case.sign * 10.0 ** rng.uniform(-2, 2)
        R2 = c * shape(case, R, stream=20 + i)
        worst = max(worst, one_minus_rho(case, R, R2), one_minus_rho(case, R2, R))
    return worst


def _variant(**kw):
    return lambda case: case._replace(**kw)


_SHAPING_MUTATIONS = (
    Mutation(
        "action potential",
        "F = gamma Phi(s') - Phi(s), Phi state-only",
        _variant(shaping="action potential"),
    ),
    Mutation(
        "gamma' = 1 shaping",
        "F uses the gamma EPIC canonicalises with",
        _variant(shaping="gamma one"),
    ),
    Mutation("no canonicalisation", "D compares C(R), not raw R", _variant(metric="raw pearson")),
    Mutation("negative scale", "scale c > 0", _variant(sign=-1.0)),
)

EPIC_ZERO = Check(
    name="14a EPIC 1-rho = 0 under shaping and positive scaling",
    theorem="Gleave et al. 2021, Prop. 4.5 (C removes shaping, Def. 4.1)",
    strategy=_epic_cases(),
    error=_zero_error,
    tolerance=1e-12,
    mutations=_SHAPING_MUTATIONS,
    description="1 - rho(C(R), C(c R + shaping)), both orders, and 1 - rho(R, R).",
)


# ----------------------------------------------------------------------------- 14b
def _distance_error(case: EpicCase) -> float:
    R1 = np.asarray(case.base.mdp.R)
    R2 = case.base.rng(12).standard_normal(R1.shape)
    s = case.sign
    d12 = distance(case, R1, R2)
    errs = (
        abs(distance(case, s * 3.7 * shape(case, R1, 21), R2) - d12),
        abs(distance(case, R1, s * 0.05 * shape(case, R2, 21, sign=-1.0)) - d12),
        abs(distance(case, R2, R1) - d12),
        abs(distance(case, R1, -R1) - 1.0),
        abs(distance(case, R2, -3.0 * R2) - 1.0),
        max(0.0, -d12, d12 - 1.0),
    )
    return max(errs)


EPIC_DISTANCE = Check(
    name="14b EPIC distance invariant, symmetric, D(R,-R) = 1, in [0,1]",
    theorem="Gleave et al. 2021, Prop. 4.5 and Def. 4.2-4.3",
    strategy=_epic_cases(),
    error=_distance_error,
    tolerance=1e-9,
    mutations=_SHAPING_MUTATIONS,
    description="|D(3.7 R1 + shaping, R2) - D(R1, R2)|, symmetry, D(R,-R) = 1, range.",
)


# ----------------------------------------------------------------------------- 14c
def _triangles(case: EpicCase):
    """``(slack violation, max d13 / (d12 + d23))`` over the case's nearly collinear triples."""
    rng = case.base.rng(13)
    R1 = np.asarray(case.base.mdp.R)
    worst, ratio = 0.0, 0.0
    for eps in (1e-4, 1e-2, 0.3, 10.0):
        R3 = R1 + eps * rng.standard_normal(R1.shape)
        t = rng.uniform(0.0, 1.0)
        R2 = (1 - t) * R1 + t * R3 + 0.1 * eps * rng.standard_normal(R1.shape)
        d12, d23, d13 = distance(case, R1, R2), distance(case, R2, R3), distance(case, R1, R3)
        worst = max(worst, d13 - d12 - d23, d12 - d13 - d23, d23 - d12 - d13)
        ratio = max(ratio, d13 / (d12 + d23))
    return worst, ratio


EPIC_TRIANGLE = Check(
    name="14c EPIC triangle inequality",
    theorem="Gleave et al. 2021, Prop. 4.5 (D_EPIC is a pseudometric)",
    strategy=_epic_cases(),
    error=lambda case: _triangles(case)[0],
    tolerance=1e-10,
    mutations=(
        Mutation(
            "squared distance", "D = sqrt((1 - rho)/2), not (1 - rho)/2", _variant(metric="squared")
        ),
    ),
    attained=lambda case: _triangles(case)[1],
    description="Nearly collinear triples R1, R2 ~ between, R3 = R1 + eps N; slack >= -1e-10.",
)


test_epic_zero = as_pytest(EPIC_ZERO)
test_epic_distance = as_pytest(EPIC_DISTANCE)
test_epic_triangle = as_pytest(EPIC_TRIANGLE)
