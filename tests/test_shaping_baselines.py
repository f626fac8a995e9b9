"""Shaping pitfalls (progress bonus, naive PBRS) and routing transforms (select, add_channel)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs.gridworld import approach_bonus_table, gridworld
from jaxrl.shaping import (
    add_channel,
    apply_to_table,
    chain,
    from_channel,
    identity,
    naive_potential,
    potential_based,
    potential_from_table,
    prm_clip,
    progress_bonus,
    scale,
    select,
)
from jaxrl.shaping.transform import Transition


def _tr(obs, next_obs, reward, terminated=None, channels=None, gamma=0.9) -> Transition:
    reward = jnp.asarray(reward, jnp.float32)
    terminated = (
        jnp.zeros(reward.shape, bool) if terminated is None else jnp.asarray(terminated, bool)
    )
    return Transition(
        obs=jnp.asarray(obs),
        action=jnp.zeros(reward.shape, jnp.int32),
        reward=reward,
        next_obs=jnp.asarray(next_obs),
        terminated=terminated,
        truncated=jnp.zeros_like(terminated),
        discount=gamma * (1.0 - terminated),
        channels={} if channels is None else channels,
        time=jnp.zeros(reward.shape, jnp.int32),
    )


def _apply(t, tr, params=None):
    params = t.default_params if params is None else params
    out, _ = t.apply(params, t.init(params), tr)
    return np.asarray(out)


# ----------------------------------------------------------------------------- progress bonus
def test_progress_bonus_pays_progress_only_and_sweeps_c():
    t = progress_bonus(lambda o: o, coefficient=0.2)  # progress = the observation itself
    tr = _tr(obs=[0.0, 1.0, 2.0], next_obs=[1.0, 1.0, 1.0], reward=[0.5, 0.0, 1.0])
    np.testing.assert_allclose(_apply(t, tr), [0.7, 0.0, 1.0])  # step back: no penalty
    out = jax.vmap(lambda c: t.apply(c, (), tr)[0])(jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(out, [[0.5, 0.0, 1.0], [1.5, 0.0, 1.0]])
    assert t.gamma is None  # not potential-based: no γ to check


def test_progress_bonus_on_gridworld_table_matches_the_exact_bicycle_table():
    grid = gridworld(gamma=0.95)
    dist = potential_from_table(jnp.asarray(grid.distance, jnp.float32))
    t = progress_bonus(lambda o: -dist(o), 0.2)
    R = apply_to_table(t, grid.mdp.R, grid.mdp.gamma, grid.mdp.terminal_mask)
    expected = approach_bonus_table(grid, 0.2)
    np.testing.assert_allclose(R, expected, atol=1e-6)
    np.testing.assert_allclose(np.max(expected - np.asarray(grid.mdp.R)), 0.2, rtol=1e-6)


# ----------------------------------------------------------------------------- naive PBRS
def test_naive_potential_ignores_termination_unlike_pbrs():
    phi = lambda o: o
    tr = _tr(obs=[1.0, 1.0], next_obs=[2.0, 2.0], reward=[0.0, 0.0], terminated=[False, True])
    naive = naive_potential(phi, gamma=0.9)
    np.testing.assert_allclose(_apply(naive, tr), [0.8, 0.8])  # 0.9·2 − 1 on both steps
    np.testing.assert_allclose(_apply(potential_based(phi, gamma=0.9), tr), [0.8, -1.0])
    assert naive.gamma == 0.9
    np.testing.assert_allclose(_apply(naive, tr, jnp.asarray(2.0)), [1.6, 1.6])


def test_naive_potential_return_telescopes_to_a_terminal_bonus():
    gamma, phi_values = 0.9, jnp.array([0.0, 1.0, 3.0, 4.0])  # Φ(goal = s_3) = 4 ≠ 0
    phi = potential_from_table(phi_values)
    states = jnp.array([0, 1, 2, 3])
    tr = _tr(obs=states[:-1], next_obs=states[1:], reward=jnp.zeros(3), gamma=gamma)
    tr = tr._replace(terminated=jnp.array([False, False, True]))
    F = _apply(naive_potential(phi, gamma), tr)
    discounted = float(np.sum(gamma ** np.arange(3) * F))
    # Σ γ^t F_t = γ^N Φ(s_N) − Φ(s_0) = 0.729·4 − 0
    np.testing.assert_allclose(discounted, gamma**3 * 4.0, rtol=1e-6)


# ----------------------------------------------------------------------------- select / channel
def test_select_picks_branch_and_vmaps_over_the_index():
    t = select(identity(), scale(3.0))
    index, branches = t.default_params
    assert index.dtype == jnp.int32 and int(index) == 0
    tr = _tr(obs=[0.0, 0.0], next_obs=[0.0, 0.0], reward=[1.0, 2.0])
    params = (jnp.array([0, 1]), ((), jnp.array([3.0, 3.0])))
    out = jax.vmap(lambda p: t.apply(p, t.init(p), tr)[0])(params)
    np.testing.assert_allclose(out, [[1, 2], [3, 6]])
    assert t.init(t.default_params) == ((), ())


def test_add_channel_restores_the_unshaped_part():
    tr = _tr(
        obs=[0.0, 0.0],
        next_obs=[0.0, 0.0],
        reward=[9.0, 9.0],
        channels={"prm": jnp.array([0.5, 2.0]), "outcome": jnp.array([1.0, 0.0])},
    )
    np.testing.assert_allclose(_apply(add_channel("outcome"), tr), [10.0, 9.0])
    # min(prm − 1, 0) + outcome
    t = chain(from_channel("prm"), prm_clip(1.0), add_channel("outcome"))
    np.testing.assert_allclose(_apply(t, tr), [0.5, 0.0])
    with pytest.raises(KeyError, match=r"'bogus' not in the transition; available: \['outcome'"):
        _apply(add_channel("bogus"), tr)
