"""Toy RLHF testbed (jaxrl.envs.rlhf_bandit) and the Bradley–Terry reward model
(jaxrl.rewards.preference): env contract, channels, and that the RM learns preferences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import make
from jaxrl.envs.rlhf_bandit import (
    RLHFBandit,
    RLHFTestbedConfig,
    build_tables,
    build_testbed,
    describe_testbed,
    gold_length_term,
    sample_preferences,
)
from jaxrl.rewards.preference import (
    PreferenceData,
    bt_labels,
    bt_loss,
    preference_accuracy,
    preference_pairs,
    train_bt_reward_model,
)

SMALL = RLHFTestbedConfig(num_contexts=4, num_responses=16, rm_steps=300, num_pairs=256)


@pytest.fixture(scope="module")
def testbed():
    return build_testbed(SMALL)


@pytest.mark.heavy
def test_tables_shapes_and_gold_length_term():
    features, lengths, quality, gold, ref_logits = build_tables(SMALL)
    C, K = SMALL.num_contexts, SMALL.num_responses
    assert features.shape == (C, K, C + SMALL.feature_dim + 1)
    assert gold.shape == quality.shape == ref_logits.shape == (C, K)
    np.testing.assert_allclose(features[..., -1], jnp.broadcast_to(lengths, (C, K)))
    np.testing.assert_allclose(
        gold - quality, jnp.broadcast_to(gold_length_term(lengths), (C, K)), atol=1e-6
    )
    h = gold_length_term(jnp.linspace(0, 1, 101), 8.0, 0.35)
    assert int(jnp.argmax(h)) == 35 and float(h[-1]) < 0 < float(h[35])


@pytest.mark.heavy
def test_env_contract_and_channels(testbed):
    env = RLHFBandit(testbed)
    params = env.default_params
    keys = jax.random.split(jax.random.key(0), 64)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    assert obs.shape == (64, SMALL.num_contexts) and obs.dtype == jnp.float32
    np.testing.assert_allclose(obs.sum(-1), 1.0)
    actions = jnp.arange(64) % SMALL.num_responses
    obs2, state2, reward, term, trunc, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        keys, state, actions, params
    )
    c = state.context
    assert term.all() and not trunc.any()  # one-step episodes: terminated, never truncated
    np.testing.assert_allclose(reward, testbed.proxy[c, actions], rtol=1e-6)
    np.testing.assert_allclose(info["proxy_reward"], reward)
    np.testing.assert_allclose(info["gold_reward"], testbed.gold[c, actions], rtol=1e-6)
    np.testing.assert_allclose(info["true_reward"], info["gold_reward"])
    # the reference reward is the proxy of some response to the same prompt
    ref = np.asarray(info["reference_reward"])
    table = np.asarray(testbed.proxy)[np.asarray(c)]
    assert np.all(np.min(np.abs(table - ref[:, None]), axis=1) < 1e-5)
    assert set(np.unique(info["gold_win_reward"])) <= {0.0, 0.5, 1.0}
    np.testing.assert_allclose(info["final_observation"], jax.nn.one_hot(c, SMALL.num_contexts))
    assert env.action_space(params).n == SMALL.num_responses


def test_reference_rewards_follow_reference_policy(testbed):
    env = RLHFBandit(testbed)
    params = env.default_params
    n = 4000
    state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(1), n), params)[
        1
    ]
    state = state.replace(context=jnp.zeros(n, jnp.int32))
    info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        jax.random.split(jax.random.key(2), n), state, jnp.zeros(n, jnp.int32), params
    )[-1]
    expected = float(jnp.sum(testbed.ref_probs[0] * testbed.proxy[0]))
    assert abs(float(info["reference_reward"].mean()) - expected) < 0.1


def test_make_registers_and_normalises(testbed):
    import jaxrl.envs.rlhf_bandit  # noqa: F401  (registers)

    env, params = make("rlhf_bandit", num_contexts=4, num_responses=16, rm_steps=50)
    assert params.proxy.shape == (4, 16)
    p = jax.nn.softmax(params.ref_logits, -1)
    mu = jnp.mean(jnp.sum(p * params.proxy, -1))
    var = jnp.mean(jnp.sum(p * (params.proxy - mu) ** 2, -1))
    assert abs(float(mu)) < 1e-4 and abs(float(var) - 1.0) < 1e-3  # RM normalised on π_ref


def test_preference_sampling_from_reference(testbed):
    data, (g_c, g_r) = sample_preferences(
        jax.random.key(0), testbed.features, testbed.gold, testbed.ref_logits, 500, float("inf")
    )
    assert data.chosen.shape == (500, testbed.features.shape[-1])
    assert bool(jnp.all(g_c >= g_r))  # noise-free labels order by gold
    # pairs come from the short-winded reference policy
    assert float(data.chosen[:, -1].mean()) < 0.35


@pytest.mark.heavy
def test_bt_model_learns_preferences_on_its_distribution():
    # linear gold reward on random features; noisy BT labels; held-out accuracy vs gold order
    key = jax.random.key(0)
    k_w, k_x, k_y, k_lab, k_rm, k_t = jax.random.split(key, 6)
    w = jax.random.normal(k_w, (5,))
    xa, xb = jax.random.normal(k_x, (2, 600, 5))
    gold = lambda x: x @ w
    labels = bt_labels(k_lab, gold(xa[:400]), gold(xb[:400]), beta=2.0)
    train = preference_pairs(xa[:400], xb[:400], labels)
    fit = train_bt_reward_model(k_rm, train, (32,), steps=300)
    assert float(fit.losses[-1]) < float(fit.losses[0])
    test = preference_pairs(xa[400:], xb[400:], gold(xa[400:]) > gold(xb[400:]))
    assert float(preference_accuracy(fit.params, fit.model.apply, test)) > 0.8
    # BT loss of a perfect-direction model beats a constant model
    assert float(bt_loss(fit.params, fit.model.apply, test)) < float(np.log(2))


@pytest.mark.heavy
def test_testbed_rm_accurate_on_training_distribution(testbed):
    report = describe_testbed(testbed)
    assert report["rm_gold_accuracy"] > 0.8
    # held-out pairs from the same (reference) distribution
    data, (g_c, g_r) = sample_preferences(
        jax.random.key(9), testbed.features, testbed.gold, testbed.ref_logits, 2000, float("inf")
    )
    acc = preference_accuracy(testbed.rm.params, testbed.rm.model.apply, data, g_c, g_r)
    assert float(acc) > 0.8


def test_preference_pairs_and_labels():
    xa, xb = jnp.zeros((3, 2)), jnp.ones((3, 2))
    d = preference_pairs(xa, xb, jnp.array([True, False, True]))
    assert isinstance(d, PreferenceData)
    np.testing.assert_array_equal(d.chosen[:, 0], [0, 1, 0])
    assert bool(bt_labels(None, jnp.array(1.0), jnp.array(0.0), float("inf")))
