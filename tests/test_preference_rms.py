"""The preference_rms experiment package: its config, its runner's stored arrays, its modules'
common interface (each system's own tests are tests/test_pref_<system>.py)."""

import numpy as np
import pytest


@pytest.mark.heavy
def test_kl_regularised_table_gives_the_kl_objective():
    """E_π[r + β log π_ref] + β H(π) = E_π[r] − β KL(π ‖ π_ref) for any π (float64), and the
    maximiser of the table-plus-entropy objective is the Gibbs policy π_ref·exp(r/β)."""
    import jax
    import jax.numpy as jnp

    from experiments.preference_rms.common import kl_regularised_table
    from jaxrl.envs.preference_testbed import build_preference_testbed

    with jax.enable_x64(True):
        tb = build_preference_testbed()
        tb = tb._replace(ref_logits=jnp.asarray(tb.ref_logits, jnp.float64))
        r = jax.random.normal(jax.random.key(0), tb.ref_logits.shape, jnp.float64)
        beta = 0.3
        shaped = kl_regularised_table(r, tb, beta)
        log_ref = jax.nn.log_softmax(tb.ref_logits, -1)

        def objective(logits, table):  # E_π[table] + β H(π), per prompt
            logp = jax.nn.log_softmax(logits, -1)
            return jnp.sum(jnp.exp(logp) * (table - beta * logp), -1)

        for k in range(3):
            logits = jax.random.normal(jax.random.key(k + 1), r.shape, jnp.float64) * 3
            logp = jax.nn.log_softmax(logits, -1)
            kl = jnp.sum(jnp.exp(logp) * (logp - log_ref), -1)
            want = jnp.sum(jnp.exp(logp) * r, -1) - beta * kl
            np.testing.assert_allclose(objective(logits, shaped), want, rtol=1e-12, atol=1e-12)
        gibbs = log_ref + r / beta
        best = objective(gibbs, shaped)
        for k in range(3):
            other = gibbs + 0.1 * jax.random.normal(jax.random.key(10 + k), r.shape, jnp.float64)
            assert np.all(np.asarray(objective(other, shaped)) <= np.asarray(best) + 1e-12)
