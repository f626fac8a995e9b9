"""Contract tests for every env that ``jaxrl.envs.make`` provides.

One jitted ``vmap(scan)`` rollout is compiled per env and reused by every test (the time limit is
a traced params field, so changing it does not recompile).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import debug_actions, make, register, registered_names
from jaxrl.envs import registry as registry_module
from jaxrl.mdp import TabularMDP

N_ENVS = 4
T = 48
ENV_NAMES = [
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
    "brax/inverted_pendulum",
    "tabular",
]


def _tier(name: str):
    """Brax's env compiles for ~15 s cold: its cases are in the heavy tier (`make test-heavy`)."""
    return pytest.param(name, marks=pytest.mark.heavy) if name.startswith("brax/") else name


ENV_IDS = [_tier(n) for n in ENV_NAMES]
# Envs that terminate under uniformly random actions within T steps.
TERMINATING = [_tier(n) for n in ("CartPole-v1", "brax/inverted_pendulum", "tabular")]


def chain_mdp(n: int = 7) -> TabularMDP:
    """A chain 0 -> n-1 (terminal). Action 0 moves +1; action 1 moves +1 or +2 (p = 1/2).

    Starts at 0 and never returns there, so a reset observation always differs from an arrival
    observation; R[s, a, s'] = s' / 10 (zero out of the terminal state).
    """
    P = np.zeros((n, 2, n))
    for s in range(n - 1):
        P[s, 0, s + 1] = 1.0
        P[s, 1, s + 1] += 0.5
        P[s, 1, min(s + 2, n - 1)] += 0.5
    P[n - 1, :, n - 1] = 1.0
    R = np.broadcast_to(np.arange(n) / 10.0, (n, 2, n)).copy()
    R[n - 1] = 0.0
    init = np.eye(n)[0]
    term = np.arange(n) == n - 1
    return TabularMDP.create(P, R, gamma=0.9, init_dist=init, terminal_mask=term)


def make_env(env_id: str):
    if env_id == "tabular":
        return make("tabular", mdp=chain_mdp(), max_steps=100)
    return make(env_id)


