"""The key-door-goal gridworld with a noisy TV (jaxrl.envs.key_door) against its exact MDP."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import make
from jaxrl.envs.key_door import (
    KEY_DOOR,
    KEY_DOOR_SMALL,
    KeyDoorConfig,
    KeyDoorEnv,
    key_door_mdp,
    tabular_state,
)
from jaxrl.mdp import value_iteration

UP, RIGHT, DOWN, LEFT = range(4)


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _run(env, actions, key=0):
    params = env.default_params
    obs, state = env.reset(jax.random.key(key), params)
    out = []
    for i, a in enumerate(actions):
        obs, state, r, term, trunc, info = env.step(jax.random.key(100 + i), state, a, params)
        out.append((obs, state, float(r), bool(term), bool(trunc), info))
    return out


def test_shortest_solution_pays_once_and_terminates():
    env = KeyDoorEnv(KeyDoorConfig(layout=KEY_DOOR_SMALL))
    # S(0,0) -> K(2,0): down, down; -> D(1,3): up, right x3; -> G(2,5): right, right, down.
    steps = _run(env, [DOWN, DOWN, UP, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, DOWN])
    rewards = [s[2] for s in steps]
    assert rewards == [0.0] * 8 + [1.0]
    assert [s[3] for s in steps] == [False] * 8 + [True]
    assert (
        float(steps[1][5]["key_reward"]) == 1.0
        and sum(float(s[5]["key_reward"]) for s in steps) == 1
    )
    assert float(steps[5][5]["door_reward"]) == 1.0


def test_door_is_a_wall_without_the_key():
    env = KeyDoorEnv(KeyDoorConfig(layout=KEY_DOOR_SMALL))
    # S -> (1,0) -> (1,1) -> (1,2) -> door (1,3) refused without the key
    steps = _run(env, [DOWN, RIGHT, RIGHT, RIGHT])
    assert int(steps[-1][1].cell) == int(steps[-2][1].cell)
    assert float(steps[-1][5]["door_reward"]) == 0.0


def test_tv_noise_only_on_the_tv_and_fresh_each_step():
    env = KeyDoorEnv(KeyDoorConfig(layout=KEY_DOOR_SMALL, tv_dim=5))
    C = env.grid.num_cells
    steps = _run(env, [RIGHT, UP, UP, DOWN])  # onto the TV (0,1), stay twice, leave
    tv = [np.asarray(s[0][C + 1 :]) for s in steps]
    assert all(float(s[5]["tv_reward"]) == 1.0 for s in steps[:3])
    assert np.all(tv[3] == 0) and float(steps[3][5]["tv_reward"]) == 0.0
    assert np.all(tv[0] > 0) and not np.allclose(tv[0], tv[1]) and not np.allclose(tv[1], tv[2])


@pytest.mark.parametrize("layout,moves", [(KEY_DOOR, 32), (KEY_DOOR_SMALL, 9)])
def test_exact_optimum_is_the_shortest_solution(layout, moves):
    gamma = 0.9
    mdp = key_door_mdp(KeyDoorConfig(layout=layout), gamma)
    sol = value_iteration(mdp)
    C = KeyDoorEnv(KeyDoorConfig(layout=layout)).grid.num_cells
    start = int(np.argmax(np.asarray(mdp.init_dist)))
    np.testing.assert_allclose(float(sol.V[start]), gamma ** (moves - 1), rtol=1e-12)
    # holding the key at the start cell is worth more (no detour to the key)
    assert float(sol.V[start + C]) > float(sol.V[start])


def test_env_matches_the_exact_mdp_on_every_state_action():
    cfg = KeyDoorConfig(layout=KEY_DOOR_SMALL)
    env, mdp = KeyDoorEnv(cfg), key_door_mdp(cfg, 0.9)
    C, params = env.grid.num_cells, env.default_params
    P, R = np.asarray(mdp.P), np.asarray(mdp.R)
    term = np.asarray(mdp.terminal_mask)
    for s in range(2 * C):
        if term[s]:
            continue
        for a in range(4):
            state = env.reset(jax.random.key(0), params)[1].replace(
                cell=jnp.int32(s % C), has_key=jnp.asarray(s >= C)
            )
            obs, _, r, done, _, info = env.step(jax.random.key(1), state, a, params)
            s2 = int(tabular_state(info["final_observation"], C))
            assert P[s, a, s2] == 1.0, (s, a, s2)
            assert float(r) == R[s, a, s2] and bool(done) == bool(term[s2])


def test_make_and_bad_config_name_the_field():
    env, params = make("key_door", layout=KEY_DOOR_SMALL, tv_dim=3, max_steps=20)
    assert env.observation_space(params).shape == (env.grid.num_cells + 1 + 3,)
    assert params.max_steps_in_episode == 20
    with pytest.raises(ValueError, match="tv_dim"):
        KeyDoorConfig(tv_dim=-1)
    with pytest.raises(ValueError, match="layout.*'K'"):
        KeyDoorConfig(layout=("S.D.VG",))
    with pytest.raises(ValueError, match="unknown keyword"):
        make("key_door", tvdim=3)
