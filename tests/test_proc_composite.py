"""Composite rewards (jaxrl/shaping/composite.py) and the process_rewards composite experiment."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.process_rewards import composite as exp
from jaxrl.envs.reasoning_chain import make_reasoning_chain
from jaxrl.shaping.composite import (
    carl_reward,
    hybrid_reward,
    krc,
    krc_reward,
    shape_power,
    terminate_on,
    with_channels,
)
from jaxrl.shaping.gating import multiplicative_penalties
from jaxrl.shaping.transform import Transition


def _tr(channels, terminated=None, truncated=None, action=None):
    ch = {k: jnp.asarray(v, jnp.result_type(float)) for k, v in channels.items()}
    shape = next(iter(ch.values())).shape
    z = jnp.zeros(shape, bool)
    return Transition(
        obs=jnp.zeros((*shape, 1)), action=jnp.zeros(shape, int) if action is None else action,
        reward=jnp.zeros(shape), next_obs=jnp.zeros((*shape, 1)),
        terminated=z if terminated is None else jnp.asarray(terminated),
        truncated=z if truncated is None else jnp.asarray(truncated),
        discount=jnp.ones(shape), channels=ch, time=jnp.zeros(shape, int),
    )  # fmt: skip


def test_krc_exact_values():
    with jax.enable_x64(True):
        v = jnp.array([[0.5, 0.5, 2.0], [-0.5, 1.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.25, 4.0]])
        out = np.asarray(krc(v, jnp.ones(3)))
        np.testing.assert_allclose(out[:2], [0.5 ** (1 / 3), -(0.5 ** (1 / 3))], rtol=1e-15)
        assert out[2] == 0.0 and out[3] == pytest.approx(1.0, abs=1e-15)
        # shapes: κ = 2 squares magnitudes, keeps signs
        np.testing.assert_array_equal(shape_power(jnp.array([-0.5, 3.0]), 2.0), [-0.25, 9.0])
        k2 = krc(jnp.array([0.5, 0.5, 2.0]), jnp.array([2.0, 2.0, 2.0]))
        assert float(k2) == pytest.approx(0.5 ** (2 / 3), rel=1e-14)


def test_krc_reward_transform_and_bad_input():
    with jax.enable_x64(True):
        t = krc_reward(("a", "b"), (1.0, 3.0))
        tr = _tr({"a": [0.25, 1.0], "b": [0.5, -1.0]})
        r, _ = t.apply(t.default_params, t.init(t.default_params), tr)
        np.testing.assert_allclose(r, [np.sqrt(0.25 * 0.125), -1.0], rtol=1e-15)
    with pytest.raises(ValueError, match="need 2 values"):
        krc_reward(("a", "b"), (1.0,))
    with pytest.raises(ValueError, match="duplicate"):
        krc_reward(("a", "a"), (1.0, 1.0))
    with pytest.raises(KeyError, match="'c'"):
        krc_reward(("a", "c"), (1.0, 1.0)).apply((1.0, 1.0), (), tr)


def test_hybrid_reward_exact():
    with jax.enable_x64(True):
        t = hybrid_reward(("o", "f"), ("m",), (1.0, 0.5), (0.25,), 0.1)
        tr = _tr({"o": [1.0, 0.0], "f": [1.0, 1.0], "m": [0.8, 0.4], "len": [2.0, 3.0]})
        r, _ = t.apply(t.default_params, (), tr)
        np.testing.assert_allclose(r, [1 + 0.5 + 0.2 - 0.1, 0.5 + 0.1 - 0.1], rtol=1e-15)
        t2 = hybrid_reward(("o",), (), (1.0,), (), 0.1, length_channel="len")
        r2, _ = t2.apply(t2.default_params, (), tr)
        np.testing.assert_allclose(r2, [1.0 - 0.2, -0.3], rtol=1e-15)
    with pytest.raises(ValueError, match="length_penalty=-1"):
        hybrid_reward(("o",), (), (1.0,), (), -1.0)
    with pytest.raises(ValueError, match="model_weights"):
        hybrid_reward(("o",), ("m",), (1.0,), (1.0, 2.0))


def test_terminate_on_zeroes_rest_of_episode_and_resets():
    with jax.enable_x64(True):
        t = carl_reward("rc", ("f",), "sev", batch_shape=(2,), penalty=0.5)
        p, st = t.default_params, t.init(t.default_params)
        steps = [  # (rc, f, sev, terminated) for two envs
            ([1.0, 1.0], [0.5, 1.0], [0, 0], [False, False]),
            ([1.0, 1.0], [1.0, 1.0], [1, 0], [False, False]),  # env 0: severe
            ([1.0, 2.0], [1.0, 0.5], [0, 0], [True, False]),  # env 0 ends (paid 0)
            ([3.0, 1.0], [1.0, 1.0], [0, 1], [False, False]),  # env 0 new episode; env 1 severe
            ([1.0, 1.0], [1.0, 1.0], [0, 0], [False, True]),
        ]
        got = []
        for rc, f, sev, term in steps:
            r, st = t.apply(p, st, _tr({"rc": rc, "f": f, "sev": sev}, terminated=term))
            got.append(np.asarray(r))
        want = [[0.5, 1.0], [-0.5, 1.0], [0.0, 1.0], [3.0, -0.5], [1.0, 0.0]]
        np.testing.assert_array_equal(np.stack(got), want)
        # without a severe channel, CaRL is gating's multiplicative_penalties exactly
        tr = _tr({"rc": [0.3, 2.0], "f": [0.5, 0.25]})
        a, _ = carl_reward("rc", ("f",)).apply((), (), tr)
        b, _ = multiplicative_penalties(("f",), base="rc").apply((), (), tr)
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="batch_shape"):
        bad = terminate_on(multiplicative_penalties((), base="rc"), "sev", batch_shape=(3,))
        tr2 = _tr({"rc": [1.0, 1.0], "sev": [0.0, 0.0]})
        bad.apply(bad.default_params, bad.init(bad.default_params), tr2)


def test_with_channels_adds_derived_channel():
    t = with_channels(
        hybrid_reward(("x2",), (), (1.0,), ()), lambda tr: {"x2": 2 * tr.channels["x"]}
    )
    r, _ = t.apply(t.default_params, (), _tr({"x": [1.0, 3.0]}))
    np.testing.assert_allclose(r, [2.0, 6.0])


def _rollout_vs_table(settings, name, B=64, seed=0):
    """Episode returns of the PPO-side transform on env rollouts vs the exact table's rewards
    summed along the same (s, a, s') path."""
    cfg = settings.env_config()
    env, params = make_reasoning_chain(**dataclasses.asdict(cfg))
    t = exp.composites(settings, (B,))[name]
    with jax.enable_x64(True):
        mdp, tables = exp.composite_tables(settings)
    R = np.asarray(tables[name])
    D, K = cfg.max_depth, cfg.num_step_actions
    correct = np.asarray(params.correct)
    rng = np.random.default_rng(seed)
    keys = jax.random.split(jax.random.key(seed), B)
    obs, state = jax.vmap(env.reset_env, (0, None))(keys, params)
    st = t.init(t.default_params)
    done = np.zeros(B, bool)
    ret_t, ret_tab = np.zeros(B), np.zeros(B)
    idx = lambda s: (
        (np.asarray(s.problem) * (D + 1) + np.asarray(s.depth)) * 2 + np.asarray(s.right)
    )  # noqa: E731
    for step in range(D + 1):
        d = np.minimum(np.asarray(state.depth), cfg.chain_length - 1)
        right = correct[np.asarray(state.problem), d]
        u = rng.random(B)
        a = np.where(u < 0.55, right, np.where(u < 0.75, K, rng.integers(0, K, B)))
        s_idx = idx(state)
        nobs, nstate, _, term, info = jax.vmap(env.step_env, (0, 0, 0, None))(
            keys, state, jnp.asarray(a), params
        )
        s2 = np.where(np.asarray(term), R.shape[0] - 1, idx(nstate))
        trunc = (~np.asarray(term)) & (step == D)
        ch = {k: v for k, v in info.items() if k.endswith("_reward")}
        tr = Transition(obs, jnp.asarray(a), info["true_reward"], nobs, term, jnp.asarray(trunc),
                        jnp.ones(B), ch, jnp.full(B, step))  # fmt: skip
        r, st = t.apply(t.default_params, st, tr)
        live = ~done
        ret_t += np.where(live, np.asarray(r, np.float64), 0.0)
        ret_tab += np.where(live, R[s_idx, a, s2], 0.0)
        done |= np.asarray(term) | trunc
        obs, state = nobs, nstate
    return ret_t, ret_tab


@pytest.mark.heavy
@pytest.mark.parametrize("name", exp.COMPOSITES)
def test_transforms_match_exact_tables_on_rollouts(name):
    got, want = _rollout_vs_table(exp.QUICK, name)
    assert np.ptp(want) > 0.5  # the rollouts reach different outcomes
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_exact_success_of_optimal_policies():
    # default weights: every composite's optimum solves every problem
    ex = exp.exact_success(exp.QUICK)
    assert ex == pytest.approx({"additive": 1.0, "krc": 1.0, "carl": 1.0}, abs=1e-12)
    # a heavy length penalty (λ = 1): answering at once is optimal on every problem, so the
    # additive optimum only solves the shortcut-easy problems (2 of 8); CaRL and KRC still all
    heavy = dataclasses.replace(exp.QUICK, length_penalty=1.0)
    ex = exp.exact_success(heavy)
    assert ex["additive"] == pytest.approx(0.25, abs=1e-12)
    assert ex["carl"] == pytest.approx(1.0, abs=1e-12) and ex["krc"] == pytest.approx(
        1.0, abs=1e-12
    )
    c = exp.claims({"exact_success": ex})[0]
    assert c.id == "process_rewards.composite.exact_exploit" and c.verdict == "reproduced"


def test_settings_check_names_bad_field():
    with pytest.raises(ValueError, match="minibatches"):
        exp.Settings(minibatches=(3, 1)).check()
    with pytest.raises(ValueError, match="shallow_bias"):
        exp.Settings(shallow_bias=-1.0).check()


@pytest.mark.slow
def test_smoke_run_claims_figure(tmp_path):
    s = dataclasses.replace(exp.QUICK, ppo_steps=8192, minibatches=(16, 1), tail=2)
    summary = exp.run(s, seeds=2, seed=0)
    assert set(summary["per_minibatch"]) == {"64", "1024"}
    cl = exp.claims(summary)
    assert [c.id.split(".")[-1] for c in cl] == [
        "exact_exploit", "additive_degrades", "carl_scales", "carl_beats_additive_large",
        "additive_exploits",
    ]  # fmt: skip
    path = exp.figure(summary, cl, tmp_path)
    assert path.name == "process_rewards_composite.png" and path.stat().st_size > 0
