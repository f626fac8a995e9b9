"""Robo-Dopamine's progress model (jaxrl.rewards.progress_model): fit, transforms, exact checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.process_rewards import robo_dopamine as rd
from jaxrl.envs.reasoning_chain import ReasoningChain, ReasoningConfig
from jaxrl.rewards.progress_model import (
    ProgressMLP,
    ProgressShapingParams,
    fit_progress_model,
    progress_reward,
)
from jaxrl.shaping.transform import Transition

CFG = ReasoningConfig(num_problems=4, chain_length=3, num_step_actions=3, max_depth=5,
                      shortcut_fraction=0.5, seed=1)  # fmt: skip
SMALL = rd.Settings(num_problems=4, chain_length=3, num_step_actions=3, max_depth=5,
                    shortcut_fraction=0.5, env_seed=1, gamma=0.9, data_episodes=128,
                    rm_steps=300, exact_coefs=(0.01, 1.0, 20.0))  # fmt: skip


def test_fit_regresses_the_conditional_mean_under_label_noise():
    """Two obs, labels with noise: least squares -> the mean label per obs (E[Φ* | obs])."""
    k1, k2 = jax.random.split(jax.random.key(0))
    obs = jnp.repeat(jnp.eye(2), 400, axis=0)
    labels = jnp.where(jax.random.uniform(k1, (800,)) < jnp.repeat(jnp.array([0.2, 0.7]), 400),
                       1.0, 0.0)  # fmt: skip
    fit = fit_progress_model(k2, obs, labels, noise_scale=0.3, hidden_sizes=(16,), steps=400)
    pred = fit.predict(jnp.eye(2))
    want = jnp.array([labels[:400].mean(), labels[400:].mean()])
    np.testing.assert_allclose(pred, want, atol=0.05)
    assert float(fit.losses[-1]) < float(fit.losses[0])
    w = jnp.concatenate([jnp.ones(400), jnp.zeros(400)])  # weights drop the second block
    fit_w = fit_progress_model(k2, obs, labels, w, 0.0, (16,), 400)
    assert abs(float(fit_w.predict(jnp.eye(2))[0]) - float(want[0])) < 0.05


def test_bad_input_named():
    with pytest.raises(ValueError, match="noise_scale"):
        fit_progress_model(jax.random.key(0), jnp.zeros((4, 2)), jnp.zeros(4), noise_scale=-1.0)
    with pytest.raises(ValueError, match="labels"):
        fit_progress_model(jax.random.key(0), jnp.zeros((4, 2)), jnp.zeros(3))


def test_transform_potential_and_raw_forms():
    model = ProgressMLP((8,))
    params = model.init(jax.random.key(1), jnp.zeros((1, 3)))
    obs, nxt = jax.random.normal(jax.random.key(2), (2, 5, 3))
    disc = jnp.array([0.9, 0.9, 0.0, 0.9, 0.0])
    tr = Transition(obs, jnp.zeros(5, int), jnp.ones(5), nxt, disc == 0, disc < 0, disc, {},
                    jnp.zeros(5, int))  # fmt: skip
    tf = progress_reward(model, 0.9)
    phi_s, phi_n = model.apply(params, obs), model.apply(params, nxt)
    r_pot, _ = tf.apply(ProgressShapingParams(2.0, 0.0, params), (), tr)
    r_raw, _ = tf.apply(ProgressShapingParams(0.0, 3.0, params), (), tr)
    np.testing.assert_allclose(r_pot, 1.0 + 2.0 * (disc * phi_n - phi_s), rtol=1e-6)
    np.testing.assert_allclose(r_raw, 1.0 + 3.0 * phi_n, rtol=1e-6)


def test_collected_labels_are_the_env_progress():
    env = ReasoningChain(CFG)
    obs, prog, w = rd.collect_progress_data(env, env.default_params, jax.random.key(0), 64, 0.5)
    T = CFG.max_depth + 1
    assert obs.shape == (64 * T, CFG.num_problems + CFG.max_depth + 1)
    allowed = np.arange(CFG.chain_length + 1) / CFG.chain_length
    assert np.all(np.min(np.abs(np.asarray(prog)[:, None] - allowed), -1) < 1e-6)
    w = np.asarray(w).reshape(64, T)
    assert np.all(w[:, 0] == 1) and np.all(np.diff(w, axis=1) <= 0)  # alive, then masked
    assert np.asarray(prog).reshape(64, T)[w > 0].max() == 1.0  # reference chains complete


@pytest.fixture(scope="module")
def exact_small():
    env = ReasoningChain(CFG)
    params, mse, _ = jax.jit(lambda k: rd.fit_seed(SMALL, env, env.default_params, k))(
        jax.random.key(0)
    )
    return rd.exact_progress(SMALL, ProgressMLP(SMALL.rm_hidden), params), float(mse)


@pytest.mark.heavy
def test_potential_use_keeps_the_optimum_raw_use_changes_it(exact_small):
    ex, mse = exact_small
    assert mse < 0.25  # clean-label MSE includes the hidden right/wrong variance at each obs
    d = (np.arange(len(ex["phi"]) - 1) // 2) % (CFG.max_depth + 1)
    phi = np.asarray(ex["phi"])[:-1]
    assert phi[d == CFG.max_depth].mean() > phi[d == 0].mean() + 0.2  # learned: deep = progress
    pot, raw = ex["potential"], ex["raw"]
    assert pot["equal"] == [1.0] * 3 and pot["equal_fh"] == [1.0] * 3
    np.testing.assert_allclose(pot["success"], pot["success_opt"], atol=1e-12)
    # raw progress: c = 20 at γ = 0.9 -> staying at the high-progress max depth beats answering
    assert raw["subset"][-1] == 0.0 and raw["equal"][-1] == 0.0
    assert raw["success"][-1] < raw["success_opt"][-1] - 0.1
    assert raw["length"][-1] > raw["length_opt"][-1]


@pytest.mark.slow
def test_smoke_run_claims_figure(tmp_path):
    s = rd.Settings(data_episodes=64, rm_steps=100, exact_coefs=(0.1, 10.0), ppo_steps=8192,
                    final_window=1)  # fmt: skip
    summary = rd.run(s, seeds=2, seed=0)
    cl = rd.claims(summary)
    assert [c.id.split(".")[-1] for c in cl] == [
        "invariance_exact", "trap_exact", "safe_ppo", "trap_ppo", "speedup"
    ]  # fmt: skip
    assert cl[0].verdict == "reproduced"
    assert rd.figure(summary, cl, tmp_path).exists()