def _rollout_fn(env, num_steps: int):
    def rollout(key, params):
        k_reset, k_steps = jax.random.split(key)
        obs0, state = env.reset(k_reset, params)

        def body(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            action = env.action_space(params).sample(k_act)
            nobs, state, reward, term, trunc, info = env.step(k_step, state, action, params)
            out = dict(action=action, obs=nobs, reward=reward, term=term, trunc=trunc, info=info)
            return (nobs, state), out

        _, traj = jax.lax.scan(body, (obs0, state), jax.random.split(k_steps, num_steps))
        return obs0, traj

    return jax.jit(jax.vmap(rollout, in_axes=(0, None)))


@functools.cache
def built(env_id: str):
    """(env, params, rollout) per env id, built and compiled once per test session."""
    env, params = make_env(env_id)
    return env, params, _rollout_fn(env, T)


def keys(seed: int = 0):
    return jax.random.split(jax.random.key(seed), N_ENVS)


def with_limit(params, n: int):
    return params.replace(max_steps_in_episode=n)


@pytest.mark.heavy
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_shapes_dtypes_and_channels(env_id):
    env, params, rollout = built(env_id)
    obs0, tr = rollout(keys(), params)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    batch = (N_ENVS, T)

    assert obs0.shape == (N_ENVS, *obs_space.shape) and obs0.dtype == obs_space.dtype
    assert tr["obs"].shape == (*batch, *obs_space.shape) and tr["obs"].dtype == obs_space.dtype
    assert tr["action"].shape == (*batch, *act_space.shape)
    assert tr["action"].dtype == act_space.dtype
    assert bool(jnp.all(jax.vmap(jax.vmap(act_space.contains))(tr["action"])))
    assert tr["reward"].shape == batch and jnp.issubdtype(tr["reward"].dtype, jnp.floating)
    assert tr["term"].shape == batch and tr["term"].dtype == jnp.bool_
    assert tr["trunc"].shape == batch and tr["trunc"].dtype == jnp.bool_

    info = tr["info"]
    for k in ("terminated", "truncated", "final_observation", "true_reward"):
        assert k in info, f"{env_id}: info lacks {k!r}"
    for leaf in jax.tree.leaves(info):  # every info leaf is a fixed-shape array (vmap/scan-able)
        assert isinstance(leaf, jax.Array) and leaf.shape[:2] == batch
    assert info["final_observation"].shape == tr["obs"].shape
    assert info["final_observation"].dtype == tr["obs"].dtype
    np.testing.assert_array_equal(info["terminated"], tr["term"])
    np.testing.assert_array_equal(info["truncated"], tr["trunc"])
    np.testing.assert_array_equal(info["true_reward"], tr["reward"])
    # Where the episode went on, final_observation is just the next observation.
    done = np.asarray(tr["term"] | tr["trunc"])
    np.testing.assert_array_equal(
        np.asarray(info["final_observation"])[~done], np.asarray(tr["obs"])[~done]
    )
    assert not bool(jnp.any(tr["term"] & tr["trunc"]))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_key_same_trajectory(env_id):
    _, params, rollout = built(env_id)
    a, b = rollout(keys(0), params), rollout(keys(0), params)
    jax.tree.map(np.testing.assert_array_equal, a, b)  # bitwise
    c = rollout(keys(1), params)
    assert not np.array_equal(a[1]["obs"], c[1]["obs"])
    # The vmapped envs are independent streams, not copies.
    assert not np.array_equal(a[1]["obs"][0], a[1]["obs"][1])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_truncation(env_id):
    _, params, rollout = built(env_id)
    _, short = rollout(keys(), with_limit(params, 2))
    _, long = rollout(keys(), with_limit(params, 10_000))
    # Until the first episode ends the two runs coincide (same keys, limit is the only change).
    ok = ~np.asarray(long["term"][:, :2].any(axis=1))
    assert ok.any()
    s, lg = (
        jax.tree.map(lambda x: np.asarray(x)[ok], short),
        jax.tree.map(lambda x: np.asarray(x)[ok], long),
    )
    assert not s["trunc"][:, 0].any()
    assert s["trunc"][:, 1].all() and not s["term"][:, 1].any()
    final = s["info"]["final_observation"][:, 1]
    np.testing.assert_array_equal(final, lg["obs"][:, 1])  # the pre-reset observation...
    assert all(not np.array_equal(f, o) for f, o in zip(final, s["obs"][:, 1], strict=True))
    # ...while obs is the reset one; the next episode is truncated after 2 more steps.
    assert s["trunc"][:, 3].all() or s["term"][:, 2:4].any()
    # No truncation ever without the limit within T steps.
    assert not np.asarray(long["trunc"]).any()


@pytest.mark.parametrize("env_id", TERMINATING)
def test_termination_and_terminated_wins(env_id):
    _, params, rollout = built(env_id)
    _, tr = rollout(keys(), params)
    term = np.asarray(tr["term"])
    assert term.any(), f"{env_id}: no termination in {T} random steps"
    assert not np.asarray(tr["trunc"])[term].any()
    np.testing.assert_array_equal(np.asarray(tr["info"]["discount"])[term], 0.0)
    # Put the time limit exactly on the first terminal step: terminated wins.
    first = np.where(term.any(axis=1), term.argmax(axis=1), T)
    b = int(first.argmin())
    t = int(first[b])
    _, tr2 = rollout(keys(), with_limit(params, t + 1))
    assert bool(tr2["term"][b, t]) and not bool(tr2["trunc"][b, t])
    assert not np.asarray(tr2["trunc"][b, :t]).any()
    np.testing.assert_array_equal(
        tr2["info"]["final_observation"][b, t], tr["info"]["final_observation"][b, t]
    )


def test_tabular_info_states():
    env, params, rollout = built("tabular")
    _, tr = rollout(keys(), params)
    s, s_next = np.asarray(tr["info"]["state"]), np.asarray(tr["info"]["next_state"])
    assert s.dtype == np.int32 and s_next.shape == (N_ENVS, T)
    # next_state is the arrival state (before reset) and matches final_observation's one-hot.
    np.testing.assert_array_equal(np.asarray(tr["info"]["final_observation"]).argmax(-1), s_next)
    np.testing.assert_array_equal(np.asarray(tr["term"]), s_next == 6)
    np.testing.assert_allclose(np.asarray(tr["reward"]), s_next / 10.0, rtol=1e-6)
    # The chain only moves forward; after a reset the walk restarts from 0.
    done = np.asarray(tr["term"] | tr["trunc"])
    np.testing.assert_array_equal(s[:, 1:][done[:, :-1]], 0)
    env_i, params_i = make("tabular", mdp=chain_mdp(), obs_type="index")
    obs, _ = env_i.reset(jax.random.key(0), params_i)
    assert obs.dtype == jnp.int32 and obs.shape == () and int(obs) == 0


def test_make_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as e:
        make("NoSuchEnv")
    msg = str(e.value)
    for name in ENV_NAMES:
        if not name.startswith("brax/"):
            assert name in msg
    assert "brax/<env_name>" in msg


def test_make_bad_kwargs():
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        make("CartPole-v1", max_step=3)
    with pytest.raises(ValueError, match="accepted keywords"):
        make("tabular", mdp=chain_mdp(), horizon=3)
    with pytest.raises(ValueError, match="backend"):
        make("brax/inverted_pendulum", backend="nope")
    with pytest.raises(ValueError, match="inverted_pendulum"):
        make("brax/no_such_brax_env")
    with pytest.raises(ValueError, match="TabularMDP"):
        make("tabular", mdp=object())


def test_gymnax_param_override():
    env, params = make("CartPole-v1", max_steps_in_episode=7)
    assert params.max_steps_in_episode == 7
    assert env.name == "CartPole-v1" and env.num_actions == 2


def test_register():
    name = "test-envs/chain"
    register(name, lambda max_steps=5: make("tabular", mdp=chain_mdp(), max_steps=max_steps))
    try:
        assert name in registered_names()
        env, params = make(name, max_steps=3)
        assert params.max_steps_in_episode == 3
        with pytest.raises(ValueError, match="already registered"):
            register(name, lambda: None)
        with pytest.raises(ValueError, match="reserved"):
            register("brax/x", lambda: None)
    finally:
        registry_module._REGISTRY.pop(name, None)


@pytest.mark.heavy
def test_every_env_id_registered_on_package_import():
    # A fresh interpreter: ids must not depend on which module a test happened to import first.
    import subprocess
    import sys

    code = "from jaxrl.envs import registered_names as r; print(','.join(r()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = set(out.stdout.strip().split(","))
    expected = {"tomato", "gridworld", "tabular", "barfi_gridworld", "cartpole_aux"}
    expected |= {"mountaincar_sparse_aux", "halfcheetah_aux", "repeated_step", "rlhf_bandit"}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize(
    "name, bad, clipped", [("tomato", 9, 3), ("CartPole-v1", 7, 1), ("gridworld", -2, 0)]
)
def test_out_of_range_actions_are_clipped_and_an_error_in_debug_mode(name, bad, clipped):
    env, params = make(name)
    _, state = env.reset(jax.random.key(0), params)
    key = jax.random.key(1)
    # Outside debug mode an out-of-range discrete action is clipped (documented behaviour).
    got = env.step(key, state, jnp.asarray(bad), params)
    want = env.step(key, state, jnp.asarray(clipped), params)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)
    with debug_actions():
        env.step(key, state, jnp.asarray(clipped), params)  # valid: no error
        with pytest.raises(ValueError, match=f"action {bad} is out of range"):
            env.step(key, state, jnp.asarray(bad), params)
    env.step(key, state, jnp.asarray(bad), params)  # the flag is part of the jit cache key
