"""Repeated-step MDP for PRM hacking (jaxrl.envs.repeated_step): dynamics, channels, episode ends,
and that Clip/Delta bound the return of a padded trajectory while the raw PRM sum grows."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import make
from jaxrl.envs.repeated_step import FINISH, REPEAT, USEFUL, RepeatedStep, make_repeated_step
from jaxrl.shaping.prm import clip_rewards, delta_rewards


def rollout(env, params, actions, key=0):
    obs, state = env.reset(jax.random.key(key), params)
    out = []
    for i, a in enumerate(actions):
        obs, state, r, term, trunc, info = env.step(jax.random.key(100 + i), state, a, params)
        out.append((obs, state, float(r), bool(term), bool(trunc), info))
    return out


def test_success_path():
    env, params = make_repeated_step(3)
    steps = rollout(env, params, [USEFUL, USEFUL, USEFUL, FINISH])
    prm = [float(s[5]["prm_reward"]) for s in steps]
    outcome = [float(s[5]["outcome_reward"]) for s in steps]
    np.testing.assert_allclose(prm, [0.9] * 4, rtol=1e-6)
    assert outcome == [0, 0, 0, 1.0]
    assert [s[3] for s in steps] == [False, False, False, True]
    assert not any(s[4] for s in steps)
    np.testing.assert_allclose(steps[-1][2], 1.9, rtol=1e-6)  # reward = prm + outcome
    np.testing.assert_allclose(steps[-1][5]["true_reward"], 1.0)
    # final observation: progress 3 of 3, time 4/30; obs itself is the reset observation
    np.testing.assert_allclose(steps[-1][5]["final_observation"], [0, 0, 0, 1, 4 / 30], rtol=1e-6)
    np.testing.assert_allclose(steps[-1][0], [1, 0, 0, 0, 0])


def test_premature_finish_fails():
    env, params = make_repeated_step(3)
    (step,) = rollout(env, params, [FINISH])
    assert step[3] and float(step[5]["outcome_reward"]) == 0.0
    np.testing.assert_allclose(step[5]["prm_reward"], 0.1, rtol=1e-6)


def test_repeats_truncate_at_horizon_and_terminated_wins():
    env, params = make_repeated_step(3, max_steps_in_episode=10)
    steps = rollout(env, params, [REPEAT] * 10)
    assert [s[4] for s in steps] == [False] * 9 + [True]
    assert not any(s[3] for s in steps)
    np.testing.assert_allclose(sum(s[2] for s in steps), 9.0, rtol=1e-5)  # raw return grows
    # FINISH on the horizon step: terminated, not truncated
    steps = rollout(env, params, [USEFUL] * 3 + [REPEAT] * 6 + [FINISH])
    assert steps[-1][3] and not steps[-1][4]
    assert float(steps[-1][5]["outcome_reward"]) == 1.0


def test_observation_and_spaces():
    env = RepeatedStep(2)
    params = env.default_params
    assert env.observation_space(params).shape == (4,)
    assert env.action_space(params).n == 3
    obs, state = env.reset(jax.random.key(0), params)
    np.testing.assert_allclose(obs, [1, 0, 0, 0])
    steps = rollout(env, params, [USEFUL] * 4)  # progress saturates in the observation
    np.testing.assert_allclose(steps[-1][0][:3], [0, 0, 1])


def test_vmappable_and_registered():
    import jaxrl.envs.repeated_step  # noqa: F401

    env, params = make("repeated_step", n_required=2, prm_noise=0.05)
    keys = jax.random.split(jax.random.key(0), 8)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, jnp.zeros(8, jnp.int32), params)
    assert out[5]["prm_reward"].shape == (8,)
    assert float(jnp.std(out[5]["prm_reward"])) > 0  # noisy scorer


def test_clip_and_delta_bound_padded_returns():
    # PRM scores of a successful episode padded with k repeats: raw grows with k, Clip/Delta don't
    def prm_scores(k):
        return jnp.asarray([0.9] * (3 + k) + [0.9])

    raw = [float(prm_scores(k).sum()) for k in (0, 10, 20)]
    clip = [float(clip_rewards(prm_scores(k), 1.0).sum()) for k in (0, 10, 20)]
    delta = [float(delta_rewards(prm_scores(k)).sum()) for k in (0, 10, 20)]
    assert raw[2] > raw[1] > raw[0]
    assert clip[2] < clip[1] < clip[0] <= 0
    np.testing.assert_allclose(delta, 0.0, atol=1e-6)
