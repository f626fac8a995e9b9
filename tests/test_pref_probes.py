"""MRMBench probes (issue 18): hidden features, ridge probes, ranking accuracy, Spearman."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import spearmanr

from jaxrl.analysis.probes import (
    bootstrap_spearman,
    fit_ridge,
    hidden_features,
    probe_scores,
    ranking_accuracy,
    reward_head,
    spearman,
)
from jaxrl.rewards.preference import RewardMLP


@pytest.mark.heavy
@pytest.mark.parametrize("hidden,act", [((8,), "relu"), ((16, 8), "tanh"), ((4, 6, 5), "gelu")])
def test_hidden_features_reproduce_the_reward_through_the_head(hidden, act):
    model = RewardMLP(hidden, act)
    x = jax.random.normal(jax.random.key(0), (3, 7, 5))
    params = model.init(jax.random.key(1), x[0, :1])
    phi = hidden_features(model, params, x)
    assert phi.shape == (3, 7, hidden[-1])
    w, b = reward_head(model, params)
    np.testing.assert_allclose(phi @ w + b, model.apply(params, x), rtol=1e-5, atol=1e-6)
    if act == "relu":
        assert float(jnp.min(phi)) >= 0.0  # post-activation, not the Dense output


def test_hidden_features_rejects_a_model_without_hidden_layer():
    model = RewardMLP(())
    params = model.init(jax.random.key(0), jnp.ones((1, 3)))
    with pytest.raises(ValueError, match="no hidden layer"):
        hidden_features(model, params, jnp.ones((2, 3)))


def test_ridge_matches_the_normal_equations_in_float64():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(40, 6)) * np.array([1, 2, 3, 0.5, 1, 4]) + 3.0
    y = rng.normal(size=40)
    l2 = 0.3
    with jax.enable_x64(True):
        probe = fit_ridge(jnp.asarray(phi), jnp.asarray(y), l2)
        pred = np.asarray(probe(jnp.asarray(phi)))
    # the same estimator written out: centre, one common scale s, (ZᵀZ + l2·N·I) v = Zᵀ(y − ȳ)
    mu, s = phi.mean(0), np.sqrt(phi.var(0).mean()) + 1e-8
    z = (phi - mu) / s
    v = np.linalg.solve(z.T @ z + l2 * 40 * np.eye(6), z.T @ (y - y.mean()))
    np.testing.assert_allclose(pred, z @ v + y.mean(), rtol=1e-10, atol=1e-12)


def test_ridge_recovers_a_linear_target_as_l2_vanishes():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(50, 4))
    w_true, c_true = np.array([1.0, -2.0, 0.5, 3.0]), 0.7
    with jax.enable_x64(True):
        probe = fit_ridge(jnp.asarray(phi), jnp.asarray(phi @ w_true + c_true), 1e-12)
        np.testing.assert_allclose(np.asarray(probe.w), w_true, atol=1e-8)
        np.testing.assert_allclose(float(probe.c), c_true, atol=1e-8)
        big = fit_ridge(jnp.asarray(phi), jnp.asarray(phi @ w_true + c_true), 1e6)
    assert np.max(np.abs(np.asarray(big.w))) < 1e-4  # heavy ridge shrinks to the mean


def _brute_accuracy(score, target, w):
    num = den = 0.0
    for g in range(score.shape[0]):
        for a, b in itertools.combinations(range(score.shape[1]), 2):
            dt = np.sign(target[g, a] - target[g, b])
            if dt == 0:
                continue
            ds = np.sign(score[g, a] - score[g, b])
            pw = w[g, a] * w[g, b]
            num += pw * (1.0 if ds == dt else 0.5 if ds == 0 else 0.0)
            den += pw
    return num / den


def test_ranking_accuracy_against_brute_force_with_ties_and_weights():
    rng = np.random.default_rng(2)
    score = rng.integers(0, 4, (3, 7)).astype(np.float64)  # many ties in the score
    target = rng.integers(0, 5, (3, 7)).astype(np.float64)  # and some in the target
    w = rng.uniform(0.1, 1.0, (3, 7))
    with jax.enable_x64(True):
        got = float(ranking_accuracy(jnp.asarray(score), jnp.asarray(target), jnp.asarray(w)))
        plain = float(ranking_accuracy(jnp.asarray(score), jnp.asarray(target)))
    assert got == pytest.approx(_brute_accuracy(score, target, w), abs=1e-12)
    assert plain == pytest.approx(_brute_accuracy(score, target, np.ones_like(w)), abs=1e-12)
    t = jnp.asarray(target)
    assert float(ranking_accuracy(t, t)) == 1.0 and float(ranking_accuracy(-t, t)) == 0.0


@pytest.mark.heavy
def test_probe_scores_separate_informative_from_uninformative_features():
    rng = np.random.default_rng(3)
    P, K, H = 4, 20, 6
    attrs = rng.normal(size=(P, K, 2))
    informative = np.concatenate([attrs, rng.normal(size=(P, K, H - 2))], -1)  # linear in φ
    noise = rng.normal(size=(P, K, H))
    tr, te = np.arange(0, K, 2), np.arange(1, K, 2)
    acc, r2 = probe_scores(jnp.asarray(informative), jnp.asarray(attrs), tr, te, 1e-4)
    assert acc.shape == r2.shape == (2,)
    assert np.all(np.asarray(acc) > 0.98) and np.all(np.asarray(r2) > 0.98)
    acc0, r20 = probe_scores(jnp.asarray(noise), jnp.asarray(attrs), tr, te, 1e-4)
    assert np.all(np.asarray(acc0) < 0.75) and np.all(np.asarray(r20) < 0.3)


def test_spearman_matches_scipy_and_bootstrap_is_paired():
    rng = np.random.default_rng(4)
    y = rng.normal(size=12)
    x = np.round(y + rng.normal(size=12), 0)  # ties
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert spearman(np.exp(y), y) == pytest.approx(1.0)
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))
    rho, boot = bootstrap_spearman(np.stack([y, x, y]), y, n_boot=200, seed=0)
    assert boot.shape == (200, 3) and rho[0] == pytest.approx(1.0)
    np.testing.assert_array_equal(boot[:, 0], boot[:, 2])  # the same resamples for every row
    assert np.nanmin(boot[:, 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n >= 3"):
        bootstrap_spearman(np.ones((1, 2)), np.ones(2))


@pytest.mark.slow  # PPO and RM compiles: ~1-2 min on 2 cores
def test_smoke_run_claims_figure(tmp_path):
    from experiments.preference_rms import probes as m

    tiny = m.Settings(
        num_prompts=3,
        num_responses=8,
        pair_counts=(8, 64),
        flip_rates=(0.0, 0.4),
        rm_hidden=(8,),
        rm_steps=20,
        ppo_steps=1024,
    )
    s = m.run(tiny, seeds=2, seed=0)
    assert s["num_rms"] == 8 and len(s["gold"]) == 8 and np.all(np.isfinite(s["gold"]))
    assert np.asarray(s["probe_acc"]).shape == (8, 3)
    cl = m.claims(s)
    assert [c.id for c in cl] == [
        "preference_rms.probes.correlation",
        "preference_rms.probes.vs_accuracy",
    ]
    assert all(c.verdict in ("reproduced", "partial", "not reproduced", "not testable") for c in cl)
    assert m.claims({"gold": [0.1]})[0].verdict == "not testable"
    path = m.figure(s, cl, tmp_path)
    assert path.name == "preference_rms_probes.png" and path.stat().st_size > 0
    with pytest.raises(ValueError, match="flip_rates"):
        m.Settings(flip_rates=(1.5,))
