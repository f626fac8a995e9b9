"""Unit tests for the population-limit discriminator fit and the weighted √χ² normaliser."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.regularizers import chi2, kl
from jaxrl.rewards import (
    DiscBatch,
    fit_occupancy_ratio_exact,
    init_discriminator,
    orpo_config,
    penalty_from_logits,
    trimmed_mean,
)


def test_fit_occupancy_ratio_exact_reaches_log_ratio():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        n = 20
        mu, ref = rng.dirichlet(np.full(n, 0.5)), rng.dirichlet(np.full(n, 5.0))
        cfg = orpo_config(n, 1, inputs="s", hidden_sizes=())
        state = init_discriminator(jax.random.PRNGKey(0), cfg)
        batch = DiscBatch(jnp.eye(n), jnp.zeros(n, jnp.int32))
        _, m = fit_occupancy_ratio_exact(state, batch, mu, ref, num_steps=40)
        d = np.asarray(m["logits"])
        assert float(m["grad_max"]) < 1e-10
        np.testing.assert_allclose(np.sum(mu * np.abs(d - np.log(mu / ref))), 0.0, atol=1e-9)
        assert np.sum(mu * d) == pytest.approx(float(kl(mu, ref)), abs=1e-10)
        assert np.sum(mu * np.expm1(d)) == pytest.approx(float(chi2(mu, ref)), abs=1e-10)
        # swapped labels give −d*
        _, m2 = fit_occupancy_ratio_exact(state, batch, ref, mu, num_steps=40)
        np.testing.assert_allclose(np.asarray(m2["logits"]), -d, atol=1e-6)


def test_weighted_trimmed_mean_and_sqrt_chi2_normaliser():
    x = jnp.asarray(np.arange(100.0))
    # uniform weights reproduce the unweighted trimmed mean (trim · n integer)
    assert float(trimmed_mean(x, 0.05, jnp.ones(100))) == pytest.approx(
        float(trimmed_mean(x, 0.05))
    )
    w = jnp.asarray([0.25, 0.5, 0.25])
    assert float(trimmed_mean(jnp.asarray([1.0, 2.0, 10.0]), 0.0, w)) == pytest.approx(3.75)
    # dropping 25% mass from each tail keeps only the middle value
    assert float(trimmed_mean(jnp.asarray([1.0, 2.0, 10.0]), 0.25, w)) == pytest.approx(2.0)
    d = jnp.log(jnp.asarray([2.0, 0.5, 1.0]))
    p = penalty_from_logits(d, "sqrt_chi2", trim=0.0, weights=w)
    m = 0.25 * 1.0 + 0.5 * (-0.5) + 0.25 * 0.0
    assert m == 0.0  # no division when the normaliser is not positive
    np.testing.assert_allclose(np.asarray(p), np.expm1(np.asarray(d)), rtol=1e-6)
