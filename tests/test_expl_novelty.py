"""Deceptive maze (exact), novelty search and MAP-Elites (jaxrl.agents.quality_diversity)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.agents import quality_diversity as qd
from jaxrl.envs import make
from jaxrl.envs.deceptive_maze import (
    SHORTEST_PATH,
    deceptive_maze,
    distance_potential,
    greedy_distance_policy,
    make_deceptive_maze,
    optimal_return,
)
from jaxrl.envs.gridworld import approach_bonus_table
from jaxrl.mdp import expected_return, optimal_action_sets, value_iteration
from jaxrl.shaping.potential import shaped_reward_table

GAMMA = 0.99
#: down 2, left 6, up 8, right 6: the 22-move solution from (6, 6) to the goal (0, 6).
SOLUTION = [2, 2] + [3] * 6 + [0] * 8 + [1] * 6


@pytest.fixture(scope="module")
def grid():
    return deceptive_maze(gamma=GAMMA)


@pytest.fixture
def exact():
    """The maze in float64 (exact checks)."""
    with jax.enable_x64(True):
        yield deceptive_maze(gamma=GAMMA, dtype=jnp.float64)


def _evaluator(grid, horizon_env_steps=100):
    env, ep = make_deceptive_maze(gamma=GAMMA, obs_type="index", max_steps=horizon_env_steps)
    coords = jnp.asarray(grid.coords, jnp.float32)
    return qd.open_loop_evaluator(env, ep, lambda st: coords[st.state], GAMMA)


def _cfg(grid, **kw):
    H, W = len(grid.layout), len(grid.layout[0])
    base = dict(grid_low=(0.0, 0.0), grid_high=(float(H), float(W)), grid_shape=(H, W))
    return qd.QDConfig(**(base | kw))


# ----------------------------------------------------------------------------- the maze
def test_exact_optimum_is_the_22_move_detour(exact):
    assert SHORTEST_PATH == len(SOLUTION) == 22
    # reward 1 on the 22nd move: J* = γ^21 (value iteration, float64)
    np.testing.assert_allclose(optimal_return(exact), GAMMA**21, rtol=0, atol=1e-10)
    assert exact.distance[exact.start] == 6  # the greedy distance is much shorter than the path


def test_greedy_distance_policy_is_trapped(exact):
    pi = greedy_distance_policy(exact)
    assert float(expected_return(exact.mdp, jnp.asarray(pi))) == 0.0
    # exact deterministic rollout: up the cup to its closed side, then bumping into the wall
    P = np.asarray(exact.mdp.P)
    s = exact.start
    for _ in range(50):
        s = int(np.argmax(P[s, int(np.argmax(pi[s]))]))
    assert tuple(exact.coords[s]) == (3, 6) and exact.distance[s] == 3
    # a strict local minimum of d among the reachable neighbours
    assert all(exact.distance[int(np.argmax(P[s, a]))] >= 3 for a in range(4))


def test_pbrs_keeps_the_optimum_and_the_closer_bonus_does_not(exact):
    mdp = exact.mdp
    opt = optimal_action_sets(value_iteration(mdp).Q)
    phi = jnp.asarray(distance_potential(exact))
    R_pbrs = shaped_reward_table(mdp.R, phi, GAMMA, mdp.terminal_mask)
    sol_pbrs = value_iteration(mdp.replace(R=R_pbrs))
    np.testing.assert_array_equal(np.asarray(optimal_action_sets(sol_pbrs.Q)), np.asarray(opt))
    R_closer = jnp.asarray(approach_bonus_table(exact, 0.1))
    pi_closer = value_iteration(mdp.replace(R=R_closer)).pi
    # the bonus-optimal policy earns the bonus by oscillating and never reaches the goal
    assert float(expected_return(mdp, pi_closer)) < optimal_return(exact) - 0.5


def test_registered_and_evaluator_follows_the_solution(grid):
    env, _ = make("deceptive_maze")
    assert env.num_states == grid.n_states
    ev = _evaluator(grid)
    k = jax.random.key(0)
    fit, desc, steps = ev(jnp.asarray(SOLUTION + [0] * 10, jnp.int32), k)
    np.testing.assert_allclose(float(fit), GAMMA**21, rtol=1e-6)
    assert tuple(np.asarray(desc)) == (0.0, 6.0) and int(steps) == 22  # stops at termination
    fit, desc, steps = ev(jnp.zeros((32,), jnp.int32), k)  # always up: into the trap
    assert float(fit) == 0.0 and tuple(np.asarray(desc)) == (3.0, 6.0) and int(steps) == 32


# ----------------------------------------------------------------------------- novelty
def test_knn_novelty_hand_examples():
    ref = jnp.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    all_ = jnp.ones(3, bool)
    pts = jnp.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(qd.knn_novelty(pts, ref, all_, 1), [0.0, 0.0])  # in the archive
    np.testing.assert_allclose(qd.knn_novelty(pts, ref, all_, 2), [2.5, 2.5])
    np.testing.assert_allclose(qd.knn_novelty(pts, ref, all_, 3), [5.0, 10.0 / 3.0])
    # invalid entries never count; fewer valid than k: the mean over those; none: 0
    mask = jnp.array([False, True, True])
    np.testing.assert_allclose(qd.knn_novelty(pts[:1], ref, mask, 1), [5.0])
    np.testing.assert_allclose(qd.knn_novelty(pts[:1], ref, jnp.array([0, 0, 1], bool), 3), [10.0])
    np.testing.assert_allclose(qd.knn_novelty(pts[:1], ref, jnp.zeros(3, bool), 2), [0.0])
    # a per-point mask [P, M] (self-exclusion)
    per = ~jnp.eye(2, 3, dtype=bool)
    np.testing.assert_allclose(qd.knn_novelty(pts, ref, per, 1), [5.0, 5.0])
    with pytest.raises(ValueError, match="k must be >= 1"):
        qd.knn_novelty(pts, ref, all_, 0)


def test_archive_fills_then_wraps():
    a = qd.archive_init(5, 2)
    a = qd.archive_add(a, jnp.ones((3, 2)))
    assert int(a.count) == 3 and np.asarray(a.valid).tolist() == [1, 1, 1, 0, 0]
    a = qd.archive_add(a, 2 * jnp.ones((3, 2)))
    assert int(a.count) == 6 and bool(a.valid.all())
    # the 6th point overwrote slot 0 (ring buffer)
    np.testing.assert_array_equal(np.asarray(a.points[:, 0]), [2, 1, 1, 2, 2])


# ----------------------------------------------------------------------------- MAP-Elites
def test_elites_keep_the_best_per_cell():
    el = qd.elites_init(3, 2, 1)
    cells = jnp.array([0, 0, 1, 0, 1])
    genomes = jnp.arange(10, dtype=jnp.int32).reshape(5, 2)
    fit = jnp.array([1.0, 3.0, 2.0, 2.5, 2.0])  # last one ties cell 1: the incumbent stays
    el = qd.elites_insert(el, cells, genomes, fit, fit[:, None])
    np.testing.assert_array_equal(np.asarray(el.fitness), [3.0, 2.0, -np.inf])
    np.testing.assert_array_equal(np.asarray(el.genomes[:2]), [[2, 3], [4, 5]])
    assert np.asarray(el.filled).tolist() == [True, True, False]


def test_grid_cell_maps_maze_coords_to_cells(grid):
    cfg = _cfg(grid)
    desc = jnp.asarray(grid.coords, jnp.float32)
    cells = qd.grid_cell(
        desc, jnp.asarray(cfg.grid_low), jnp.asarray(cfg.grid_high), cfg.grid_shape
    )
    W = cfg.grid_shape[1]
    np.testing.assert_array_equal(np.asarray(cells), grid.coords[:, 0] * W + grid.coords[:, 1])


# ----------------------------------------------------------------------------- searches
@pytest.mark.heavy
def test_novelty_search_vmap_over_seeds(grid):
    ev = _evaluator(grid)
    cfg = _cfg(grid, population=16, generations=6, horizon=24, archive_size=16, n_add=4, k=3)
    keys = jax.random.split(jax.random.key(3), 2)
    ns = jax.jit(jax.vmap(lambda k: qd.novelty_search(k, ev, cfg)))(keys)
    assert ns.solved.shape == ns.coverage.shape == (2, 6)
    assert np.asarray(ns.archive.count).tolist() == [24, 24]  # 6 generations x 4, wrapped
    assert bool(ns.archive.valid.all())
    assert (np.diff(np.asarray(ns.coverage), axis=1) >= 0).all()
    assert int(ns.env_steps[0, -1]) <= 16 * 6 * 24
    one = jax.jit(lambda k: qd.novelty_search(k, ev, cfg))(keys[1])  # vmapped run == single run
    np.testing.assert_array_equal(np.asarray(one.archive.points), np.asarray(ns.archive.points[1]))
    assert not np.array_equal(np.asarray(ns.archive.points[0]), np.asarray(ns.archive.points[1]))


@pytest.mark.heavy
def test_map_elites_vmap_over_seeds(grid):
    ev = _evaluator(grid)
    cfg = _cfg(grid, population=16, generations=6, horizon=24)
    keys = jax.random.split(jax.random.key(3), 2)
    me = jax.jit(jax.vmap(lambda k: qd.map_elites(k, ev, cfg)))(keys)
    assert me.solved.shape == me.coverage.shape == (2, 6)
    el = jax.tree.map(lambda x: x[0], me.archive)
    filled = np.flatnonzero(np.asarray(el.filled))
    assert filled.size == int(me.coverage[0, -1]) > 1
    # each elite lands in its own cell and achieves its stored fitness when re-evaluated
    fit, desc, _ = jax.vmap(ev)(
        el.genomes[filled], jax.random.split(jax.random.key(9), filled.size)
    )
    lo, hi = jnp.asarray(cfg.grid_low), jnp.asarray(cfg.grid_high)
    np.testing.assert_array_equal(np.asarray(qd.grid_cell(desc, lo, hi, cfg.grid_shape)), filled)
    np.testing.assert_allclose(np.asarray(fit), np.asarray(el.fitness)[filled], rtol=1e-6)


@pytest.mark.slow
def test_novelty_experiment_smoke(tmp_path):
    from experiments.exploration_rewards import novelty as m

    s = m.Settings(population=16, generations=8, horizon=32, archive_size=64, ppo_steps=4096)
    summary = m.run(s, seeds=2, seed=0)
    cl = m.claims(summary)
    assert [c.id.split(".")[-1] for c in cl] == ["novelty", "map_elites", "vs_pbrs", "vs_sparse"]
    assert abs(summary["optimal_return"] - 0.99**21) < 1e-5
    assert summary["greedy_policy_return"] == 0.0
    path = m.figure(summary, cl, tmp_path)
    assert path.exists() and path.name == "exploration_rewards_novelty.png"
    with pytest.raises(ValueError, match="tournament"):
        m.Settings(tournament=1).check()
