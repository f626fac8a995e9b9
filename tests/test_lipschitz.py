"""Unit tests for :mod:`jaxrl.analysis.lipschitz` on ``f(x) = 3·sin(x)`` (Lipschitz constant 3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.analysis.lipschitz import (
    fd_lipschitz,
    finite_difference_ratios,
    gradient_norms,
    jacobian_norms,
    pair_ratios,
    sa_gradient_norms,
    summarize,
)

pytestmark = pytest.mark.usefixtures("x64")


def f1(x):
    """``3 sin(x₀)`` on a 1-D input vector: gradient ``3 cos(x₀)``."""
    return 3.0 * jnp.sin(x[0])


def test_gradient_norms_match_analytic_and_bound():
    x = jnp.linspace(-4.0, 4.0, 101)[:, None]
    g = gradient_norms(f1, x)
    np.testing.assert_allclose(g, 3.0 * np.abs(np.cos(np.asarray(x[:, 0]))), atol=1e-12)
    s = summarize(g)
    assert float(s["max"]) <= 3.0 + 1e-12
    assert float(s["max"]) == pytest.approx(3.0, abs=1e-12)  # x = 0 is on the grid
    assert float(s["min"]) >= 0.0 and float(s["mean"]) < 3.0


def test_gradient_norms_keep_leading_shape():
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 4, 1))  # e.g. a [T, N] rollout
    assert gradient_norms(f1, x).shape == (5, 4)


def test_finite_difference_ratios_bounded_by_three_and_tight_near_zero():
    x = jnp.linspace(-3.0, 3.0, 61)[:, None]
    r = finite_difference_ratios(f1, x, jax.random.PRNGKey(1), radius=1e-4, n_pairs=3)
    assert r.shape == (3, 61)
    assert float(jnp.max(r)) <= 3.0 + 1e-9
    lip = float(fd_lipschitz(f1, x, jax.random.PRNGKey(1), radius=1e-4, n_pairs=3))
    assert lip == pytest.approx(3.0, rel=1e-6)  # the pair at x = 0


def test_far_pairs_never_exceed_the_constant():
    key1, key2 = jax.random.split(jax.random.PRNGKey(2))
    x = 5 * jax.random.normal(key1, (500, 1))
    y = 5 * jax.random.normal(key2, (500, 1))
    assert float(jnp.max(pair_ratios(f1, x, y))) <= 3.0 + 1e-12


def test_sa_gradient_norms_and_jacobian_norms():
    # r(s, a) = 3 sin(s₀) + 4 a₀: ‖∇‖ = sqrt(9 cos² s₀ + 16) — 5 at s₀ = 0.
    r = lambda s, a: 3.0 * jnp.sin(s[0]) + 4.0 * a[0]
    obs = jnp.array([[0.0], [np.pi / 2]])
    act = jnp.zeros((2, 1))
    np.testing.assert_allclose(sa_gradient_norms(r, obs, act), [5.0, 4.0], atol=1e-12)
    # f(x) = 3 sin(x) elementwise in 2-D: J = diag(3 cos x), spectral norm 3 max|cos|.
    x = jnp.array([[0.0, 1.0], [1.0, 2.0]])
    expected = 3.0 * np.max(np.abs(np.cos(np.asarray(x))), axis=1)
    np.testing.assert_allclose(jacobian_norms(lambda v: 3.0 * jnp.sin(v), x), expected, atol=1e-12)


def test_jittable():
    x = jnp.linspace(-1.0, 1.0, 11)[:, None]
    out = jax.jit(lambda x, k: fd_lipschitz(f1, x, k, 1e-4, 2))(x, jax.random.PRNGKey(0))
    assert float(out) <= 3.0 + 1e-9
