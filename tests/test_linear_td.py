"""Linear semi-gradient TD: one-hot features reproduce the tabular learner exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.agents.linear_td import linear_replay, linear_td_update
from jaxrl.agents.td_updates import Experience, replay


def _stream(T=200, S=4, A=3, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, S, T)
    return Experience(
        state=jnp.asarray(s, jnp.int32),
        action=jnp.asarray(rng.integers(0, A, T), jnp.int32),
        reward=jnp.asarray(rng.standard_normal(T)),
        learner_reward=jnp.asarray(rng.standard_normal(T)),
        next_state=jnp.asarray(rng.integers(0, S, T), jnp.int32),
        next_action=jnp.asarray(rng.integers(0, A, T), jnp.int32),
        terminated=jnp.asarray(rng.random(T) < 0.1),
        truncated=jnp.zeros(T, bool),
    )


@pytest.mark.parametrize("algorithm", ["q_learning", "sarsa"])
def test_one_hot_features_equal_tabular(algorithm):
    S, A = 4, 3
    with jax.enable_x64(True):
        exp = _stream(S=S, A=A)
        q0 = np.random.default_rng(1).standard_normal((S, A))
        features = jnp.eye(S * A).reshape(S, A, S * A)
        q_tab, hist_tab = replay(
            jnp.asarray(q0), exp, 0.3, 0.9, algorithm=algorithm, return_history=True
        )
        w, hist_lin = linear_replay(
            jnp.asarray(q0.ravel()),
            features,
            exp,
            0.3,
            0.9,
            algorithm=algorithm,
            return_history=True,
        )
        np.testing.assert_allclose(np.asarray(w).reshape(S, A), q_tab, atol=1e-12)
        np.testing.assert_allclose(hist_lin, hist_tab, atol=1e-12)


def test_shared_feature_moves_every_entry_sharing_it():
    features = jnp.asarray([[[1.0], [0.0]], [[1.0], [1.0]]])  # [S=2, A=2, d=1]
    w = linear_td_update(jnp.zeros(1), features, 0, 0, 1.0, 0.0, 1, 0, 0.5)
    np.testing.assert_allclose(features @ w, [[0.5, 0.0], [0.5, 0.5]])
    with pytest.raises(ValueError):
        linear_td_update(jnp.zeros(1), features, 0, 0, 1.0, 0.0, 1, 0, 0.5, algorithm="x")
