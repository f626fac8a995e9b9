"""Ctrl-U (issue 18): ensemble BT reward models and uncertainty-rectified rewards."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards.uncertainty import (
    UncertaintyParams,
    bootstrap_counts,
    ctrl_u_reward,
    ensemble_mean_std,
    lcb_reward,
    rectify,
    soft_bt_loss,
    train_bt_ensemble,
    uncertainty_reward,
    uncertainty_weight,
)
from jaxrl.shaping.transform import Transition


def _linear(params, x):
    return x @ params


def test_soft_bt_loss_exact_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        x_a, x_b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
        theta = rng.normal(size=3)
        y = np.array([1.0, 0.0, 0.5, 1.0, 0.5, 0.0])
        w = np.array([2.0, 0.0, 1.0, 3.0, 1.0, 1.0])
        d = x_a @ theta - x_b @ theta
        ls = lambda z: -np.log1p(np.exp(-z))
        nll = -(y * ls(d) + (1 - y) * ls(-d))
        got = soft_bt_loss(jnp.asarray(theta), _linear, x_a, x_b, y, w)
        np.testing.assert_allclose(float(got), np.sum(w * nll) / np.sum(w), rtol=1e-12)
        # unweighted: plain mean; a tie's loss is symmetric in (a, b)
        got1 = soft_bt_loss(jnp.asarray(theta), _linear, x_a, x_b, y)
        np.testing.assert_allclose(float(got1), nll.mean(), rtol=1e-12)
        tie = soft_bt_loss(jnp.asarray(theta), _linear, x_a[2:3], x_b[2:3], y[2:3])
        tie_sw = soft_bt_loss(jnp.asarray(theta), _linear, x_b[2:3], x_a[2:3], y[2:3])
        np.testing.assert_allclose(float(tie), float(tie_sw), rtol=1e-12)


def test_bootstrap_counts_are_resamples():
    c = np.asarray(bootstrap_counts(jax.random.key(0), 50, 4))
    assert c.shape == (4, 50)
    np.testing.assert_array_equal(c.sum(1), 50)
    assert np.all(c >= 0) and np.all(c == np.round(c))
    assert not np.array_equal(c[0], c[1])  # members see different resamples
    assert np.mean(c == 0) > 0.25  # ≈ e⁻¹ of pairs left out per member


def test_rectified_rewards_exact():
    with jax.enable_x64(True):
        r = np.array([[1.0, -2.0, 0.5], [3.0, -2.0, 0.1], [2.0, -2.0, 0.3]])  # [E=3, 3]
        mean, std = ensemble_mean_std(jnp.asarray(r))
        np.testing.assert_allclose(mean, r.mean(0), rtol=1e-12)
        np.testing.assert_allclose(std, r.std(0), rtol=1e-12)
        assert float(std[1]) == 0.0
        w = np.exp(-r.std(0) / 0.7)
        np.testing.assert_allclose(uncertainty_weight(std, 0.7), w, rtol=1e-12)
        np.testing.assert_allclose(ctrl_u_reward(mean, std, 0.7), w * r.mean(0), rtol=1e-12)
        np.testing.assert_allclose(lcb_reward(mean, std, 2.0), r.mean(0) - 2 * r.std(0))
        # a certain reward keeps its value; weights fall with σ; κ = 0 is the plain mean
        assert float(ctrl_u_reward(mean, std, 0.7)[1]) == -2.0
        ws = uncertainty_weight(jnp.linspace(0.0, 3.0, 7), 1.0)
        assert np.all(np.diff(np.asarray(ws)) < 0) and float(ws[0]) == 1.0
        np.testing.assert_array_equal(rectify(mean, std, 0.0, "lcb"), mean)
    with pytest.raises(ValueError, match="mode='ucb'"):
        rectify(mean, std, 1.0, "ucb")


@pytest.mark.heavy
def test_ensemble_fits_and_is_uncertain_off_distribution():
    key = jax.random.key(1)
    k1, k2 = jax.random.split(key)
    x_a = jax.random.uniform(k1, (128, 1), maxval=0.3)
    x_b = jax.random.uniform(k2, (128, 1), maxval=0.3)
    label = (x_a[:, 0] > x_b[:, 0]).astype(jnp.float32)  # gold r(x) = x, noise-free
    fit = train_bt_ensemble(jax.random.key(2), x_a, x_b, label, members=5, hidden_sizes=(32,))
    assert fit.losses.shape == (5, 300)
    assert np.all(np.asarray(fit.losses[:, -1] < fit.losses[:, 0]))
    r_a, r_b = fit.rewards(x_a), fit.rewards(x_b)  # [E, N]
    acc = np.mean(np.asarray((r_a > r_b) == (label > 0.5)[None]))
    assert acc > 0.9, acc
    _, std_in = ensemble_mean_std(fit.rewards(jnp.linspace(0, 0.3, 16)[:, None]))
    _, std_out = ensemble_mean_std(fit.rewards(jnp.linspace(3.0, 4.0, 16)[:, None]))
    # members agree (up to their arbitrary offsets) where the data is, and disagree far from it
    assert float(jnp.mean(std_out)) > 2.0 * float(jnp.mean(std_in))
    with pytest.raises(ValueError, match="want \\[N, D\\]"):
        train_bt_ensemble(key, x_a[:, 0], x_b[:, 0], label)


@pytest.mark.heavy
def test_uncertainty_reward_transform_matches_rectify():
    x_a = jax.random.normal(jax.random.key(3), (32, 3))
    x_b = jax.random.normal(jax.random.key(4), (32, 3))
    fit = train_bt_ensemble(jax.random.key(5), x_a, x_b, (x_a[:, 0] > x_b[:, 0]) * 1.0, 3, (8,), 5)
    obs = jax.random.normal(jax.random.key(6), (4, 5, 2))
    act = jax.random.randint(jax.random.key(7), (4, 5), 0, 2)
    feats = lambda tr: jnp.concatenate([tr.obs, tr.action[..., None] * 1.0], -1)
    z = jnp.zeros((4, 5))
    tr = Transition(obs, act, z, obs, z > 0, z > 0, z, {}, z.astype(jnp.int32))
    x = feats(tr)
    mean, std = ensemble_mean_std(fit.rewards(x))
    for mode, coef in (("ctrl_u", 0.5), ("lcb", 1.5)):
        t = uncertainty_reward(fit.model, feats, mode)
        r, _ = t.apply(UncertaintyParams(fit.params, jnp.asarray(coef)), t.init(()), tr)
        assert r.shape == (4, 5)
        np.testing.assert_allclose(r, rectify(mean, std, coef, mode), rtol=1e-6)
    with pytest.raises(ValueError, match="mode='x'"):
        uncertainty_reward(fit.model, feats, "x")


@pytest.mark.slow  # PPO and RM compiles: ~1-2 min on 2 cores
def test_run_claims_figure_smoke(tmp_path):
    from experiments.preference_rms import ctrl_u as m

    tiny = m.Settings(num_pairs=16, members=2, rm_steps=20, rm_hidden=(8,), ppo_steps=2048,
                      smooth=2, taus=(1.0,), kappas=(1.0,))  # fmt: skip
    s = m.run(tiny, seeds=2, seed=0)
    assert s["conditions"] == ["mean", "ctrl_u tau=1", "lcb kappa=1"]
    assert np.asarray(s["gold_curve_smooth"]).shape == (2, 3, s["updates"] - 1)
    cl = m.claims(s)
    assert [c.id for c in cl] == [
        "preference_rms.ctrl_u.overopt",
        "preference_rms.ctrl_u.delay",
        "preference_rms.ctrl_u.delay_lcb",
    ]
    assert all(c.verdict != "not testable" for c in cl)
    assert m.claims({})[0].verdict == "not testable"
    p = m.figure(s, cl, tmp_path)
    assert p.name == "preference_rms_ctrl_u.png" and p.stat().st_size > 0
    with pytest.raises(ValueError, match="main_tau"):
        m.Settings(main_tau=3.0)
