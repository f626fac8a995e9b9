"""BARFI environments: aux channel, good/bad aux values on hand-built states, sub-steps, goal."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import barfi_envs as be
from jaxrl.envs import make


@pytest.mark.parametrize("name", ["barfi_gridworld", "cartpole_aux", "mountaincar_sparse_aux"])
@pytest.mark.parametrize("aux", ["good", "bad"])
def test_channels_present_and_primary_is_reward(name, aux):
    env, p = make(name, aux=aux)
    obs, s = env.reset(jax.random.key(0), p)
    out = env.step(jax.random.key(1), s, jnp.int32(0), p)
    _, _, r, term, trunc, info = out
    assert {"aux_reward", "true_reward", "final_observation"} <= set(info)
    assert info["aux_reward"].shape == () and info["aux_reward"].dtype == jnp.float32
    assert float(info["true_reward"]) == float(r)


def test_bad_aux_kind_rejected():
    with pytest.raises(ValueError, match="aux"):
        make("barfi_gridworld", aux="ugly")


def _grid(aux, quirk=False):
    env, p = be.make_barfi_gridworld(aux, dist_quirk=quirk)
    return env, p.replace(random_action_prob=0.0)


def test_gridworld_sub_steps_and_good_aux():
    env, p = _grid("good")
    pos0 = jnp.asarray([0.2, 0.3], jnp.float32)
    pos, done, aux = env.move(pos0, jnp.int32(3), p)  # right: 4 sub-steps of 0.045
    np.testing.assert_allclose(pos, [0.38, 0.3], atol=1e-6)
    assert not bool(done)
    xs = 0.2 + 0.045 * np.arange(1, 5)
    want = -np.sum(np.hypot(xs - 0.87, 0.3 - 0.87))
    np.testing.assert_allclose(aux, want, rtol=1e-5)
    # the original's quirk ignores y
    env_q, p_q = _grid("good", quirk=True)
    _, _, aux_q = env_q.move(pos0, jnp.int32(3), p_q)
    np.testing.assert_allclose(aux_q, -np.sum(np.abs(xs - 0.87)), rtol=1e-5)


def test_gridworld_bad_aux_inside_box_only():
    env, p = _grid("bad")
    _, _, aux = env.move(jnp.asarray([0.42, 0.5]), jnp.int32(3), p)  # all 4 sub-steps in box
    np.testing.assert_allclose(aux, 4 * 50.0)
    _, _, aux = env.move(jnp.asarray([0.5, 0.5]), jnp.int32(3), p)  # 0.545, 0.59 in; 0.635 out
    np.testing.assert_allclose(aux, 2 * 50.0)
    _, _, aux = env.move(jnp.asarray([0.1, 0.1]), jnp.int32(3), p)
    np.testing.assert_allclose(aux, 0.0)


def test_gridworld_goal_region_terminates_and_stops_motion():
    env, p = _grid("good")
    s = be.GridState(jnp.asarray([0.74, 0.8], jnp.float32), jnp.zeros((), jnp.int32))
    obs, s2, r, term, trunc, info = env.step(jax.random.key(0), s, jnp.int32(3), p)
    assert bool(term) and not bool(trunc)
    assert float(r) == 100.0 and float(info["true_reward"]) == 100.0
    np.testing.assert_allclose(info["final_observation"], [0.785, 0.8], atol=1e-6)
    assert float(info["aux_reward"]) == 0.0  # aux is 0 at the terminal sub-step
    np.testing.assert_allclose(obs, be.START)  # auto-reset
    # an ordinary step costs 0.1; the time limit truncates at 50
    s = be.GridState(jnp.asarray([0.1, 0.1], jnp.float32), jnp.asarray(49, jnp.int32))
    _, _, r, term, trunc, _ = env.step(jax.random.key(0), s, jnp.int32(0), p)
    assert float(r) == pytest.approx(-0.1) and bool(trunc) and not bool(term)


def test_gridworld_action_noise_rate():
    env, p = be.make_barfi_gridworld("good")
    s = env.reset(jax.random.key(0), p)[1]
    keys = jax.random.split(jax.random.key(1), 4000)
    info = jax.vmap(lambda k: env.step(k, s, jnp.int32(0), p)[5])(keys)
    frac = float(jnp.mean(info["action"] != 0))
    assert 0.05 < frac < 0.1  # 10% random, a quarter of which is action 0 again: 7.5%


def test_cartpole_pd_aux_values():
    obs = jnp.asarray([0.0, 0.0, 0.05, 0.1])  # pole falling right: PD pushes right (1)
    assert int(be.pd_action(obs)) == 1
    assert float(be.cartpole_aux(obs, 1, "good")) == 5.0
    assert float(be.cartpole_aux(obs, 0, "good")) == -1.0
    assert float(be.cartpole_aux(obs, 1, "bad")) == -5.0
    assert float(be.cartpole_aux(obs, 0, "bad")) == 1.0
    env, p = make("cartpole_aux", aux="good")
    o, s = env.reset(jax.random.key(3), p)
    a = be.pd_action(o)
    info = env.step(jax.random.key(4), s, a, p)[5]
    assert float(info["aux_reward"]) == 5.0  # computed on the pre-step observation


def test_mountaincar_sparse_primary_and_bang_aux():
    obs = jnp.asarray([-0.5, 0.01])
    assert float(be.mountaincar_aux(obs, 2, "good")) == 1.0
    assert float(be.mountaincar_aux(obs, 0, "good")) == -1.0
    assert float(be.mountaincar_aux(obs, 2, "bad")) == -1.0
    env, p = make("mountaincar_sparse_aux", aux="good")
    assert int(p.max_steps_in_episode) == 2000
    o, s = env.reset(jax.random.key(0), p)
    _, _, r, term, *_ = env.step(jax.random.key(1), s, jnp.int32(2), p)
    assert float(r) == 0.0 and not bool(term)
    inner = s.env_state.replace(position=jnp.asarray(0.49), velocity=jnp.asarray(0.05))
    s_goal = s.replace(env_state=inner, obs=jnp.asarray([0.49, 0.05]))
    _, _, r, term, _, info = env.step(jax.random.key(1), s_goal, jnp.int32(2), p)
    assert bool(term) and float(r) == 1.0 and float(info["true_reward"]) == 1.0
    assert float(info["aux_reward"]) == 1.0


def test_halfcheetah_control_cost_aux():
    a = jnp.asarray([0.5, -2.0, 0.0])  # clipped to [-1, 1]
    assert float(be.control_cost_aux(a, 1.0)) == pytest.approx(-1.25)
    assert float(be.control_cost_aux(a, be.HALFCHEETAH_AUX_WEIGHT["bad"])) == pytest.approx(-5.0)
