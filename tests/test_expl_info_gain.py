"""Issue 19 (c): twenty questions, the information-gain turn reward, the group-relative learner."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.agents import group_relative as gr
from jaxrl.envs import make
from jaxrl.envs.twenty_questions import attribute_table, optimal_success
from jaxrl.rewards.info_gain import InfoGainParams, info_gain_reward, posterior
from jaxrl.shaping.transform import Transition

ALL4 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


def brute_success(table, q):
    """Independent expectimax over histories (lists, not bitmasks; wasted questions and early
    guesses allowed): best expected success for a uniform target."""
    n, m = table.shape

    def value(items, left):  # items: tuple of consistent items; returns sum over them of P(win)
        best = 1.0  # guess now: exactly one of them is right
        if left > 0:
            for j in range(m):
                yes = tuple(i for i in items if table[i, j])
                no = tuple(i for i in items if not table[i, j])
                best = max(best, (value(yes, left - 1) if yes else 0.0)
                           + (value(no, left - 1) if no else 0.0))  # fmt: skip
        return best

    return value(tuple(range(n)), q) / n


def test_attribute_table_distinct_and_seeded():
    t = attribute_table(12, 5, 3)
    assert t.shape == (12, 5) and set(np.unique(t)) <= {0, 1}
    assert len({tuple(r) for r in t}) == 12
    np.testing.assert_array_equal(t, attribute_table(12, 5, 3))
    assert not np.array_equal(t, attribute_table(12, 5, 4))
    with pytest.raises(ValueError, match="num_items"):
        make("twenty_questions", num_items=9, num_attributes=3)
    with pytest.raises(ValueError, match="unknown"):
        make("twenty_questions", questions=3)


def test_optimal_success_hand_and_brute_force():
    assert [optimal_success(ALL4, q) for q in range(3)] == [0.25, 0.5, 1.0]
    # attribute 0 splits nothing: one useful question
    assert optimal_success(np.array([[1, 0], [1, 1]]), 5) == 1.0
    assert optimal_success(np.array([[1, 0, 0], [1, 0, 1], [1, 1, 1]]), 1) == 2 / 3
    for seed in range(3):
        t = attribute_table(7, 4, seed)
        for q in range(4):
            assert optimal_success(t, q) == pytest.approx(brute_success(t, q), abs=1e-12)
            assert optimal_success(t, q) <= min(1.0, 2**q / 7) + 1e-12


def _dp_policy(table, q):
    """A policy reaching optimal_success: ask the DP's best splitting question, else guess."""
    n, m = table.shape

    @functools.cache
    def cells(items, left):
        best, arg = 1, None
        if left > 0 and len(items) > 1:
            for j in range(m):
                yes = tuple(i for i in items if table[i, j])
                no = tuple(i for i in items if not table[i, j])
                if yes and no:
                    c = cells(yes, left - 1)[0] + cells(no, left - 1)[0]
                    if c > best:
                        best, arg = c, j
        return best, arg

    def act(obs, t):
        items = tuple(int(i) for i in np.flatnonzero(np.asarray(posterior(table, obs)) > 0))
        _, j = cells(items, q - t)
        return j if j is not None else m + items[0]

    return act


def test_env_dynamics_and_oracle_policy_reaches_optimum():
    env, p = make("twenty_questions", num_items=6, num_attributes=4, max_questions=2)
    table = env.table
    m = table.shape[1]
    step = jax.jit(env.step)
    act = _dp_policy(table, 2)
    wins = []
    for target in range(6):
        _, state = env.reset(jax.random.key(0), p)
        state = state.replace(target=jnp.int32(target))
        obs, t, done, ret = env._obs(state), 0, False, 0.0
        while not done:
            a = act(obs, t)
            obs2, state2, r, term, trunc, info = step(jax.random.key(t), state, a, p)
            fin = info["final_observation"]
            if a < m:  # the answer is revealed truthfully
                assert fin[a] == 1.0 and fin[m + a] == table[target, a]
            assert posterior(table, fin)[target] > 0  # the target stays consistent
            ret += float(r)
            done, obs, state, t = bool(term | trunc), obs2, state2, t + 1
        wins.append(ret)
    assert np.mean(wins) == pytest.approx(optimal_success(table, 2))
    # a question beyond the budget is a forfeit: unanswered, terminal, reward 0
    _, s = env.reset(jax.random.key(1), p)
    for t in range(2):
        _, s, r, term, _, _ = step(jax.random.key(t), s, 0, p)
        assert not bool(term)
    _, _, r, term, trunc, info = step(jax.random.key(9), s, 1, p)
    assert bool(term) and not bool(trunc) and float(r) == 0.0 and info["final_observation"][1] == 0
    # guesses: right pays 1, wrong 0, both terminal
    _, s = env.reset(jax.random.key(2), p)
    for guess in range(6):
        _, _, r, term, _, _ = step(jax.random.key(0), s, m + guess, p)
        assert bool(term) and float(r) == float(guess == int(s.target))


