"""Unit tests for :mod:`jaxrl.analysis.epic` (EPIC, Gleave et al. 2021)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.analysis.epic import (
    canonicalize,
    epic_distance,
    epic_one_minus_rho,
    pearson_distance,
    pearson_one_minus_rho,
    product_coverage,
)
from jaxrl.shaping.potential import shaped_reward_table

pytestmark = pytest.mark.usefixtures("x64")


# Hand-worked example: S = 2, A = 1, γ = 1/2, D_S = (½, ½), D_A = (1), product coverage.
#
# R_A(s, s') = [[1, 2], [3, 4]]:  m(s) = E_{S'} R_A(s, S') = (1.5, 3.5),  m̄ = 2.5,
# C(R_A)(s, s') = R_A + ½ m(s') − m(s) − ½ m̄:
#   (0,0): 1 + 0.75 − 1.5 − 1.25 = −1     (0,1): 2 + 1.75 − 1.5 − 1.25 = 1
#   (1,0): 3 + 0.75 − 3.5 − 1.25 = −1     (1,1): 4 + 1.75 − 3.5 − 1.25 = 1
# R_B(s, s') = [[0, 0], [0, 1]]:  m = (0, 0.5),  m̄ = 0.25,
#   (0,0): 0 + 0 − 0 − 0.125 = −0.125     (0,1): 0 + 0.25 − 0 − 0.125 = 0.125
#   (1,0): 0 + 0 − 0.5 − 0.125 = −0.625   (1,1): 1 + 0.25 − 0.5 − 0.125 = 0.625
# Under the uniform coverage both have mean 0; Var C_A = 1, Var C_B = (2·0.125² + 2·0.625²)/4
# = 13/64, Cov = (0.125 + 0.125 + 0.625 + 0.625)/4 = 3/8, so ρ = (3/8)/(√13/8) = 3/√13 and
# D_EPIC = √((1 − 3/√13)/2) ≈ 0.28978.
R_A = np.array([[1.0, 2.0], [3.0, 4.0]])[:, None, :]
R_B = np.array([[0.0, 0.0], [0.0, 1.0]])[:, None, :]
C_A = np.array([[-1.0, 1.0], [-1.0, 1.0]])[:, None, :]
C_B = np.array([[-0.125, 0.125], [-0.625, 0.625]])[:, None, :]
D_S = np.array([0.5, 0.5])
D_A = np.array([1.0])
GAMMA = 0.5


def test_hand_worked_canonicalisation():
    np.testing.assert_allclose(canonicalize(R_A, GAMMA, D_S, D_A), C_A, atol=1e-15)
    np.testing.assert_allclose(canonicalize(R_B, GAMMA, D_S, D_A), C_B, atol=1e-15)


def test_hand_worked_distance():
    rho = 3.0 / np.sqrt(13.0)
    assert float(epic_one_minus_rho(R_A, R_B, GAMMA, D_S, D_A)) == pytest.approx(1 - rho, abs=1e-15)
    assert float(epic_distance(R_A, R_B, GAMMA, D_S, D_A)) == pytest.approx(
        np.sqrt((1 - rho) / 2), abs=1e-15
    )
    # The same number from the Pearson distance of the hand-written canonical tables.
    w = np.full((2, 1, 2), 0.25)
    assert float(pearson_distance(C_A, C_B, w)) == pytest.approx(np.sqrt((1 - rho) / 2), abs=1e-15)


def test_coverage_weights_matter():
    # All coverage on (0, ·, 0) and (1, ·, 1): C_A = (−1, 1), C_B = (−0.125, 0.625), ρ = 1.
    cov = np.array([[0.5, 0.0], [0.0, 0.5]])[:, None, :]
    assert float(epic_one_minus_rho(R_A, R_B, GAMMA, D_S, D_A, cov)) <= 1e-15


def _random(seed, S=4, A=3):
    rng = np.random.default_rng(seed)
    d_s = rng.dirichlet(np.ones(S))
    d_a = rng.dirichlet(np.ones(A))
    return rng, d_s, d_a, rng.standard_normal((S, A, S)), rng.standard_normal((S, A, S))


def test_shaping_removed_exactly_by_canonicalisation():
    rng, d_s, d_a, R, _ = _random(0)
    phi = 5.0 * rng.standard_normal(4)
    shaped = shaped_reward_table(R, phi, 0.9)
    np.testing.assert_allclose(
        canonicalize(shaped, 0.9, d_s, d_a), canonicalize(R, 0.9, d_s, d_a), atol=1e-13
    )
    assert float(jnp.max(jnp.abs(canonicalize(shaped - R, 0.9, d_s, d_a)))) <= 1e-13


def test_invariances_and_pseudometric():
    rng, d_s, d_a, R1, R2 = _random(1)
    phi = 5.0 * rng.standard_normal(4)
    R1s = 3.7 * np.asarray(shaped_reward_table(R1, phi, 0.8))
    d12 = float(epic_distance(R1, R2, 0.8, d_s, d_a))
    assert 0.0 < d12 < 1.0
    assert float(epic_distance(R1s, R2, 0.8, d_s, d_a)) == pytest.approx(d12, abs=1e-12)
    assert float(epic_distance(R2, R1, 0.8, d_s, d_a)) == pytest.approx(d12, abs=1e-15)
    assert float(epic_one_minus_rho(R1, R1s, 0.8, d_s, d_a)) <= 1e-12
    assert float(epic_distance(R1, -R1, 0.8, d_s, d_a)) == pytest.approx(1.0, abs=1e-12)
    R3 = rng.standard_normal(R1.shape)
    d13 = float(epic_distance(R1, R3, 0.8, d_s, d_a))
    d23 = float(epic_distance(R2, R3, 0.8, d_s, d_a))
    assert d13 <= d12 + d23 + 1e-12


def test_default_coverage_is_product():
    _, d_s, d_a, R1, R2 = _random(2)
    cov = product_coverage(jnp.asarray(d_s), jnp.asarray(d_a))
    assert float(jnp.sum(cov)) == pytest.approx(1.0, abs=1e-14)
    assert float(epic_distance(R1, R2, 0.9, d_s, d_a)) == pytest.approx(
        float(epic_distance(R1, R2, 0.9, d_s, d_a, cov)), abs=1e-15
    )


def test_pearson_one_minus_rho_accurate_near_one():
    x = np.random.default_rng(3).standard_normal(50)
    w = np.full(50, 1 / 50)
    assert float(pearson_one_minus_rho(x, 2.0 * x + 7.0, w)) <= 1e-30
    assert float(pearson_one_minus_rho(x, -x, w)) == pytest.approx(2.0, abs=1e-14)


def test_jittable():
    _, d_s, d_a, R1, R2 = _random(4)
    eager = float(epic_distance(R1, R2, 0.9, d_s, d_a))
    jitted = jax.jit(epic_distance)(R1, R2, 0.9, d_s, d_a)
    assert float(jitted) == pytest.approx(eager, abs=1e-15)
    batched = jax.vmap(epic_distance, in_axes=(None, 0, None, None, None))(
        R1, jnp.stack([R1, R2]), 0.9, d_s, d_a
    )
    np.testing.assert_allclose(batched, [0.0, eager], atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(R_b=np.zeros((4, 3, 3))), "R_b"),
        (dict(R_a=np.zeros((4, 3, 3)), R_b=np.zeros((4, 3, 3))), "R_a"),
        (dict(state_dist=np.full(3, 1 / 3)), "state_dist"),
        (dict(state_dist=np.full(4, 0.3)), "state_dist sums to 1.2"),
        (dict(state_dist=np.array([1.5, -0.5, 0.0, 0.0])), "state_dist"),
        (dict(action_dist=np.full(2, 0.5)), "action_dist"),
        (dict(action_dist=np.array([0.5, 0.5, 0.5])), "action_dist sums to 1.5"),
        (dict(coverage=np.full((4, 3, 4), 1.0)), "coverage sums to 48"),
        (dict(coverage=np.full((4, 3), 1 / 12)), "coverage"),
        (dict(gamma=1.5), "gamma"),
    ],
)
def test_validation(kwargs, match):
    _, d_s, d_a, R1, R2 = _random(5)
    args = dict(R_a=R1, R_b=R2, gamma=0.9, state_dist=d_s, action_dist=d_a) | kwargs
    with pytest.raises(ValueError, match=match):
        epic_distance(**args)


def test_validation_canonicalize_and_pearson():
    with pytest.raises(ValueError, match="state_dist sums to 0.8"):
        canonicalize(R_A, GAMMA, np.array([0.4, 0.4]), D_A)
    with pytest.raises(ValueError, match="action_dist"):
        canonicalize(R_A, GAMMA, D_S, np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="R must have shape"):
        canonicalize(np.zeros((2, 1)), GAMMA, D_S, D_A)
    with pytest.raises(ValueError, match="weights sums to 2"):
        pearson_distance(np.arange(3.0), np.arange(3.0), np.full(3, 2 / 3))
    with pytest.raises(ValueError, match="y has shape"):
        pearson_distance(np.arange(3.0), np.arange(4.0), np.full(3, 1 / 3))
