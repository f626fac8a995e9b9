"""Gridworld MDPs: validity, terminal goal, hand-checked optimal values, and what shaping does
to the optimum (PBRS keeps the optimal action sets; the progress bonus makes the optimum loop;
naive PBRS that keeps Φ(terminal) flips the lava-detour task)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_helpers import experiment

from jaxrl.envs import make
from jaxrl.envs.gridworld import (
    LAVA_DETOUR,
    OPEN_6X6,
    approach_bonus_table,
    gridworld,
    make_gridworld,
)
from jaxrl.mdp import (
    expected_return,
    greedy_policy,
    optimal_action_sets,
    policy_evaluation,
    validate_mdp,
    value_iteration,
)
from jaxrl.shaping import apply_to_table


@pytest.fixture(scope="module")
def pbrs_exp():
    return experiment("pbrs")


def grid64(layout=OPEN_6X6, **kw):
    return gridworld(layout, dtype=jnp.float64, **kw)


def shaped_mdp(grid, R):
    return grid.mdp.replace(R=jnp.asarray(R, jnp.float64))


def test_layout_geometry_and_validity():
    with jax.enable_x64(True):
        g = grid64()
        validate_mdp(g.mdp)
        assert g.n_states == 36 and g.mdp.n_actions == 4
        assert g.start == g.index(0, 0) and g.goals == (g.index(5, 5),)
        assert g.distance[g.start] == 10 and g.max_distance == 10
        term = np.asarray(g.mdp.terminal_mask)
        assert term.sum() == 1 and term[g.goals[0]]
        np.testing.assert_allclose(g.mdp.init_dist[g.start], 1.0)
        # deterministic moves: right from the start goes to (0, 1); up bumps into the border
        P = np.asarray(g.mdp.P)
        assert P[g.start, 1, g.index(0, 1)] == 1.0 and P[g.start, 0, g.start] == 1.0
        # the only reward is on entering the goal; the goal is absorbing and rewardless
        R = np.asarray(g.mdp.R)
        assert R[g.index(4, 5), 2, g.goals[0]] == 1.0
        assert np.count_nonzero(R * P) == 2  # from (4, 5) down and from (5, 4) right
        assert np.all(P[g.goals[0], :, g.goals[0]] == 1.0) and np.all(R[g.goals[0]] == 0)


def test_walls_slip_and_errors():
    with jax.enable_x64(True):
        g = grid64(("S#G",), slip=0.2)
        validate_mdp(g.mdp)
        assert g.n_states == 2  # the wall is not a state
        s = g.start
        P = np.asarray(g.mdp.P)
        # moving right into the wall stays (1 − slip + slip·[3 of 4 random moves stay]) = 1
        np.testing.assert_allclose(P[s, 1, s], 1.0)
        g = grid64(("S.G",), slip=0.2)
        P = np.asarray(g.mdp.P)
        np.testing.assert_allclose(P[g.start, 1, g.index(0, 1)], 0.8 + 0.05)
        np.testing.assert_allclose(P[g.start, 1, g.start], 0.15)
    with pytest.raises(ValueError, match="unknown"):
        gridworld(("S.X",))
    with pytest.raises(ValueError, match="start"):
        gridworld(("...", "..G"))
    with pytest.raises(ValueError, match="slip"):
        gridworld(OPEN_6X6, slip=1.5)
    with pytest.raises(ValueError, match="not a state"):
        gridworld(("S#G",)).index(0, 1)


@pytest.mark.parametrize("gamma", [0.9, 0.95, 0.99])
def test_optimal_value_is_gamma_to_the_distance_minus_one(gamma):
    with jax.enable_x64(True):
        g = grid64(gamma=gamma)
        V, Q, _ = value_iteration(g.mdp)
        live = ~np.asarray(g.mdp.terminal_mask)
        # every non-goal cell at distance d: the +1 arrives on the d-th step
        np.testing.assert_allclose(np.asarray(V)[live], gamma ** (g.distance[live] - 1), rtol=1e-9)
        assert float(V[g.goals[0]]) == 0.0
        np.testing.assert_allclose(expected_return(g.mdp, greedy_policy(Q)), gamma**9, rtol=1e-9)


def test_lava_detour_optimum_and_values():
    with jax.enable_x64(True):
        g = grid64(LAVA_DETOUR, gamma=0.95)
        validate_mdp(g.mdp)
        assert len(g.cells("L")) == 8
        V, Q, _ = value_iteration(g.mdp)
        np.testing.assert_allclose(V[g.start], 0.95**8, rtol=1e-9)  # 9-step detour, no lava
        assert int(jnp.argmax(Q[g.start])) == 2  # down, not right into the lava
        # the direct route: γ^4 − 0.1·(1 + γ + γ² + γ³)
        direct = 0.95**4 - 0.1 * sum(0.95**t for t in range(4))
        assert direct < 0.95**8
        np.testing.assert_allclose(direct, 0.4435187, atol=1e-6)


def test_registered_env_matches_mdp():
    env, params = make_gridworld(max_steps=7)
    g = gridworld()
    np.testing.assert_array_equal(np.asarray(params.mdp.P), np.asarray(g.mdp.P))
    assert params.max_steps_in_episode == 7
    env2, params2 = make("gridworld", layout=LAVA_DETOUR, max_steps=50, obs_type="index")
    assert params2.mdp.n_states == 18 and params2.max_steps_in_episode == 50
    obs, state = env2.reset(jax.random.key(0), params2)
    assert int(obs) == 0
    obs, state, r, term, trunc, info = env2.step(jax.random.key(1), state, 1, params2)
    assert int(obs) == 1 and float(info["true_reward"]) == pytest.approx(-0.1)


def test_bicycle_bonus_makes_the_optimum_loop():
    with jax.enable_x64(True):
        g = grid64(gamma=0.95)
        # c = 0.2 > threshold ≈ 0.114: toward/back forever beats finishing
        Qb = value_iteration(shaped_mdp(g, approach_bonus_table(g, 0.2))).Q
        pi = greedy_policy(Qb)
        assert float(expected_return(g.mdp, pi)) == 0.0  # never reaches the goal
        # the greedy path from the start revisits a state: a loop
        P = np.asarray(g.mdp.P)
        s, seen = g.start, []
        for _ in range(40):
            seen.append(s)
            s = int(np.argmax(P[s, int(np.argmax(pi[s]))]))
        assert g.goals[0] not in seen and len(set(seen)) < len(seen)
        # a small bonus (c = 0.05) still finishes: the effect needs c above the threshold
        Qs = value_iteration(shaped_mdp(g, approach_bonus_table(g, 0.05))).Q
        np.testing.assert_allclose(expected_return(g.mdp, greedy_policy(Qs)), 0.95**9, rtol=1e-9)


def test_transform_tables_pbrs_keeps_optimal_sets_bonus_loops(pbrs_exp):
    with jax.enable_x64(True):
        g = grid64(gamma=0.95)
        Q = value_iteration(g.mdp).Q
        best = np.asarray(optimal_action_sets(Q, 1e-9))
        transform = pbrs_exp.grid_transform(g, 0.95, 1.0, 0.2)
        params = pbrs_exp.variant_params(pbrs_exp.WEIGHTS, pbrs_exp.VARIANTS, 1, transform)
        for i, name in enumerate(pbrs_exp.VARIANTS):
            p = jax.tree.map(lambda x, i=i: jnp.asarray(x, jnp.float64)[i], params)
            R = apply_to_table(transform, g.mdp.R, g.mdp.gamma, g.mdp.terminal_mask, params=p)
            Qs = value_iteration(shaped_mdp(g, R)).Q
            live = ~np.asarray(g.mdp.terminal_mask)
            if name == "bonus":
                np.testing.assert_allclose(R, approach_bonus_table(g, 0.2), atol=1e-6)
                assert float(expected_return(g.mdp, greedy_policy(Qs))) == 0.0
            else:
                sets = np.asarray(optimal_action_sets(Qs, 1e-6))
                np.testing.assert_array_equal(sets[live], best[live], err_msg=name)
                # Ng et al.: Q'* = Q* − Φ (Φ of this variant; zero for "none")
                phi = np.asarray(Q - Qs)[live]
                np.testing.assert_allclose(phi, phi[:, :1] * np.ones_like(phi), atol=1e-5)


def test_naive_terminal_potential_flips_the_lava_detour(pbrs_exp):
    with jax.enable_x64(True):
        g = grid64(LAVA_DETOUR, gamma=0.95)
        transform = pbrs_exp.pitfall_transform(g, 0.95, 3.0)
        params = pbrs_exp.variant_params(
            pbrs_exp.PITFALL_WEIGHTS, pbrs_exp.PITFALL_VARIANTS, 1, transform
        )
        ref = pbrs_exp.exact_reference(g, transform, params, pbrs_exp.PITFALL_VARIANTS)
        opt = ref["optimal_true_return"]
        np.testing.assert_allclose(opt, 0.95**8, rtol=1e-9)
        got = {k: v["shaped_optimum_true_return"] for k, v in ref["variants"].items()}
        np.testing.assert_allclose(got["none"], opt, rtol=1e-9)
        np.testing.assert_allclose(got["pbrs"], opt, rtol=1e-6)
        np.testing.assert_allclose(got["naive_pbrs"], 0.4435187, atol=1e-5)  # the lava route
        # the naive table is correct PBRS plus the terminal bonus γ·Φ(goal) on entering G
        _, phi = pbrs_exp.progress_potential(g, 3.0)
        assert float(phi[g.goals[0]]) == pytest.approx(3.0)


def test_progress_bonus_transform_on_batches(pbrs_exp):
    from jaxrl.shaping import Transition

    t = pbrs_exp.progress_bonus(lambda o: o[..., 0], 0.5)
    obs = jnp.array([[0.0], [1.0], [1.0]])
    nxt = jnp.array([[1.0], [0.0], [1.0]])
    z = jnp.zeros(3)
    tr = Transition(obs, z, jnp.ones(3), nxt, z.astype(bool), z.astype(bool), z + 0.9, {}, z)
    r, _ = t.apply(t.default_params, t.init(t.default_params), tr)
    np.testing.assert_allclose(r, [1.5, 1.0, 1.0])
    naive = pbrs_exp.naive_potential(lambda o: o[..., 0], 0.9)
    tr = tr._replace(terminated=jnp.array([True, False, False]), discount=jnp.array([0, 0.9, 0.9]))
    r, _ = naive.apply(naive.default_params, (), tr)
    np.testing.assert_allclose(r, [1.9, 0.0, 0.9], atol=1e-6)  # Φ(terminal) is NOT zeroed


def test_policy_values_consistent_with_expected_return():
    with jax.enable_x64(True):
        g = grid64(gamma=0.9)
        Q = value_iteration(g.mdp).Q
        pi = greedy_policy(Q)
        V = policy_evaluation(g.mdp, pi)
        np.testing.assert_allclose(expected_return(g.mdp, pi), V[g.start], rtol=1e-12)
