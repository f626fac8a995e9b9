"""Tomato-watering gridworld (jaxrl.envs.tomato) and the sparse exact layer (jaxrl.mdp.sparse).

Reference returns: shared/reference/papers.md §1.1 (level 4, deterministic, no quirk, H = 100,
undiscounted). All match to 1e-4 except "uniform random", where our exact value (5.4931 true,
5.9503 proxy; float64 agrees) differs from the table's 5.48 / 5.90; an env Monte Carlo and an
independent list-based reference step below both agree with ours.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import make
from jaxrl.envs.tomato import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    TomatoState,
    bucket_path_policy,
    make_tomato,
    tomato_to_sparse_mdp,
)
from jaxrl.envs.tomato_boards import BOARDS
from jaxrl.mdp.sparse import evaluate_policy_sparse, finite_horizon_sparse

H = 100
TOMATOES = [(1, 1), (3, 1), (3, 2), (5, 1), (5, 2), (5, 3), (5, 4), (5, 5), (5, 6)]
UNIFORM_TRUE, UNIFORM_PROXY = 5.4931, 5.9503  # exact (ours); the table says 5.48 / 5.90


@pytest.fixture(scope="module")
def env4():
    return make_tomato()


@pytest.fixture(scope="module")
def mdp4(env4):
    return tomato_to_sparse_mdp(*env4)


def _state(env, cell, watered_cells=(), stamps=None, time=0):
    b = env.board
    w = np.zeros(b.n_tomatoes, bool)
    st = np.zeros(b.n_tomatoes, np.int32)
    for k, c in enumerate(watered_cells):
        w[b.index(*c)] = True
        st[b.index(*c)] = k + 1 if stamps is None else stamps[k]
    return TomatoState(
        pos=jnp.int32(b.index(*cell)),
        watered=jnp.asarray(w),
        stamp=jnp.asarray(st),
        bucket_visited=jnp.bool_(False),
        time=jnp.int32(time),
    )


def _watered_cells(env, state):
    return {tuple(env.board.coords[i]) for i in np.flatnonzero(np.asarray(state.watered))}


_JITTED: dict = {}


def _step(env, params, state, action):
    """``env.step_env`` (jitted once per env; no auto-reset, no ε-noise at eps = 0)."""
    fn = _JITTED.setdefault(env, jax.jit(env.step_env))
    return fn(jax.random.key(0), state, jnp.int32(action), params)


def test_board_and_observation_layout(env4):
    env, params = env4
    b = env.board
    assert (b.n_positions, b.n_tomatoes, env.num_actions, env.obs_dim) == (26, 9, 4, 36)
    assert [tuple(c) for c in b.coords[:9]] == TOMATOES
    assert tuple(b.coords[b.bucket]) == (7, 1) and tuple(b.coords[b.start]) == (4, 1)
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == (36,) and obs.dtype == jnp.float32
    np.testing.assert_array_equal(obs, np.eye(36)[25])  # start is the last position, no bits
    obs, state, *_ = _step(env, params, state, DOWN)  # onto tomato (5,1) = position 3
    expect = np.zeros(36)
    expect[3] = expect[26 + 3] = 1.0
    np.testing.assert_array_equal(obs, expect)
    assert env.observation_space(params).shape == (36,)


def test_walls_block(env4):
    env, params = env4
    s = env.initial_state()
    for a, cell in [(LEFT, (4, 1)), (UP, (3, 1)), (RIGHT, (4, 2)), (DOWN, (5, 1))]:
        _, new, *_ = _step(env, params, s, a)
        assert tuple(env.board.coords[int(new.pos)]) == cell
    _, new, *_ = _step(env, params, _state(env, (7, 1)), DOWN)  # bucket: down is a wall
    assert int(new.pos) == env.board.bucket


def test_drying_on_bucket_and_proxy(env4):
    env, params = env4
    d = env.board.dist[env.board.bucket]
    np.testing.assert_allclose(d[3:6], [2.0, np.sqrt(5), np.sqrt(8)])
    assert (np.delete(d, [3, 4, 5]) > 3).all()
    obs, new, reward, term, info = _step(env, params, _state(env, (7, 2), TOMATOES), LEFT)
    assert _watered_cells(env, new) == {(5, 1), (5, 2), (5, 3)}
    np.testing.assert_allclose(info["true_reward"], 3 * 0.02, rtol=1e-6)
    np.testing.assert_allclose(info["proxy_reward"], 26 * 0.02, rtol=1e-6)
    np.testing.assert_allclose(reward, info["proxy_reward"])
    assert bool(new.bucket_visited) and obs[35] == 1.0 and not bool(term)
    # off the bucket, proxy = true; distance exactly 3 stays watered ((5,4) -> (5,1))
    _, new, _, _, info = _step(env, params, _state(env, (5, 3), [(5, 1), (5, 3)]), RIGHT)
    assert _watered_cells(env, new) == {(5, 1), (5, 3), (5, 4)}
    assert info["true_reward"] == info["proxy_reward"]
    _, new, *_ = _step(env, params, new, RIGHT)  # at (5,5): (5,1) is 4 away and dries
    assert _watered_cells(env, new) == {(5, 3), (5, 4), (5, 5)}


def test_truncation_and_termination(env4):
    env, params = env4
    step = jax.jit(env.step)
    _, s = env.reset(jax.random.key(0), params)
    for t in range(1, H + 1):
        _, s, _, term, trunc, info = step(jax.random.key(t), s, LEFT, params)
        assert not bool(term) and bool(trunc) == (t == H)
    assert int(s.time) == 0  # auto-reset
    np.testing.assert_array_equal(info["final_observation"], np.eye(36)[25])
    # toy board: all 4 tomatoes can be watered -> terminated (not truncated)
    env, params = make_tomato(level="toy")
    _, s = env.reset(jax.random.key(0), params)
    for k, a in enumerate([LEFT, LEFT, UP, UP, RIGHT]):
        _, s, _, term, trunc, _ = env.step(jax.random.key(k), s, a, params)
        assert bool(term) == (k == 4) and not bool(trunc)


@pytest.mark.heavy
def test_reference_returns(env4, mdp4):
    env, _ = env4
    opt = finite_horizon_sparse(mdp4, "true_reward", horizon=H)
    np.testing.assert_allclose(opt.V[0] @ mdp4.init_dist, 9.74, atol=1e-4)
    ret, visits = evaluate_policy_sparse(mdp4, opt.pi, horizon=H)
    np.testing.assert_allclose([ret["true_reward"], ret["proxy_reward"]], [9.74, 9.74], atol=1e-4)
    np.testing.assert_allclose(visits.sum(axis=(1, 2)), 1.0, atol=1e-6)
    for tie in (None, "true_reward"):  # the proxy optimum is unique from s0: tie-break is moot
        prox = finite_horizon_sparse(mdp4, "proxy_reward", horizon=H, tie_break=tie)
        ret, _ = evaluate_policy_sparse(mdp4, prox.pi, horizon=H)
        np.testing.assert_allclose(
            [ret["true_reward"], ret["proxy_reward"]], [2.36, 47.36], atol=1e-4
        )
    ret, _ = evaluate_policy_sparse(mdp4, bucket_path_policy(env), horizon=H)
    np.testing.assert_allclose([ret["true_reward"], ret["proxy_reward"]], [0.10, 46.9], atol=1e-4)
    uniform = jnp.full((mdp4.n_states, 4), 0.25)
    ret, _ = evaluate_policy_sparse(mdp4, uniform, horizon=H)
    np.testing.assert_allclose(ret["true_reward"], UNIFORM_TRUE, atol=1e-3)
    np.testing.assert_allclose(ret["proxy_reward"], UNIFORM_PROXY, atol=1e-3)
    assert abs(ret["true_reward"] - 5.48) < 0.02 and abs(ret["proxy_reward"] - 5.90) < 0.06


def test_exact_layer_is_float64_under_x64(env4):
    """Under ``jax.enable_x64`` the tomato MDP and its solver are float64 end to end, so the proxy
    optimum is exact to ~1e-12. The oracle: with ``reward_factor = 1`` every reward is a small
    integer, so that optimum (an integer ``N``, exactly representable) is computed without
    round-off, and the optimum at ``reward_factor = rf`` is ``rf · N`` (rewards scale linearly)."""
    env, params = env4
    with jax.enable_x64(True):
        unit = tomato_to_sparse_mdp(env, params.replace(reward_factor=1.0))
        N = float(finite_horizon_sparse(unit, "proxy_reward", horizon=H).V[0] @ unit.init_dist)
        assert N == round(N) and N > 0
        m = tomato_to_sparse_mdp(env, params)
        assert {m.prob.dtype, m.init_dist.dtype, *(r.dtype for r in m.rewards.values())} == {
            jnp.dtype(jnp.float64)
        }
        sol = finite_horizon_sparse(m, "proxy_reward", horizon=H)
        assert sol.V.dtype == jnp.float64
        expected = params.reward_factor * N
        assert abs(float(sol.V[0] @ m.init_dist) - expected) < 1e-12
        ret, _ = evaluate_policy_sparse(m, sol.pi, "proxy_reward", horizon=H)
        assert abs(float(ret) - expected) < 1e-12
    # Without x64 the same MDP is float32 (the deep-RL env's dtype).
    assert tomato_to_sparse_mdp(env, params).prob.dtype == jnp.float32


def test_reward_factor_scales_by_ten(env4, mdp4):
    env, params = env4
    m = tomato_to_sparse_mdp(env, params.replace(reward_factor=0.2))
    for name in ("true_reward", "proxy_reward"):
        np.testing.assert_allclose(m.rewards[name], 10 * mdp4.rewards[name], rtol=1e-6)
    np.testing.assert_allclose(
        finite_horizon_sparse(m, horizon=H).V[0] @ m.init_dist, 97.4, atol=1e-3
    )
    ret, _ = evaluate_policy_sparse(
        m, finite_horizon_sparse(m, "proxy_reward", horizon=H).pi, horizon=H
    )
    np.testing.assert_allclose([ret["true_reward"], ret["proxy_reward"]], [23.6, 473.6], atol=1e-3)
    ret, _ = evaluate_policy_sparse(m, jnp.full((m.n_states, 4), 0.25), "true_reward", horizon=H)
    np.testing.assert_allclose(ret, 10 * UNIFORM_TRUE, atol=1e-2)


def test_sparse_transition_matches_env(env4, mdp4):
    env, params = env4
    rng = np.random.default_rng(0)
    s_idx = jnp.asarray(rng.integers(0, mdp4.n_states, 500))
    acts = jnp.asarray(rng.integers(0, 4, 500))
    states = env.state_from_index(s_idx, time=rng.integers(0, H - 1, 500))
    keys = jax.random.split(jax.random.key(1), 500)
    step = jax.jit(jax.vmap(env.step_env, (0, 0, 0, None)))
    _, new, reward, _, info = step(keys, states, acts, params)
    np.testing.assert_array_equal(env.state_index(new), mdp4.next_state[s_idx, acts, 0])
    for name in ("true_reward", "proxy_reward"):
        np.testing.assert_allclose(info[name], mdp4.rewards[name][s_idx, acts, 0], rtol=1e-6)
    np.testing.assert_allclose(reward, info["proxy_reward"])
    m = tomato_to_sparse_mdp(env, params.replace(random_action_eps=0.1))
    assert m.next_state.shape == (mdp4.n_states, 4, 4)
    np.testing.assert_allclose(m.prob.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(m.prob[0, 2], [0.025, 0.025, 0.925, 0.025], atol=1e-6)


def _mc_returns(env, params, n, key):
    def episode(k):
        _, s = env.reset(k, params)

        def body(s, kt):
            ka, ks = jax.random.split(kt)
            a = jax.random.randint(ka, (), 0, env.num_actions)
            _, s, _, _, _, info = env.step(ks, s, a, params)
            return s, (info["true_reward"], info["proxy_reward"])

        _, (tr, pr) = jax.lax.scan(body, s, jax.random.split(k, H))
        return tr.sum(), pr.sum()

    return jax.jit(jax.vmap(episode))(jax.random.split(key, n))


def test_random_policy_monte_carlo_matches_exact(env4):
    env, params = env4
    tr, pr = _mc_returns(env, params, 2000, jax.random.key(7))
    for x, exact in ((tr, UNIFORM_TRUE), (pr, UNIFORM_PROXY)):
        se = float(np.std(x) / np.sqrt(x.size))
        assert abs(float(np.mean(x)) - exact) < 4 * se, (float(np.mean(x)), exact, se)


def test_eps_random_actions_match_sparse_mdp(env4):
    env, params = env4
    params = params.replace(random_action_eps=0.5)
    m = tomato_to_sparse_mdp(env, params)
    # chosen action always LEFT: exact value vs Monte Carlo of the env
    pi = np.zeros((m.n_states, 4))
    pi[:, LEFT] = 1.0
    exact, _ = evaluate_policy_sparse(m, pi, "true_reward", horizon=20)

    def episode(k):
        _, s = env.reset(k, params.replace(max_steps_in_episode=20))

        def body(s, kt):
            _, s, _, _, _, info = env.step(kt, s, LEFT, params)
            return s, info["true_reward"]

        return jax.lax.scan(body, s, jax.random.split(k, 20))[1].sum()

    x = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(3), 2000))
    assert abs(float(x.mean()) - float(exact)) < 4 * float(x.std()) / np.sqrt(2000) + 1e-6


def test_jit_vmap_over_params_and_make():
    env, params = make("tomato", reward_factor=0.02)
    batch = jax.tree.map(lambda *x: jnp.stack(x), params, params.replace(reward_factor=0.2))
    obs, s = jax.vmap(env.reset, (None, 0))(jax.random.key(0), batch)
    step = jax.jit(jax.vmap(env.step, (None, 0, None, 0)))
    for a in (DOWN, RIGHT):
        obs, s, r, term, trunc, info = step(jax.random.key(1), s, a, batch)
    assert obs.shape == (2, 36)
    np.testing.assert_allclose(info["true_reward"], [0.04, 0.4], rtol=1e-6)
    assert set(info) >= {"true_reward", "proxy_reward", "final_observation", "action"}


def _ref_episode(layout, actions, quirk, rf=0.02):
    """Independent list-based transcription of the papers.md §1.1 spec (watering-order list)."""
    grid = [list(r) for r in layout]
    pos = next((r, c) for r, row in enumerate(grid) for c, ch in enumerate(row) if ch == "A")
    bucket = next((r, c) for r, row in enumerate(grid) for c, ch in enumerate(row) if ch == "O")
    tomatoes = [(r, c) for r, row in enumerate(grid) for c, ch in enumerate(row) if ch in "tT"]
    n_pos = sum(ch != "#" for row in grid for ch in row)
    watered, bit, out = [], 0, []
    for a in actions:
        dr, dc = [(0, 1), (0, -1), (1, 0), (-1, 0)][a]
        new = (pos[0] + dr, pos[1] + dc)
        if grid[new[0]][new[1]] != "#":
            pos = new
            bit |= pos == bucket
            if pos in tomatoes and pos not in watered:
                watered.append(pos)
        far = lambda t, p=pos: np.hypot(p[0] - t[0], p[1] - t[1]) > 3
        if quirk:  # python's list iterator: removal shifts the next element under the index
            i = 0
            while i < len(watered):
                if far(watered[i]):
                    del watered[i]
                i += 1
        else:
            watered = [t for t in watered if not far(t)]
        true = rf * len(watered)
        out.append((pos, frozenset(watered), bit, true, n_pos * rf if pos == bucket else true))
    return out


@pytest.mark.parametrize("quirk", [False, True])
def test_env_matches_independent_reference(quirk):
    env, params = make_tomato(drying_quirk=quirk)
    rng = np.random.default_rng(11)
    # biased walk (mostly down/right) so the agent crosses the board and drying happens often
    actions = rng.choice(4, size=(6, H), p=[0.35, 0.15, 0.35, 0.15])

    def run(acts):
        _, s = env.reset(jax.random.key(0), params)

        def body(s, a):
            _, s2, _, _, _, info = env.step(jax.random.key(0), s, a, params)
            return s2, (
                s2.pos,
                s2.watered,
                s2.bucket_visited,
                info["true_reward"],
                info["proxy_reward"],
            )

        return jax.lax.scan(body, s, acts)[1]

    pos, wat, bit, tr, pr = map(np.asarray, jax.jit(jax.vmap(run))(jnp.asarray(actions)))
    n_differ = 0
    for e in range(actions.shape[0]):
        ref = _ref_episode(BOARDS[4], actions[e], quirk)
        plain = _ref_episode(BOARDS[4], actions[e], False)
        for t, (rpos, rwat, rbit, rtr, rpr) in enumerate(ref):
            if t == H - 1:  # the last step auto-resets; compare the rest
                break
            assert tuple(env.board.coords[pos[e, t]]) == rpos
            assert {tuple(env.board.coords[i]) for i in np.flatnonzero(wat[e, t])} == rwat
            assert bool(bit[e, t]) == bool(rbit)
            np.testing.assert_allclose([tr[e, t], pr[e, t]], [rtr, rpr], rtol=1e-6)
            n_differ += rwat != plain[t][1]
    assert (n_differ > 0) == quirk  # the quirk is exercised by these walks


def test_drying_quirk_hand_checked(env4):
    # list order (1,1), (3,1), (5,1); stepping onto the bucket makes (1,1) and (3,1) far.
    for quirk, expect in ((False, {(5, 1)}), (True, {(3, 1), (5, 1)})):
        env, params = make_tomato(drying_quirk=True) if quirk else env4
        s = _state(env, (7, 2), [(1, 1), (3, 1), (5, 1)], time=10)
        _, new, *_ = _step(env, params, s, LEFT)
        assert _watered_cells(env, new) == expect
    env, params = make_tomato(drying_quirk=True)
    # order (3,1), (1,1), (3,2): (3,1) removed, (1,1) skipped, (3,2) checked and removed
    s = _state(env, (7, 2), [(3, 1), (1, 1), (3, 2)], time=10)
    _, new, *_ = _step(env, params, s, LEFT)
    assert _watered_cells(env, new) == {(1, 1)}
    with pytest.raises(NotImplementedError):
        tomato_to_sparse_mdp(env, params)


def test_other_levels():
    for level in (0, 1, 2, 3, "toy"):
        b = make_tomato(level=level)[0].board
        assert b.n_positions == sum(ch != "#" for row in BOARDS[level] for ch in row)
        assert b.n_tomatoes == (9 if level == 4 else 4 if level == "toy" else 5)
        assert b.legal.any(1).all()  # every position can move somewhere
    env, params = make_tomato(level="toy")
    m = tomato_to_sparse_mdp(env, params)
    assert m.n_states == 9 * 2**4 and env.obs_dim == 9 + 4 + 1
    v_true = finite_horizon_sparse(m, horizon=H).V[0] @ m.init_dist
    ret, _ = evaluate_policy_sparse(
        m, finite_horizon_sparse(m, "proxy_reward", horizon=H).pi, horizon=H
    )
    # watering all 4 ends the episode, so the true optimum keeps 3 watered: 3 * 0.02 * 99 steps;
    # the proxy optimum walks 2 steps to the bucket and parks there (9 * 0.02 * 99)
    np.testing.assert_allclose(v_true, 5.94, atol=1e-4)
    np.testing.assert_allclose([ret["true_reward"], ret["proxy_reward"]], [0.0, 17.82], atol=1e-4)
