"""Issue 20: the practitioner's guide (PPO / GRPO / RLOO × sparse / dense turn rewards × L)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.process_rewards import guide as m
from jaxrl.agents import group_relative as gr
from jaxrl.envs import make
from jaxrl.envs.reasoning_chain import ReasoningConfig, reasoning_tables
from jaxrl.shaping.transform import Transition


def _tr(reward, progress, dtype=jnp.float64):
    n, f = len(reward), lambda x: jnp.asarray(x, dtype)
    ch = {"progress_reward": f(progress)}
    return Transition(jnp.zeros((n, 3)), jnp.zeros(n, int), f(reward), jnp.zeros((n, 3)),
                      jnp.zeros(n, bool), jnp.zeros(n, bool), jnp.ones(n), ch,
                      jnp.zeros(n, int))  # fmt: skip


def test_turn_reward_exact_values_and_errors():
    tf = m.turn_reward()
    with jax.enable_x64(True):
        r, st = tf.apply(m.TurnParams(0.5, 2.0), (), _tr([1.0, 0.0, 0.0], [0.25, -0.5, 0.0]))
        assert r.dtype == jnp.float64 and st == ()
        np.testing.assert_array_equal(np.asarray(r), [2.125, -0.25, 0.0])
        # the sparse condition (c_p = 0) is the env reward bit for bit
        x = np.random.default_rng(0).normal(size=5)
        r0, _ = tf.apply(m.TurnParams(0.0, 1.0), (), _tr(x, np.ones(5)))
        np.testing.assert_array_equal(np.asarray(r0), x)
    bad = _tr([1.0], [0.0], jnp.float32)._replace(channels={"outcome_reward": jnp.ones(1)})
    with pytest.raises(KeyError, match="progress_reward"):
        tf.apply(tf.default_params, (), bad)


def _phi_final(tables, p, actions, L):
    """Independent Φ*(s_T) = right·min(d, L)/L from the problem table and the action list."""
    right, d = True, 0
    for a in actions:
        if a == 3:  # the answer (K = 3)
            break
        right = right and (d >= L or a == tables.correct[p, d])
        d += 1
    return float(right) * min(d, L) / L


def test_dense_episode_return_telescopes():
    """Σ_t r_t = c_o·outcome + c_p·Φ*(s_T) over whole episodes (right, wrong, padded chains)."""
    cfg = ReasoningConfig(num_problems=4, chain_length=3, num_step_actions=3, max_depth=5)
    env, p = make("reasoning_chain", **{f: getattr(cfg, f) for f in
                                        ("num_problems", "chain_length", "num_step_actions",
                                         "max_depth", "shortcut_fraction", "seed")})  # fmt: skip
    tables = reasoning_tables(cfg)
    tf, tp = m.turn_reward(), m.TurnParams(0.75, 1.5)
    step = jax.jit(env.step)
    rng = np.random.default_rng(1)
    n_success = 0
    for ep in range(16):
        _, s = env.reset(jax.random.key(ep), p)
        prob = int(s.problem)
        if ep % 2 == 0:  # the right chain, some padding, then the answer
            actions = [int(a) for a in tables.correct[prob]] + [0] * (ep % 3) + [3]
        else:
            actions = [int(a) for a in rng.integers(0, 4, size=7)]
        total, outcome, taken = 0.0, 0.0, []
        for t, a in enumerate(actions):
            _, s, r, term, trunc, info = step(jax.random.key(t), s, a, p)
            channels = {"progress_reward": info["progress_reward"][None]}
            tr = _tr([float(r)], [0.0], jnp.float32)._replace(channels=channels)
            rew, _ = tf.apply(tp, (), tr)
            total += float(rew[0])
            outcome += float(r)
            taken.append(a)
            if bool(term | trunc):
                break
        n_success += outcome == 1.0
        expect = 1.5 * outcome + 0.75 * _phi_final(tables, prob, taken, 3)
        assert total == pytest.approx(expect, abs=1e-6), (actions, total, expect)
    assert n_success >= 8  # the scripted right chains all succeed


def test_group_rollout_dense_return_is_outcome_plus_progress():
    """In the group learner's rollout: dense return − outcome ∈ {c·k/L}; = c on every success."""
    env, p = make("reasoning_chain", num_problems=4, chain_length=2, num_step_actions=2,
                  max_depth=3, shortcut_fraction=0.0)  # fmt: skip
    st = gr.GroupStatic(num_groups=16, group_size=8, num_updates=4, num_chunks=1,
                        hidden_sizes=(8,))  # fmt: skip
    tr = gr.make_train(st, env, m.turn_reward(), p)
    hp = gr.GroupHParams(transform=m.TurnParams(0.5, 1.0))
    gs, ro = jax.jit(tr.rollout)(tr.init(jax.random.key(0), hp), hp)
    dense, env_ret = np.asarray(ro.reward.sum(0)), np.asarray(ro.env_reward.sum(0))
    extra = (dense - env_ret) / 0.5 * 2  # k in {0, 1, 2}
    np.testing.assert_allclose(extra, np.round(extra), atol=1e-5)
    assert set(np.round(extra).astype(int)) <= {0, 1, 2}
    assert env_ret.max() == 1.0  # some successes under the uniform policy (about 1/20 per episode)
    np.testing.assert_allclose(dense[env_ret == 1.0], 1.5, atol=1e-6)


