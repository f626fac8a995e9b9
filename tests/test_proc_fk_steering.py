"""FK steering (jaxrl/rewards/fk_steering.py) and its process_rewards experiment."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards import fk_steering as fk

MEANS = fk.ring_means(8, 2.0)
STD = 0.15
T = 50


def _reward(x):
    return -jnp.sum((x - MEANS[0]) ** 2, -1)


@pytest.fixture(scope="module")
def fitted():
    """One DDPM fit on the 8-mode ring (~5 s): (params, losses, schedule)."""
    sched = fk.make_schedule(T)
    fit = jax.jit(
        lambda k: fk.train_ddpm(k, lambda kk, n: fk.sample_ring(kk, n, MEANS, STD), sched, 2500)
    )
    params, losses = fit(jax.random.key(0))
    return params, np.asarray(losses), sched


def _mode_hist(x):
    d = jnp.sum((x.reshape(-1, 2)[:, None] - MEANS) ** 2, -1)
    return np.bincount(np.asarray(jnp.argmin(d, -1)), minlength=8) / d.shape[0]


@pytest.mark.heavy
def test_ddpm_loss_decreases(fitted):
    _, losses, _ = fitted
    assert losses[-200:].mean() < 0.8 * losses[:50].mean(), (losses[:50].mean(), losses[-200:])


def test_sampler_reproduces_mixture(fitted):
    params, _, sched = fitted
    x = jax.jit(lambda k: fk.sample(params, k, (4000,), sched))(jax.random.key(1))
    near = np.asarray(fk.nearest_mode_distance(x, MEANS) < 3 * STD)
    assert near.mean() > 0.5, near.mean()
    np.testing.assert_allclose(np.asarray(x.mean(0)), 0.0, atol=0.15)
    var = 2.0**2 / 2 + STD**2  # per-axis variance of the ring mixture
    np.testing.assert_allclose(np.diag(np.cov(np.asarray(x).T)), var, rtol=0.15)
    assert np.abs(_mode_hist(x) - 1 / 8).max() < 0.05, _mode_hist(x)


@pytest.mark.heavy
def test_lambda_zero_is_unsteered(fitted):
    params, _, sched = fitted
    at = tuple(range(5, 50, 5))
    run = jax.jit(lambda k, lam: fk.fk_sample(params, k, sched, _reward, 1000, 4, lam, "diff", at))
    res = run(jax.random.key(2), 0.0)
    # uniform weights: the product of potentials is exactly 1 along every lineage
    assert np.all(np.asarray(res.log_prod) == 0.0) and np.all(np.asarray(res.final_log_w) == 0.0)
    plain = jax.jit(lambda k: fk.sample(params, k, (4000,), sched))(jax.random.key(3))
    tv = 0.5 * np.abs(_mode_hist(res.x0) - _mode_hist(plain)).sum()
    assert tv < 0.06, tv
    np.testing.assert_allclose(np.asarray(res.x0.reshape(-1, 2).mean(0)), 0.0, atol=0.15)
    # teeth: a positive λ moves the particle distribution toward the target mode
    steered = run(jax.random.key(2), 10.0)
    assert _mode_hist(steered.x0)[0] > 0.5


def test_potentials_hand_values():
    r, rp = jnp.array([1.5, -1.0]), jnp.array([0.5, 0.25])
    np.testing.assert_allclose(fk.log_potential("diff", 2.0, r, rp), [2.0, -2.5])
    np.testing.assert_allclose(fk.log_potential("max", 2.0, r, rp), [3.0, 0.5])
    with pytest.raises(ValueError, match="potential='add'"):
        fk.log_potential("add", 1.0, r, rp)


@pytest.mark.parametrize("kind", ["diff", "max"])
def test_potentials_telescope_float64(kind):
    with jax.enable_x64(True):
        rs = jnp.asarray(np.random.default_rng(0).normal(size=(12, 5)), jnp.float64)
        lam, r_prev, log_prod = 3.0, jnp.zeros(5, jnp.float64), jnp.zeros(5, jnp.float64)
        for r in rs[:-1]:  # intermediate steps, no resampling: one lineage per column
            log_prod = log_prod + fk.log_potential(kind, lam, r, r_prev)
            r_prev = r
        if kind == "diff":  # the intermediate sum telescopes to λ r_last
            np.testing.assert_allclose(log_prod, lam * rs[-2], rtol=0, atol=1e-12)
        total = log_prod + fk.final_log_potential(lam, rs[-1], log_prod)
        np.testing.assert_allclose(np.exp(total), np.exp(lam * rs[-1]), rtol=1e-12)


def test_sampler_lineage_telescopes_float64(fitted):
    params, _, sched = fitted
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        res = jax.jit(
            lambda k: fk.fk_sample(p64, k, sched, _reward, 64, 8, 2.0, "diff", (40, 30, 20, 10))
        )(jax.random.key(4))
        assert res.x0.dtype == jnp.float64
        # diff along each resampled lineage: Σ log G_t = λ r(x̂0) at its last resampling step
        np.testing.assert_allclose(res.log_prod, 2.0 * res.last_reward, rtol=0, atol=1e-9)
        assert np.abs(np.asarray(res.last_reward)).max() > 0  # the carry is not trivially 0
        np.testing.assert_allclose(
            res.log_prod + res.final_log_w, 2.0 * res.reward, rtol=0, atol=1e-9
        )
        assert res.x0.shape == (64, 8, 2) and res.resampled.shape == (64, 8, 2)
        np.testing.assert_allclose(res.reward.max(-1), _reward(res.best), rtol=0, atol=1e-12)


def test_resampling_count_and_unbiased():
    w = jnp.array([0.1, 0.2, 0.3, 0.4])
    keys = jax.random.split(jax.random.key(5), 20000)
    idx = jax.vmap(lambda k: fk.multinomial_resample(k, jnp.log(w)))(keys)  # [R, 4]
    assert idx.shape == (20000, 4) and idx.min() >= 0 and idx.max() <= 3
    counts = np.stack([(np.asarray(idx) == i).sum(1) for i in range(4)], 1)  # [R, 4]
    assert np.all(counts.sum(1) == 4)  # the particle count is kept
    np.testing.assert_allclose(counts.mean(0), 4 * np.asarray(w), atol=0.03)  # E[#i] = k w_i
    f = jnp.array([1.0, -2.0, 5.0, 0.5])
    np.testing.assert_allclose(np.asarray(f[idx].mean()), float(w @ f), atol=0.03)
    # zero-weight (−inf) and NaN particles are never drawn
    bad = jnp.log(jnp.array([0.0, 1.0, jnp.nan, 1.0]))
    j = jax.vmap(lambda k: fk.multinomial_resample(k, bad))(keys[:2000])
    assert not np.any(np.isin(np.asarray(j), [0, 2]))


def test_tweedie_exact_float64():
    with jax.enable_x64(True):
        sched = fk.make_schedule(T)
        x0 = jnp.asarray(np.random.default_rng(1).normal(size=(7, 2)))
        eps = jnp.asarray(np.random.default_rng(2).normal(size=(7, 2)))
        t = jnp.arange(7) * 7
        ab = sched.alpha_bars[t][:, None]
        xt = jnp.sqrt(ab) * x0 + jnp.sqrt(1 - ab) * eps
        np.testing.assert_allclose(fk.predict_x0(eps, xt, t[:, None], sched), x0, atol=1e-9)


def test_bad_inputs():
    sched = fk.make_schedule(10)
    params = fk.init_eps_mlp(jax.random.key(0), (8,))
    with pytest.raises(ValueError, match=r"\[10\]"):
        fk.fk_sample(params, jax.random.key(0), sched, _reward, 2, 2, 1.0, "diff", (10,))
    with pytest.raises(ValueError, match="num_steps=1"):
        fk.make_schedule(1)
    from experiments.process_rewards import fk_steering as m

    with pytest.raises(ValueError, match="target_mode"):
        m.Settings(target_mode=8)


@pytest.mark.slow
def test_experiment_smoke(tmp_path):
    from experiments.process_rewards import fk_steering as m

    tiny = m.Settings(fit_steps=300, particles=(2, 4), runs=16, num_steps=20, resample_end=15)
    s = m.run(tiny, seeds=2, seed=0)
    cl = m.claims(s)
    assert {c.id.split(".")[-1] for c in cl} == {
        "fit", "vs_best_of_n", "max_vs_best_of_n", "vs_unsteered", "on_manifold"
    }  # fmt: skip
    assert len(s["per_k"]["2"]["fk_diff"]["reward"]) == 2
    assert m.figure(s, cl, tmp_path).exists()
