"""The issue-16 Brax tasks through ``jaxrl.envs.make``, each on its default backend.

One jitted ``vmap(scan)`` random-action rollout per task (compiled once; the time limit is a
traced params field, so the short-limit run reuses it). Checks: shapes and dims, truncation at the
time limit with ``info["final_observation"]`` = the pre-reset observation, termination (hopper,
walker2d and the double pendulum fall under random actions) kept apart from truncation.
Throughput and the choice of backend: ``benchmarks/brax_backends.py``.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

pytest.importorskip("brax")

from jaxrl.envs import make  # noqa: E402
from jaxrl.envs.brax_adapter import BACKENDS, DEFAULT_BACKEND  # noqa: E402

N_ENVS, T, LIMIT = 2, 60, 3
# (obs_size, action_size) of brax 0.14's envs (positions of the root excluded from obs).
DIMS = {
    "inverted_double_pendulum": (8, 1),
    "hopper": (11, 3),
    "walker2d": (17, 6),
    "halfcheetah": (17, 6),
}
# Terminate on falling (hopper, walker2d: unhealthy; the double pendulum: tip height <= 1);
# halfcheetah only truncates.
FALLS = ("inverted_double_pendulum", "hopper", "walker2d")


@functools.cache
def built(task: str):
    env, params = make(f"brax/{task}")  # the default backend chosen for the task

    def rollout(key, params):
        k_reset, k_steps = jax.random.split(key)
        obs0, state = env.reset(k_reset, params)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            action = env.action_space(params).sample(k_act)
            obs, state, reward, term, trunc, info = env.step(k_step, state, action, params)
            return state, dict(obs=obs, reward=reward, term=term, trunc=trunc, info=info)

        _, traj = jax.lax.scan(body, state, jax.random.split(k_steps, T))
        return obs0, traj

    return env, params, jax.jit(jax.vmap(rollout, in_axes=(0, None)))


def _np(tree):
    return jax.tree.map(np.asarray, tree)


# Compiling generalized/mjx physics takes 10-27 s per task on the loaded 2-core CPU.
@pytest.mark.slow
@pytest.mark.parametrize("task", list(DIMS))
def test_task_contract(task):
    env, params, rollout = built(task)
    assert env.unwrapped.backend == DEFAULT_BACKEND[task]
    obs_size, act_size = DIMS[task]
    assert env.observation_space(params).shape == (obs_size,)
    assert env.action_space(params).shape == (act_size,)
    keys = jax.random.split(jax.random.key(0), N_ENVS)

    obs0, long = _np(rollout(keys, params))  # 1000-step limit: no truncation within T
    assert obs0.shape == (N_ENVS, obs_size) and obs0.dtype == np.float32
    assert long["obs"].shape == (N_ENVS, T, obs_size) and np.isfinite(long["obs"]).all()
    assert long["reward"].shape == (N_ENVS, T) and long["reward"].dtype == np.float32
    assert not long["trunc"].any()
    term = long["term"]
    if task in FALLS:
        assert term.any(), f"{task}: no fall in {T} random steps"
        np.testing.assert_array_equal(long["info"]["discount"][term], 0.0)
    else:
        assert not term.any(), f"{task}: terminated under random actions"
    np.testing.assert_array_equal(long["info"]["final_observation"][~term], long["obs"][~term])

    # Time limit LIMIT: the same trajectory up to step LIMIT - 1, which is truncated (not
    # terminated); final_observation there is the pre-reset observation and obs the reset one.
    _, short = _np(rollout(keys, params.replace(max_steps_in_episode=LIMIT)))
    ok = ~term[:, :LIMIT].any(axis=1)
    assert ok.any()
    t = LIMIT - 1
    assert short["trunc"][ok, t].all() and not short["term"][ok, t].any()
    assert not short["trunc"][:, :t].any()
    assert not (short["trunc"] & short["term"]).any()
    np.testing.assert_array_equal(short["info"]["final_observation"][ok, t], long["obs"][ok, t])
    assert not np.array_equal(short["obs"][ok, t], long["obs"][ok, t])
    np.testing.assert_array_equal(short["info"]["discount"][ok, t], 1.0)  # bootstrap: not terminal


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match=r"'warp'") as e:
        make("brax/hopper", backend="warp")
    for b in BACKENDS:
        assert b in str(e.value)


@pytest.mark.heavy
def test_default_backend_unchanged_for_other_tasks():
    env, _ = make("brax/inverted_pendulum")
    assert env.unwrapped.backend == "spring"
    env, _ = make("brax/hopper", backend="spring")  # an explicit backend wins over the default
    assert env.unwrapped.backend == "spring"