def test_info_gain_telescopes_exactly_float64():
    env, p = make("twenty_questions", num_items=10, num_attributes=5, max_questions=3)
    table = np.asarray(env.table)
    tf = info_gain_reward(table, info_coef=1.0, outcome_coef=2.0)
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        for ep in range(12):
            obs, s = env.reset(jax.random.key(ep), p)
            target, total, outcome, done, t = int(s.target), 0.0, 0.0, False, 0
            while not done:
                a = int(rng.integers(0, 5 + 10)) if t < 3 else int(rng.integers(0, 15))
                if rng.random() < 0.6 and t < 3:
                    a = int(rng.integers(0, 5))  # mostly questions first
                obs2, s, r, term, trunc, info = env.step(jax.random.key(100 + t), s, a, p)
                fin = np.asarray(info["final_observation"], np.float64)
                one = lambda x, dt=None: np.asarray([x], dt)
                tr = Transition(
                    one(obs, np.float64),
                    one(a),
                    one(float(r)),
                    fin[None],
                    one(bool(term)),
                    one(bool(trunc)),
                    one(1.0),
                    {},
                    one(t),
                )
                rew, _ = tf.apply(tf.default_params, (), tr)
                assert rew.dtype == jnp.float64
                total += float(rew[0])
                outcome += float(r)
                done, obs, t = bool(term | trunc), obs2, t + 1
                last = fin
            p_final = float(posterior(table, jnp.asarray(last), jnp.float64)[target])
            assert total == pytest.approx(2.0 * outcome + p_final - 1.0 / 10, abs=1e-12)
    # outcome only (β = 0): exactly the env reward
    tr = Transition(jnp.zeros((2, 10)), jnp.zeros(2, int), jnp.array([1.0, 0.0]),
                    jnp.ones((2, 10)), jnp.ones(2, bool), jnp.zeros(2, bool), jnp.ones(2), {},
                    jnp.zeros(2, int))  # fmt: skip
    rew, _ = tf.apply(InfoGainParams(0.0, 1.0), (), tr)
    np.testing.assert_array_equal(np.asarray(rew), [1.0, 0.0])


