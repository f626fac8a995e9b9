"""BARFI's blended reward (jaxrl.shaping.blend): transform form, table form, regularisers, γ_φ."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.shaping.blend import (
    BlendParams,
    blend,
    blend_discount,
    blend_penalty,
    blend_reward_table,
    blend_weights,
    gamma_l2,
    init_blend_params,
    one_hot_features,
    reward_l2,
)
from jaxrl.shaping.potential import table_transitions
from jaxrl.shaping.transform import Transition

S = 3


def _transition(obs, reward, aux, **channels):
    obs = jnp.asarray(obs)
    reward = jnp.asarray(reward, jnp.float32)
    z = jnp.zeros(reward.shape, bool)
    return Transition(
        obs=obs,
        action=jnp.zeros(reward.shape, jnp.int32),
        reward=reward,
        next_obs=obs,
        terminated=z,
        truncated=z,
        discount=jnp.full(reward.shape, 0.9),
        channels={"aux_reward": jnp.asarray(aux, jnp.float32), **channels},
        time=jnp.zeros(reward.shape, jnp.int32),
    )


def _params():
    # φ₁(s) = W[s, 0] + b₀ = (0.5, −1, 2) + 0.1 ; φ₂(s) = W[s, 1] + b₁ = (1, 0, −2) + 0.5
    W = jnp.asarray([[0.5, 1.0], [-1.0, 0.0], [2.0, -2.0]])
    return BlendParams(weight=W, bias=jnp.asarray([0.1, 0.5]), gamma_logit=jnp.asarray(0.0))


def test_default_params_naive_blend_and_gamma():
    t = blend(one_hot_features(S), S)
    p = t.default_params
    assert p.weight.shape == (S, 2) and p.bias.shape == (2,)
    np.testing.assert_allclose(blend_discount(p), 0.99, rtol=1e-6)
    tr = _transition([0, 1, 2], [1.0, -2.0, 0.5], [3.0, 4.0, -1.0])
    r, state = t.apply(p, t.init(p), tr)
    np.testing.assert_allclose(r, [4.0, 2.0, -0.5], rtol=1e-6)  # naive r_p + r_aux
    assert state == ()
    assert t.gamma is None
    with jax.enable_x64(True):
        p64 = init_blend_params(S, dtype=jnp.float64)
        assert abs(float(blend_discount(p64)) - 0.99) < 1e-14
        p0 = init_blend_params(S, aux_weight_init=0.0, gamma_init=0.5, dtype=jnp.float64)
        assert float(blend_discount(p0)) == 0.5 and float(p0.bias[1]) == 0.0
    with pytest.raises(ValueError, match="gamma_init"):
        init_blend_params(S, gamma_init=1.0)


def test_hand_built_transitions():
    t = blend(one_hot_features(S), S)
    p = _params()
    tr = _transition([0, 1, 2, 2], [1.0, 1.0, 1.0, 0.0], [2.0, 2.0, 2.0, 1.0])
    r, _ = t.apply(p, (), tr)
    # s=0: 1 + 0.6 + 1.5·2 = 4.6 ; s=1: 1 − 0.9 + 0.5·2 = 1.1 ; s=2: 1 + 2.1 − 1.5·2 = 0.1 ;
    # s=2, r_p = 0, r_aux = 1: 2.1 − 1.5 = 0.6
    np.testing.assert_allclose(r, [4.6, 1.1, 0.1, 0.6], rtol=1e-6)
    phi1, phi2 = blend_weights(p, one_hot_features(S)(jnp.arange(S)))
    np.testing.assert_allclose(phi1, [0.6, -0.9, 2.1], rtol=1e-6)
    np.testing.assert_allclose(phi2, [1.5, 0.5, -1.5], rtol=1e-6)


def test_batch_polymorphic_and_channels():
    t = blend(one_hot_features(S), S, primary_channel="true_reward")
    p = _params()
    obs = jnp.asarray([[0, 1], [2, 0]])  # [T=2, N=2]
    tr = _transition(obs, jnp.full((2, 2), 99.0), jnp.ones((2, 2)), true_reward=jnp.ones((2, 2)))
    r, _ = t.apply(p, (), tr)
    assert r.shape == (2, 2)
    np.testing.assert_allclose(
        r, [[1 + 0.6 + 1.5, 1 - 0.9 + 0.5], [1 + 2.1 - 1.5, 1 + 0.6 + 1.5]], rtol=1e-6
    )
    with pytest.raises(KeyError, match="aux"):
        blend(one_hot_features(S), S, aux_channel="missing").apply(p, (), tr)
    with pytest.raises(KeyError, match="primary"):
        blend(one_hot_features(S), S, primary_channel="nope").apply(p, (), tr)


def test_custom_features_fn():
    """Continuous observations with a 3-d feature map [1, x, y] (e.g. a Fourier/tile basis)."""
    features = lambda obs: jnp.concatenate([jnp.ones(obs.shape[:-1] + (1,)), obs], -1)
    t = blend(features, 3)
    p = BlendParams(
        weight=jnp.asarray([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]),
        bias=jnp.asarray([0.0, 1.0]),
        gamma_logit=jnp.asarray(0.0),
    )
    obs = jnp.asarray([[0.5, 0.25], [-1.0, 1.0]])
    r, _ = t.apply(p, (), _transition(obs, [1.0, 1.0], [2.0, 2.0]))
    # φ₁ = x, φ₂ = 1 + 2y: (1 + 0.5 + 1.5·2, 1 − 1 + 3·2)
    np.testing.assert_allclose(r, [4.5, 6.0], rtol=1e-6)


@pytest.mark.parametrize("sas", [True, False])
def test_table_form_equals_transform_form(sas):
    rng = np.random.default_rng(0)
    A = 2
    shape = (S, A, S) if sas else (S, A)
    r_p = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    r_aux = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    p = _params()
    table = blend_reward_table(p, r_p, r_aux)
    assert table.shape == shape
    full_p = jnp.broadcast_to(r_p[..., None], (S, A, S)) if not sas else r_p
    full_aux = jnp.broadcast_to(r_aux[..., None], (S, A, S)) if not sas else r_aux
    tr = table_transitions(full_p, 0.9)._replace(channels={"aux_reward": full_aux})
    t = blend(one_hot_features(S), S)
    r, _ = t.apply(p, (), tr)
    expected = table if sas else jnp.broadcast_to(table[..., None], (S, A, S))
    np.testing.assert_allclose(r, expected, rtol=1e-6, atol=1e-6)
    # explicit one-hot features give the same table; mixed [S, A, S'] / [S, A] broadcasts
    np.testing.assert_allclose(blend_reward_table(p, r_p, r_aux, jnp.eye(S)), table, rtol=1e-6)
    mixed = blend_reward_table(p, full_p, r_aux[..., None] if not sas else r_aux)
    np.testing.assert_allclose(mixed, expected, rtol=1e-6, atol=1e-6)


def test_regularisers():
    p = _params()
    # ‖W‖² = 0.25 + 1 + 1 + 0 + 4 + 4 = 10.25 ; ‖b‖² = 0.01 + 0.25 = 0.26
    np.testing.assert_allclose(reward_l2(p), 10.51, rtol=1e-6)
    np.testing.assert_allclose(gamma_l2(p), 0.5, rtol=1e-6)  # γ_φ = sigmoid(0)
    np.testing.assert_allclose(blend_penalty(p, 0.1, 2.0), 0.1 * 10.51 + 2.0 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(reward_l2(init_blend_params(S)), 1.0)  # b = (0, 1)
    g = jax.grad(blend_penalty)(p, 0.1, 2.0)
    np.testing.assert_allclose(g.weight, 0.2 * p.weight, rtol=1e-6)
    np.testing.assert_allclose(g.bias, 0.2 * p.bias, rtol=1e-6)
    np.testing.assert_allclose(g.gamma_logit, 2.0 * 0.25, rtol=1e-6)  # γ(1 − γ)


def test_params_are_trainable():
    """∂/∂φ of Σ r_φ: dW[:, 0] = Σ x(s), dW[:, 1] = Σ x(s)·r_aux, db = (N, Σ r_aux)."""
    t = blend(one_hot_features(S), S)
    tr = _transition([0, 0, 2], [1.0, 1.0, 1.0], [2.0, -1.0, 3.0])
    g = jax.grad(lambda p: jnp.sum(t.apply(p, (), tr)[0]))(t.default_params)
    np.testing.assert_allclose(g.weight[:, 0], [2.0, 0.0, 1.0])
    np.testing.assert_allclose(g.weight[:, 1], [1.0, 0.0, 3.0])
    np.testing.assert_allclose(g.bias, [3.0, 4.0])
    np.testing.assert_allclose(g.gamma_logit, 0.0)
    # jit + vmap over a batch of params
    ps = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), _params())
    r = jax.jit(jax.vmap(lambda p: t.apply(p, (), tr)[0]))(ps)
    assert r.shape == (2, 3)
