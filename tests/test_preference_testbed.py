"""The multi-attribute, multi-user preference testbed, its bandit env and the RM-table transform."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import make
from jaxrl.envs.preference_testbed import (
    PreferenceTestbedConfig,
    build_preference_testbed,
    expected_gold,
    label_pairs,
    sample_pairs,
)
from jaxrl.rewards.reward_model import bandit_table_reward
from jaxrl.shaping.transform import Transition


@pytest.fixture(scope="module")
def tb():
    return build_preference_testbed(PreferenceTestbedConfig(seed=3))


def test_gold_is_attributes_times_user_weights(tb):
    U, P, K = tb.shape
    a = np.asarray(tb.attributes, np.float64)
    w = np.asarray(tb.user_weights, np.float64)
    for u in range(U):
        np.testing.assert_allclose(np.asarray(tb.gold[u]), a @ w[u], rtol=1e-5, atol=1e-5)
    # the two default user types disagree on the best response of some prompt
    assert np.any(np.argmax(tb.gold[0], -1) != np.argmax(tb.gold[1], -1))


def test_harm_quality_correlation_follows_rho():
    corr = []
    for rho in (-0.8, 0.0, 0.8):
        t = build_preference_testbed(
            PreferenceTestbedConfig(num_responses=256, harm_quality_corr=rho)
        )
        q, h = np.asarray(t.attributes[..., 0]).ravel(), np.asarray(t.attributes[..., 1]).ravel()
        corr.append(np.corrcoef(q, h)[0, 1])
    assert corr[0] < -0.5 and abs(corr[1]) < 0.3 and corr[2] > 0.5


def test_labels_flip_rate_and_ties():
    key = jax.random.key(0)
    g_a = jnp.linspace(-1.0, 1.0, 20_000)
    g_b = jnp.zeros_like(g_a)
    clean = label_pairs(key, g_a, g_b)
    np.testing.assert_array_equal(np.asarray(clean), np.asarray(g_a > 0, np.float32))
    noisy = label_pairs(key, g_a, g_b, flip_rate=0.3)
    assert abs(float(jnp.mean(noisy != clean)) - 0.3) < 0.02
    tied = label_pairs(key, g_a, g_b, tie_margin=0.25)
    assert abs(float(jnp.mean(tied == 0.5)) - 0.25) < 0.01
    with pytest.raises(ValueError, match="flip_rate=1.5"):
        label_pairs(key, g_a, g_b, flip_rate=1.5)


@pytest.mark.heavy
def test_sample_pairs_users_and_gold(tb):
    pairs = sample_pairs(jax.random.key(1), tb, 4000)
    assert abs(float(jnp.mean(pairs.user == 1)) - 0.3) < 0.03
    np.testing.assert_allclose(pairs.gold_a, tb.gold[pairs.user, pairs.prompt, pairs.a])
    np.testing.assert_array_equal(pairs.x_a, tb.features[pairs.prompt, pairs.a])
    one = sample_pairs(jax.random.key(1), tb, 10, user=1)
    assert np.all(np.asarray(one.user) == 1)
    with pytest.raises(ValueError, match="user=5"):
        sample_pairs(jax.random.key(1), tb, 10, user=5)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="user_fractions"):
        build_preference_testbed(PreferenceTestbedConfig(user_fractions=(0.5, 0.6)))
    with pytest.raises(ValueError, match="harm_quality_corr"):
        build_preference_testbed(PreferenceTestbedConfig(harm_quality_corr=2.0))
    with pytest.raises(ValueError, match="unknown keyword"):
        make("preference_bandit", num_prompt=3)


def test_bandit_env_and_table_transform_agree_with_the_tables(tb):
    env, params = make("preference_bandit", seed=3, context_dim=2)
    params = params.replace(context=jnp.arange(4.0).reshape(2, 2))
    U, P, K = env.testbed.shape
    obs, state = env.reset(jax.random.key(2), params)
    action = jnp.asarray(5)
    _, _, reward, terminated, truncated, info = env.step(jax.random.key(3), state, action, params)
    p, u = int(state.prompt), int(state.user)
    assert obs.shape == (P + U + 2,) and bool(terminated) and not bool(truncated)
    np.testing.assert_allclose(obs[P + U :], params.context[u])
    assert float(reward) == pytest.approx(float(env.testbed.gold[u, p, 5]))
    assert float(info["attr_length"]) == pytest.approx(float(env.testbed.attributes[p, 5, 2]))
    table = jax.random.normal(jax.random.key(4), (U, P, K))
    tr = bandit_table_reward(P, U, table)
    batch = Transition(obs[None], action[None], reward[None], obs[None], terminated[None],
                       truncated[None], jnp.zeros(1), {}, jnp.zeros(1, jnp.int32))  # fmt: skip
    r, _ = tr.apply(tr.default_params, tr.init(tr.default_params), batch)
    assert float(r[0]) == pytest.approx(float(table[u, p, 5]))


def test_expected_gold_of_the_per_user_optimum_is_the_max(tb):
    best = 1e4 * jax.nn.one_hot(jnp.argmax(tb.gold, -1), tb.shape[2])  # [U, P, K]
    np.testing.assert_allclose(
        expected_gold(tb, best), jnp.mean(jnp.max(tb.gold, -1), -1), rtol=1e-5
    )
    assert np.all(
        np.asarray(expected_gold(tb, tb.ref_logits)) < np.asarray(expected_gold(tb, best))
    )