def test_group_advantages_exact():
    returns = jnp.array([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0], [0.0, 1.0, 2.0, 5.0]])
    to_go = jnp.broadcast_to(returns[..., None], (3, 4, 2))
    a = gr.group_advantages(returns, to_go, "grpo", 1e-12)[..., 0]
    np.testing.assert_allclose(a[0], [1, -1, -1, 1], atol=1e-6)
    np.testing.assert_array_equal(a[1], 0.0)  # a collapsed group: no signal
    np.testing.assert_allclose(a[2].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(a[2].std(), 1.0, atol=1e-5)
    r = gr.group_advantages(returns, to_go, "rloo")[..., 0]
    np.testing.assert_allclose(r[2], [0 - 8 / 3, 1 - 7 / 3, 2 - 2, 5 - 1], atol=1e-6)
    np.testing.assert_allclose(r[0], [1 - 1 / 3, -2 / 3, -2 / 3, 1 - 1 / 3], atol=1e-6)
    # dense: reward-to-go minus the group baseline of returns
    rew = jnp.array([[[0.5, 0.25, 1.0], [0.0, 0.0, 0.0]]])
    g = gr.rewards_to_go(rew, 0.5)
    np.testing.assert_allclose(g[0, 0], [0.5 + 0.125 + 0.25, 0.25 + 0.5, 1.0])
    a = gr.group_advantages(rew.sum(-1), gr.rewards_to_go(rew, 1.0), "rloo")
    np.testing.assert_allclose(a[0, 0], [1.75, 1.25, 1.0])
    np.testing.assert_allclose(a[0, 1], [-1.75, -1.75, -1.75])
    with pytest.raises(ValueError, match="advantage kind"):
        gr.group_advantages(returns, to_go, "ppo")


def test_igpo_advantages_exact():
    """IGPO: turn rewards normalised over the group's valid turns, then summed from each turn
    (float64 hand example: one group of two episodes, lengths 3 and 1)."""
    with jax.enable_x64(True):
        rew = jnp.array([[[0.0, 0.5, 1.0], [1.0, 0.0, 0.0]]], jnp.float64)
        valid = jnp.array([[[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]], jnp.float64)
        vals = np.array([0.0, 0.5, 1.0, 1.0])  # the 4 valid turns
        z = (np.array([[0.0, 0.5, 1.0], [1.0, 0.0, 0.0]]) - vals.mean()) / vals.std()
        want = np.array([[z[0].sum(), z[0, 1:].sum(), z[0, 2]], [z[1, 0], 0.0, 0.0]])
        a = gr.igpo_advantages(rew, valid, 1.0, 1e-12)
        np.testing.assert_allclose(a[0], want, rtol=1e-9, atol=1e-12)
        # a collapsed group (every valid turn reward equal) gives no signal
        flat = gr.igpo_advantages(jnp.ones_like(rew) * valid, valid, 1.0)
        np.testing.assert_array_equal(flat, 0.0)
    with pytest.raises(TypeError, match="advantage"):
        gr.GroupStatic(advantage="ppo")


def _small_trainer(transform=None, updates=60, advantage="grpo"):
    env, p = make("twenty_questions", num_items=2, num_attributes=1, max_questions=1)
    st = gr.GroupStatic(num_groups=8, group_size=4, num_updates=updates, num_chunks=2,
                        advantage=advantage, hidden_sizes=(32,))  # fmt: skip
    return gr.make_train(st, env, transform, p), env


@pytest.mark.heavy
def test_training_improves_return_two_vmapped_seeds():
    tr, _ = _small_trainer()
    hp = gr.GroupHParams(learning_rate=1e-2, kl_coef=jnp.array([0.01, 0.0])).broadcast(2)
    _, m = jax.jit(jax.vmap(tr))(jax.random.split(jax.random.key(0), 2), hp)
    r = np.asarray(m["return_env_reward"])
    assert r.shape == (2, 60) and m["eval_return"].shape == (2, 2)
    # ask, then guess by the answer: optimum 1.0; the initial (uniform) policy wins ~0.5
    for ri in r:
        assert ri[-10:].mean() > 0.9 and ri[-10:].mean() > ri[:5].mean() + 0.3, ri
    assert np.all(np.isfinite(np.asarray(m["kl"])))
    assert not np.array_equal(r[0], r[1])  # different seeds, different runs


def test_shared_reset_keys_within_group():
    tr, _ = _small_trainer()
    s = tr.static
    key = jax.random.key(3)
    _, k_reset, _ = jax.random.split(key, 3)
    keys = jnp.repeat(jax.random.split(k_reset, s.num_groups), s.group_size, axis=0)
    env = tr.env
    targets = jax.vmap(lambda k: env.reset(k, tr.env_params)[1].target)(keys)
    t = np.asarray(targets).reshape(s.num_groups, s.group_size)
    assert np.all(t == t[:, :1]) and len(np.unique(t[:, 0])) > 1


@pytest.mark.slow
def test_vmap_two_seeds_matches_single_runs():
    tr, _ = _small_trainer(updates=4, advantage="rloo")
    hp = gr.GroupHParams(learning_rate=jnp.array([1e-2, 3e-3])).broadcast(2)
    keys = jax.random.split(jax.random.key(0), 2)
    _, mv = jax.jit(jax.vmap(tr))(keys, hp)
    single = jax.jit(tr)
    for i in range(2):
        _, mi = single(keys[i], jax.tree.map(lambda x, i=i: x[i], hp))
        np.testing.assert_allclose(mv["return_env_reward"][i], mi["return_env_reward"], atol=1e-6)
        np.testing.assert_allclose(mv["loss"][i], mi["loss"], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="kl_coef"):
        tr.check(gr.GroupHParams(kl_coef=-1.0))
    with pytest.raises(ValueError, match="group_size"):
        gr.GroupStatic(group_size=1)


@pytest.mark.slow
def test_experiment_smoke(tmp_path):
    from experiments.exploration_rewards import info_gain as m

    s = m.run(m.TINY, seeds=2, seed=0)
    cl = m.claims(s)
    assert {c.id for c in cl} == {f"exploration_rewards.info_gain.{t}" for t in m.TAGS}
    out = m.figure(s, cl, tmp_path)
    assert out.exists() and out.name == "exploration_rewards_info_gain.png"