def test_episodes_to_threshold_and_settings_errors():
    succ = np.array([[0.0, 0.2, 0.6, 1.0, 1.0], [0.0, 0.0, 0.0, 0.1, 0.1]])
    eps = np.array([[10.0, 20, 30, 40, 50], [5.0, 10, 15, 20, 25]])
    to, reached = m.episodes_to(succ, eps, 0.8, 2)  # moving means (w=2): 0, .1, .4, .8, 1
    np.testing.assert_array_equal(to, [40.0, 25.0])  # the second run: censored at its budget
    np.testing.assert_array_equal(reached, [True, False])
    for kw, field in (({"chain_lengths": (5, 2)}, "chain_lengths"),
                      ({"group_updates": 10}, "group_updates"),
                      ({"progress_coef": 0.0}, "progress_coef")):  # fmt: skip
        with pytest.raises(ValueError, match=field):
            m.Settings(**kw).check()


def _summary(speed, final):
    """A synthetic summary: ``speed[L][ln]`` log speed-ups, ``final[L][rw][ln]`` final success."""
    lens = {}
    for L in ("2", "6"):
        lens[L] = {"tau": 0.5, "optimal_success": 1.0}
        for ln in m.LEARNERS:
            lens[L][ln] = {"log_speedup": list(speed[L][ln])}
            for rw in m.REWARDS:
                lens[L][ln][rw] = {"final_success": list(final[L][rw][ln])}
    return {"lengths": lens}


def test_claim_rules_on_synthetic_summaries():
    jit = np.array([-0.01, 0.0, 0.01, 0.0, 0.005])
    fast = {ln: 1.0 + jit for ln in m.LEARNERS}
    slow = {ln: 0.2 + jit for ln in m.LEARNERS}
    sp = {"ppo": 0.9 + jit, "grpo": 0.5 + jit, "rloo": 0.2 + jit}
    de = {"ppo": 0.3 + jit, "grpo": 0.6 + jit, "rloo": 0.95 + jit}  # reversed
    verdicts = lambda cl: {c.id.split(".")[-1]: c.verdict for c in cl}
    fin = lambda d2, d6: {"2": {"sparse": sp, "dense": d2}, "6": {"sparse": sp, "dense": d6}}
    v = verdicts(m.claims(_summary({"2": slow, "6": fast}, fin(sp, de))))
    assert v == {"accelerate": "reproduced", "long": "reproduced", "ranking": "reproduced",
                 "algo": "reproduced"}  # fmt: skip
    same = {ln: 0.5 + jit for ln in m.LEARNERS}
    v = verdicts(m.claims(_summary({"2": fast, "6": slow}, fin(sp, same))))
    # the speed-up is smaller at long L; the dense learners are tied at L=6
    assert v["accelerate"] == "reproduced" and v["long"] == "not reproduced"
    assert v["algo"] == "not reproduced"
    zero = {ln: -0.5 + jit for ln in m.LEARNERS}
    cl = m.claims(_summary({"2": zero, "6": zero}, fin(sp, sp)))
    v = verdicts(cl)
    assert v["accelerate"] == "not reproduced" and v["ranking"] == "not reproduced"
    assert all(c.id.startswith("process_rewards.guide.") for c in cl)
    assert m.claims({})[0].verdict == "not testable"


@pytest.mark.slow
def test_guide_smoke(tmp_path):
    s = m.run(m.TINY, seeds=2, seed=0)
    cl = m.claims(s)
    assert {c.id for c in cl} == {f"process_rewards.guide.{t}" for t in m.TAGS}
    for L in map(str, m.TINY.chain_lengths):
        for ln in m.LEARNERS:
            assert len(s["lengths"][L][ln]["dense"]["final_success"]) == 2
    out = m.figure(s, cl, tmp_path)
    assert out.exists() and out.name == "process_rewards_guide.png"
