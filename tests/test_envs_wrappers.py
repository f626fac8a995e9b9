"""Unit tests for jaxrl.envs.wrappers on tiny hand-checkable envs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs import (
    AutoReset,
    EpisodeStatistics,
    RewardChannels,
    TimeLimit,
    make,
    reward_channels,
)
from jaxrl.mdp import TabularMDP


@struct.dataclass
class CounterState:
    pos: jax.Array
    steps: jax.Array


class CounterEnv:
    """Raw env (no reset, no time limit): obs = [pos, steps]; action in {0, 1} adds to pos;
    terminates when pos >= 3. Reset starts at pos = a random offset in [0, 1) (so resets differ).
    """

    default_params = None

    def observation_space(self, params):
        return spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)

    def action_space(self, params):
        return spaces.Discrete(2)

    def reset(self, key, params=None):
        s = CounterState(jax.random.uniform(key, ()) * 0.5, jnp.zeros((), jnp.float32))
        return jnp.stack([s.pos, s.steps]), s

    def step(self, key, state, action, params=None):
        s = CounterState(state.pos + action, state.steps + 1.0)
        obs = jnp.stack([s.pos, s.steps])
        term = s.pos >= 3
        info = {"terminated": term, "truncated": jnp.bool_(False), "final_observation": obs}
        return obs, s, jnp.float32(1.0), term, jnp.bool_(False), info


def run(env, actions, params=None, seed=0):
    """Scans ``env`` over a fixed action sequence ``[T]``; returns (obs0, per-step outputs)."""

    @jax.jit
    def go(key):
        k0, k = jax.random.split(key)
        obs0, state = env.reset(k0, params)

        def body(state, xs):
            k, a = xs
            obs, state, r, term, trunc, info = env.step(k, state, a, params)
            return state, dict(obs=obs, reward=r, term=term, trunc=trunc, info=info)

        _, out = jax.lax.scan(body, state, (jax.random.split(k, len(actions)), actions))
        return obs0, out

    return go(jax.random.key(seed))


def test_time_limit_and_auto_reset_keep_final_observation():
    env = AutoReset(TimeLimit(CounterEnv(), max_steps=2))
    obs0, out = run(env, jnp.zeros(5, jnp.int32))
    np.testing.assert_array_equal(out["trunc"], [False, True, False, True, False])
    assert not np.asarray(out["term"]).any()
    final = np.asarray(out["info"]["final_observation"])
    obs = np.asarray(out["obs"])
    np.testing.assert_allclose(final[1], [obs0[0], 2.0])  # arrival state of episode 1
    np.testing.assert_allclose(obs[1][1], 0.0)  # obs is the reset one (steps = 0)
    assert obs[1][0] != obs0[0]  # a fresh random reset, not a replay of the first
    np.testing.assert_array_equal(np.asarray(out["info"]["truncated"]), np.asarray(out["trunc"]))


def test_time_limit_terminated_wins():
    env = AutoReset(TimeLimit(CounterEnv(), max_steps=3))
    _, out = run(env, jnp.ones(4, jnp.int32))  # pos reaches >= 3 exactly on step 3
    np.testing.assert_array_equal(out["term"], [False, False, True, False])
    np.testing.assert_array_equal(out["trunc"], [False, False, False, False])
    np.testing.assert_array_equal(out["info"]["truncated"], out["trunc"])


def test_time_limit_rejects_bad_limit():
    with pytest.raises(ValueError, match="max_steps"):
        TimeLimit(CounterEnv(), max_steps=0)


def _chain(n=4):
    P = np.zeros((n, 1, n))
    for s in range(n - 1):
        P[s, 0, s + 1] = 1.0
    P[n - 1, 0, n - 1] = 1.0
    R = np.broadcast_to(np.arange(n, dtype=float), (n, 1, n)).copy()
    R[n - 1] = 0.0
    return TabularMDP.create(P, R, 0.9, init_dist=np.eye(n)[0], terminal_mask=np.arange(n) == n - 1)


def test_episode_statistics_on_deterministic_chain():
    # 0 -> 1 -> 2 -> 3 (terminal): rewards 1, 2, 3; return 6, length 3, every episode.
    env, params = make("tabular", mdp=_chain(), max_steps=100)
    proxy = lambda obs, r, info: 2.0 * r
    env = EpisodeStatistics(RewardChannels(env, {"proxy_reward": proxy}))
    _, out = run(env, jnp.zeros(7, jnp.int32), params)
    info = jax.tree.map(np.asarray, out["info"])
    np.testing.assert_array_equal(info["episode_done"], [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_allclose(info["episode_return"], [1, 3, 6, 1, 3, 6, 1])
    np.testing.assert_array_equal(info["episode_length"], [1, 2, 3, 1, 2, 3, 1])
    ch = info["episode_channel_returns"]
    assert set(ch) == {"true_reward", "proxy_reward"}
    np.testing.assert_allclose(ch["true_reward"], info["episode_return"])
    np.testing.assert_allclose(ch["proxy_reward"], 2 * info["episode_return"])
    np.testing.assert_allclose(info["proxy_reward"], 2 * np.asarray(out["reward"]))


def test_episode_statistics_counts_truncated_episodes():
    env, params = make("tabular", mdp=_chain(), max_steps=2)
    env = EpisodeStatistics(env)
    _, out = run(env, jnp.zeros(4, jnp.int32), params)
    np.testing.assert_array_equal(out["info"]["episode_done"], [0, 1, 0, 1])
    np.testing.assert_array_equal(out["trunc"], [0, 1, 0, 1])
    np.testing.assert_allclose(out["info"]["episode_return"], [1, 3, 1, 3])


def test_reward_channels_never_overwrite():
    env, params = make("tabular", mdp=_chain())
    env = RewardChannels(env, {"true_reward": lambda o, r, i: r * 0 + 123.0})
    _, out = run(env, jnp.zeros(2, jnp.int32), params)
    np.testing.assert_allclose(out["info"]["true_reward"], out["reward"])
    assert set(reward_channels(out["info"])) == {"true_reward"}


def test_wrapper_delegates_attributes():
    env, params = make("CartPole-v1")
    wrapped = EpisodeStatistics(env)
    assert wrapped.num_actions == 2 and wrapped.name == "CartPole-v1"
    assert wrapped.action_space(params).n == 2
    assert wrapped.default_params.max_steps_in_episode == 500
