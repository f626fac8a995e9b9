"""Prediction-error curiosity vs Curiosity in Hindsight (jaxrl.rewards.curiosity)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards.curiosity import CuriosityParams, bonuses, curiosity_transform
from jaxrl.shaping.transform import Transition

S, A, K, N = 8, 2, 4, 32  # states, actions, noise dims, batch
D = S + K
TV = 0  # arriving in state 0 shows K fresh uniform noise entries (the noisy TV)
HELD_OUT = S - 1  # never an input state of the training stream: its transitions are novel


def _obs(key, s, a):
    """Deterministic chain ``s' = (s + a) mod S``; the noise part of s' is uniform at the TV."""
    s2 = (s + a) % S
    noise = jax.random.uniform(key, (s.shape[0], K)) * (s2 == TV)[:, None]
    o = jnp.concatenate([jax.nn.one_hot(s, S), jnp.zeros((s.shape[0], K))], -1)
    o2 = jnp.concatenate([jax.nn.one_hot(s2, S), noise], -1)
    return o, o2


def _tr(o, a, o2, reward=None):
    n = o.shape[0]
    r = jnp.zeros(n) if reward is None else reward
    z = jnp.zeros(n, bool)
    return Transition(o, a, r, o2, z, z, jnp.ones(n), {}, jnp.zeros(n, jnp.int32))


def _train(t, p, st, key, steps, states):
    """``steps`` apply calls on batches of uniformly drawn input states from ``states``."""
    states = jnp.asarray(states)

    def body(st, k):
        k1, k2, k3 = jax.random.split(k, 3)
        s = states[jax.random.randint(k1, (N,), 0, states.shape[0])]
        a = jax.random.randint(k2, (N,), 0, A)
        o, o2 = _obs(k3, s, a)
        return t.apply(p, st, _tr(o, a, o2))[1], None

    return jax.jit(lambda st, k: jax.lax.scan(body, st, jax.random.split(k, steps))[0])(st, key)


def _eval(st, s, a):
    o, o2 = _obs(jax.random.key(99), jnp.full(64, s), jnp.full(64, a, jnp.int32))
    pe, hs = bonuses(st.model, o, jax.nn.one_hot(jnp.full(64, a), A), o2)
    return float(pe.mean()), float(hs.mean())


@pytest.fixture(scope="module")
def trained():
    t = curiosity_transform(D, A, batch=N, code_dim=K + 2, learning_rate=3e-3)
    p = CuriosityParams(1.0, 0.0, 0)
    st0 = t.init(p)
    st = _train(t, p, st0, jax.random.key(1), 2000, np.arange(S - 1))  # HELD_OUT never seen
    return t, p, st0, st


@pytest.mark.heavy
def test_noise_keeps_pe_bonus_but_hindsight_bonus_decays(trained):
    _, _, st0, st = trained
    pe0, hs0 = _eval(st0, TV, 0)  # 0 -> 0 with a = 0: the TV, seen in training
    pe, hs = _eval(st, TV, 0)
    noise_var = K / 12.0  # E||u − E u||² for K uniform(0, 1) entries
    assert pe0 > 1.0 and hs0 > 1.0
    # the plain model can only learn the noise mean: its error stays at the noise variance
    assert pe == pytest.approx(noise_var, rel=0.15)
    # the hindsight code explains the noise: its error falls by > 20x
    assert hs < 0.05 * noise_var
    # a seen deterministic transition: both errors vanish
    pe_d, hs_d = _eval(st, 3, 1)
    assert pe_d < 0.01 and hs_d < 0.01


def test_novel_deterministic_transition_stays_high_then_decays(trained):
    t, p, st0, st = trained
    pe0, hs0 = _eval(st0, HELD_OUT, 0)  # 7 -> 7, deterministic, never an input in training
    pe, hs = _eval(st, HELD_OUT, 0)
    assert pe0 > 0.5 and hs0 > 0.5
    # epistemic: after training elsewhere the hindsight bonus is still high (the code does
    # not explain what was never seen), unlike the noise's
    assert pe > 0.5 and hs > 0.5
    assert hs > 20 * _eval(st, TV, 0)[1]
    # after training on it, both decay
    st2 = _train(t, p, st, jax.random.key(2), 1000, np.arange(S))
    pe2, hs2 = _eval(st2, HELD_OUT, 0)
    assert pe2 < 0.05 * pe and hs2 < 0.05 * hs


def test_reward_shapes_params_and_update():
    t = curiosity_transform(D, A, batch=N)
    o, o2 = _obs(jax.random.key(0), jnp.arange(N) % S, jnp.ones(N, jnp.int32))
    a = jnp.ones(N, jnp.int32)
    r_env = jnp.linspace(0.0, 1.0, N)
    st = t.init(CuriosityParams(0.0, 0.0, 3))
    pe, hs = bonuses(st.model, o, jax.nn.one_hot(a, A), o2)
    for bp, bh in ((0.0, 0.0), (0.5, 0.0), (0.0, 2.0), (0.3, 0.7)):
        r, st2 = jax.jit(t.apply)(CuriosityParams(bp, bh, 3), st, _tr(o, a, o2, r_env))
        assert r.shape == (N,)
        np.testing.assert_allclose(r, r_env + bp * pe + bh * hs, rtol=1e-5, atol=1e-6)
    assert int(st2.step) == 1
    np.testing.assert_allclose(st2.last_pe, pe, rtol=1e-6)
    # the models took a step: the same batch now has a smaller plain error
    pe2, _ = bonuses(st2.model, o, jax.nn.one_hot(a, A), o2)
    assert float(pe2.mean()) < float(pe.mean())


@pytest.mark.heavy
def test_vmap_over_params():
    t = curiosity_transform(D, A, batch=N)
    p = CuriosityParams(jnp.array([0.0, 1.0, 0.0]), jnp.array([0.0, 0.0, 1.0]), jnp.arange(3))
    st = jax.vmap(t.init)(p)
    o, o2 = _obs(jax.random.key(0), jnp.arange(N) % S, jnp.zeros(N, jnp.int32))
    a = jnp.zeros(N, jnp.int32)
    r, st2 = jax.jit(jax.vmap(t.apply, (0, 0, None)))(p, st, _tr(o, a, o2))
    assert r.shape == (3, N)
    np.testing.assert_array_equal(r[0], 0.0)  # extrinsic-only: reward unchanged
    for i in (1, 2):
        one = jax.tree.map(lambda x, i=i: x[i], st)
        pe, hs = bonuses(one.model, o, jax.nn.one_hot(a, A), o2)
        np.testing.assert_allclose(r[i], pe if i == 1 else hs, rtol=1e-5)
    # seeds give different models
    assert not np.allclose(st.model["E"][0], st.model["E"][1])
    np.testing.assert_array_equal(st2.step, 1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="code_dim=0"):
        curiosity_transform(D, A, batch=N, code_dim=0)
    with pytest.raises(ValueError, match="learning_rate"):
        curiosity_transform(D, A, batch=N, learning_rate=0.0)
    t = curiosity_transform(D + 1, A, batch=N)
    o, o2 = _obs(jax.random.key(0), jnp.arange(N) % S, jnp.zeros(N, jnp.int32))
    with pytest.raises(ValueError, match="obs dim"):
        t.apply(CuriosityParams(), t.init(CuriosityParams()), _tr(o, jnp.zeros(N, int), o2))


@pytest.mark.slow
def test_experiment_smoke(tmp_path):
    from experiments.exploration_rewards import curiosity as m

    settings = m.Settings(steps=8192)
    summary = m.run(settings, seeds=2, seed=0)
    assert set(summary["per_condition"]) == set(m.CONDITIONS)
    for v in summary["per_condition"].values():
        assert len(v["tv_fraction"]) == 2 and all(0 <= x <= 1 for x in v["tv_fraction"])
    cl = m.claims(summary)
    assert [c.id for c in cl] == ["exploration_rewards.curiosity.a"]
    assert cl[0].verdict != "not testable"
    assert m.claims({})[0].verdict == "not testable"
    path = m.figure(summary, cl, tmp_path)
    assert path.exists() and path.name == "exploration_rewards_curiosity.png"
    with pytest.raises(ValueError, match="beta"):
        m.Settings(beta=0.0)
