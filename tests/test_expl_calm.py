"""CALM-style subgoal rewards (jaxrl.rewards.subgoals): annotator, both reward forms, exact layer.

The teeth: on key_door_mdp (KEY_DOOR_SMALL, float64), the PBRS form keeps the optimal action
sets for *any* annotator (right, wrong, random), while the plain bonus with a wrong annotator
(or the memoryless bonus with a re-enterable subgoal) lowers the true return of its optimum.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs.key_door import (
    KEY_DOOR_SMALL,
    KeyDoorConfig,
    KeyDoorEnv,
    key_door_grid,
    key_door_mdp,
    tabular_state,
)
from jaxrl.mdp import expected_return, optimal_action_sets, value_iteration
from jaxrl.rewards.subgoals import (
    annotate,
    once_bonus_mdp,
    progress_table,
    shaped_table,
    subgoal_params,
    subgoal_reward,
)
from jaxrl.shaping.transform import Transition

UP, RIGHT, DOWN, LEFT = range(4)
GAMMA = 0.99


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _small():
    """(mdp, C, true_sets [3, 2C], distractors [2, 2C]) of KEY_DOOR_SMALL (C = 16 cells).

    Cells: row 0 ``S V . # . .`` = 0..4, row 1 ``. . . D . .`` = 5..10, row 2 ``K . . # . G`` =
    11..15; true: has key; door or right room with key; goal. Distractors: TV (1), dead end (2).
    """
    mdp = key_door_mdp(KeyDoorConfig(layout=KEY_DOOR_SMALL), GAMMA)
    grid = key_door_grid(KEY_DOOR_SMALL)
    C = grid.num_cells
    col = grid.coords[:, 1]
    true = np.zeros((3, 2 * C))
    true[0, C:] = 1
    true[1, C + np.flatnonzero(col >= 3)] = 1
    true[2, [15, 15 + C]] = 1
    dist = np.zeros((2, 2 * C))
    dist[0, [1, 1 + C]] = 1
    dist[1, [2, 2 + C]] = 1
    return mdp, C, true, dist


def _solve(mdp, R=None):
    sol = value_iteration(mdp if R is None else mdp.replace(R=R))
    return sol, float(expected_return(mdp, sol.pi))


def test_annotator_error_model():
    _, _, true, dist = _small()
    assert np.array_equal(annotate(jax.random.key(0), true, dist, 0.0), true)
    keys = jax.random.split(jax.random.key(1), 400)
    ann = jax.jit(jax.vmap(lambda k: annotate(k, true, dist, 0.5)))
    wrong = np.asarray(ann(keys))  # [400, 3, S]
    replaced = np.any(wrong != true, -1)  # no distractor equals a true set
    assert 0.42 < replaced.mean() < 0.58
    # every replaced subgoal is one of the distractors, and both are drawn
    rows = wrong[replaced]
    is_d = [(rows == d).all(-1) for d in dist]
    assert np.all(is_d[0] | is_d[1]) and is_d[0].any() and is_d[1].any()
    all_wrong = np.asarray(annotate(jax.random.key(2), true, dist, 1.0))
    assert np.all(np.any(all_wrong != true, -1))
    with pytest.raises(ValueError, match="error_rate=1.5"):
        annotate(jax.random.key(0), true, dist, 1.5)
    with pytest.raises(ValueError, match="distractors"):
        annotate(jax.random.key(0), true, dist[:, :5], 0.1)


def test_progress_is_furthest_subgoal_of_the_state():
    _, C, true, _ = _small()
    p = np.asarray(progress_table(true))
    assert p[0] == 0 and p[11] == 0  # start; the key cell before the key is held
    assert p[11 + C] == 1 and p[8 + C] == 2 and p[15] == 3 and p[15 + C] == 3


@pytest.mark.heavy
def test_rollout_form_pays_along_the_shortest_solution():
    """The env's shortest solution: bonus +c at key and door (memoryless = once here), PBRS
    telescopes to γ-weighted potential differences; same numbers from obs and from indices."""
    env = KeyDoorEnv(KeyDoorConfig(layout=KEY_DOOR_SMALL))
    _, C, true, _ = _small()
    params = env.default_params
    obs, state = env.reset(jax.random.key(0), params)
    tf_obs = subgoal_reward(lambda o: tabular_state(o, C), GAMMA)
    tf_once = subgoal_reward(lambda o: tabular_state(o, C), GAMMA, once=True, num_envs=1)
    c = 0.3
    pb, pp = subgoal_params(true, c, 0.0), subgoal_params(true, 0.0, c)
    mem = tf_once.init(pb)
    bonus, once, F = [], [], []
    for i, a in enumerate([DOWN, DOWN, UP, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, DOWN]):
        nobs, state, r, term, trunc, info = env.step(jax.random.key(9 + i), state, a, params)
        final = info["final_observation"]  # the arrival state (nobs is the reset obs at the end)
        tr = Transition(obs[None], a, r[None], final[None], term[None], trunc[None],
                        (GAMMA * (1.0 - term))[None], {}, i)  # fmt: skip
        bonus.append(float(tf_obs.apply(pb, (), tr)[0][0] - r))
        rb, mem = tf_once.apply(pb, mem, tr)
        once.append(float(rb[0] - r))
        F.append(float(tf_obs.apply(pp, (), tr)[0][0] - r))
        obs = nobs
    # key picked on step 2 (index 1), door entered on step 6 (index 5); the goal completes
    # subgoal 3 on the last step
    expect = [0, c, 0, 0, 0, c, 0, 0, c]
    np.testing.assert_allclose(bonus, expect, atol=1e-6)
    np.testing.assert_allclose(once, expect, atol=1e-6)
    assert float(mem[0]) == 0.0  # the episode ended: memory reset
    # PBRS: key +γc, door +(2γ − 1)c, goal (terminal, Φ = 0) −2c
    np.testing.assert_allclose(F[1], GAMMA * c, atol=1e-6)
    np.testing.assert_allclose(F[5], (2 * GAMMA - 1) * c, atol=1e-6)
    np.testing.assert_allclose(F[8], -2 * c, atol=1e-6)


def test_once_bonus_pays_each_subgoal_once_per_episode():
    """Re-entering the door (progress 2 -> 1 -> 2) pays again memoryless, not with ``once``."""
    _, C, true, _ = _small()
    tf = subgoal_reward(None, GAMMA)
    tf_once = subgoal_reward(None, GAMMA, once=True, num_envs=1)
    prm = subgoal_params(true, 1.0, 0.0)
    door, left = 8 + C, 7 + C
    path = [(left, door), (door, left), (left, door)]
    mem = tf_once.init(prm)
    got, got_once = [], []
    for s, s2 in path:
        tr = Transition(jnp.array([s]), 0, jnp.zeros(1), jnp.array([s2]), jnp.array([False]),
                        jnp.array([False]), jnp.array([GAMMA]), {}, 0)  # fmt: skip
        got.append(float(tf.apply(prm, (), tr)[0][0]))
        r, mem = tf_once.apply(prm, mem, tr)
        got_once.append(float(r[0]))
    assert got == [1.0, 0.0, 1.0]
    assert got_once == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="num_envs"):
        subgoal_reward(None, once=True)


def test_table_form_equals_pbrs_table_and_zeroes_terminal_rows():
    mdp, _, true, _ = _small()
    from jaxrl.shaping.potential import shaped_reward_table

    c = 0.7
    R_p = shaped_table(mdp.R, GAMMA, mdp.terminal_mask, subgoal_params(true, 0.0, c))
    ref = shaped_reward_table(mdp.R, c * progress_table(true), GAMMA, mdp.terminal_mask)
    np.testing.assert_allclose(R_p, ref, atol=1e-12)
    R_b = shaped_table(mdp.R, GAMMA, mdp.terminal_mask, subgoal_params(true, c, 0.0))
    assert np.all(np.asarray(R_b)[np.asarray(mdp.terminal_mask)] == 0.0)
    with pytest.raises(ValueError, match="sets have 5 states"):
        shaped_table(mdp.R, GAMMA, mdp.terminal_mask, subgoal_params(true[:, :5], c, 0.0))


@pytest.mark.parametrize("c", [0.1, 1.0])
def test_pbrs_keeps_optimum_for_any_annotator_bonus_does_not(c):
    """Exact float64: PBRS optimal action sets == original for accurate, wrong and random
    annotators; the wrong annotator's bonus (once and memoryless) lowers the true return."""
    mdp, C, true, dist = _small()
    sol0, J = _solve(mdp)
    A0 = np.asarray(optimal_action_sets(sol0.Q))
    rng = np.random.default_rng(0)
    wrong = np.asarray(annotate(jax.random.key(3), true, dist, 1.0))
    anns = [true, wrong] + [(rng.random((3, 2 * C)) < 0.3).astype(float) for _ in range(4)]
    for sets in anns:
        R = shaped_table(mdp.R, GAMMA, mdp.terminal_mask, subgoal_params(sets, 0.0, c))
        sol, Jp = _solve(mdp, R)
        assert np.array_equal(np.asarray(optimal_action_sets(sol.Q)), A0)
        assert abs(Jp - J) < 1e-9
    # the same property fails for the plain bonus with the wrong annotator
    R = shaped_table(mdp.R, GAMMA, mdp.terminal_mask, subgoal_params(wrong, c, 0.0))
    sol, Jb = _solve(mdp, R)
    assert not np.array_equal(np.asarray(optimal_action_sets(sol.Q)), A0)
    assert Jb < J - 0.01
    sol = value_iteration(once_bonus_mdp(mdp, wrong, c))
    J_once = float(expected_return(once_bonus_mdp(mdp, wrong, 0.0), sol.pi))
    assert J_once < J - 0.01
    # ... while the once bonus with the accurate annotator keeps the optimal return
    sol = value_iteration(once_bonus_mdp(mdp, true, c))
    assert abs(float(expected_return(once_bonus_mdp(mdp, true, 0.0), sol.pi)) - J) < 1e-9


def test_once_bonus_mdp_without_bonus_is_the_task():
    mdp, _, true, _ = _small()
    _, J = _solve(mdp)
    aug = once_bonus_mdp(mdp, true, 0.0)
    assert aug.n_states == 4 * mdp.n_states
    np.testing.assert_allclose(float(value_iteration(aug).V @ aug.init_dist), J, atol=1e-10)


@pytest.mark.slow
def test_calm_experiment_smoke(tmp_path):
    from experiments.exploration_rewards import calm

    s = calm.run(calm.Settings(ppo_steps=4096), seeds=2, seed=0)
    cl = calm.claims(s)
    assert [c.id for c in cl] == [
        "exploration_rewards.calm.speed",
        "exploration_rewards.calm.optimum",
    ]
    assert all(np.all(np.asarray(s["exact"][a]["pbrs"]) > 1 - 1e-9) for a in s["exact"])
    assert calm.figure(s, cl, tmp_path).exists()
    with pytest.raises(ValueError, match="coef"):
        calm.Settings(coef=0.0).check()
