"""Preference strength and denoising (Secrets of RLHF II): jaxrl.rewards.preference_strength."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards.preference_strength import (
    DenoiseConfig,
    bootstrap_weights,
    denoise_labels,
    pair_strength,
    strength_bt_loss,
    train_reward_models,
)


def _logsig(x):
    return -np.logaddexp(0.0, -x)


class _Linear:
    """A stand-in RM ``r(x) = x @ p`` with params ``p [F]``."""

    @staticmethod
    def apply(p, x):
        return x @ p


def test_strength_loss_exact_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        d = rng.normal(size=7)
        y = np.array([1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 1.0])
        w = np.array([1.0, 2.0, 0.0, 1.0, 1.0, 3.0, 1.0])
        m = rng.uniform(0, 1, 7)
        eps = 0.1
        got = float(strength_bt_loss(jnp.asarray(d), y, w, m, eps))
        ell = lambda x: -(1 - eps) * _logsig(x - m) - eps * _logsig(-x)
        want = np.sum(w * (y * ell(d) + (1 - y) * ell(-d))) / w.sum()
        assert got == pytest.approx(want, abs=1e-12)
        # plain BT: eps = m = 0 and hard labels is -mean log sigma(chosen - rejected)
        plain = float(strength_bt_loss(jnp.asarray(d), (d > 0) * 1.0))
        assert plain == pytest.approx(-np.mean(_logsig(np.abs(d))), abs=1e-12)
        # a margin makes the loss larger on an agreeing pair; smoothing penalises confidence
        assert float(strength_bt_loss(jnp.asarray([3.0]), [1.0], margin=1.0)) > float(
            strength_bt_loss(jnp.asarray([3.0]), [1.0])
        )
        g = jax.grad(lambda x: strength_bt_loss(x, jnp.ones(1), smoothing=0.2))(jnp.asarray([9.0]))
        assert float(g[0]) > 0  # with smoothing a very confident margin is pushed back


def test_bootstrap_weights_are_resample_counts():
    w = np.asarray(bootstrap_weights(jax.random.key(0), 4, 50))
    assert w.shape == (4, 50)
    np.testing.assert_array_equal(w.sum(1), 50)
    assert np.all(w == np.round(w)) and np.all(w >= 0)
    assert 0.2 < np.mean(w == 0) < 0.55  # out-of-bag fraction ≈ (1 − 1/N)^N ≈ 0.37
    assert not np.array_equal(w[0], w[1])


def test_pair_strength_mean_std_oriented_and_out_of_bag():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        P = rng.normal(size=(5, 3))  # 5 members, linear RMs
        xa, xb = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
        y = np.array([1.0, 0.0, 1.0, 0.0, 0.5, 1.0])
        mean, std = pair_strength(jnp.asarray(P), _Linear, xa, xb, y)
        d = (xa - xb) @ P.T  # [N, M]
        sign = np.where(y < 0.5, -1.0, 1.0)
        np.testing.assert_allclose(np.asarray(mean), sign * d.mean(1), atol=1e-12)
        np.testing.assert_allclose(np.asarray(std), d.std(1), atol=1e-12)
        hold = rng.random((5, 6)) < 0.5
        hold[:, 0] = False  # pair 0: no member held it out -> all members vote
        mean_h, _ = pair_strength(jnp.asarray(P), _Linear, xa, xb, y, hold)
        for n in range(6):
            voters = hold[:, n] if hold[:, n].any() else np.ones(5, bool)
            assert float(mean_h[n]) == pytest.approx(sign[n] * d[n, voters].mean(), abs=1e-12)


def test_denoise_flips_drops_and_margins():
    label = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.5, 1.0, 0.0, 1.0])
    mean = jnp.array([2.0, -3.0, 0.1, 1.5, -0.05, -0.2, -4.0, 3.0, 1.0, -1.5])
    rms = float(jnp.sqrt(jnp.mean(mean**2)))
    # defaults are plain BT: nothing changes
    y, w, m = denoise_labels(label, mean, DenoiseConfig())
    np.testing.assert_array_equal(y, label)
    np.testing.assert_array_equal(w, 1.0)
    np.testing.assert_array_equal(m, 0.0)
    cfg = DenoiseConfig(flip_z=0.5, drop_fraction=0.2, smoothing=0.1, margin_coef=2.0).check()
    y, w, m = denoise_labels(label, mean, cfg)
    flip = (np.asarray(mean) < -0.5 * rms) & (np.asarray(label) != 0.5)
    assert flip.tolist() == [False, True, False, False, False, False, False, False, False, True]
    np.testing.assert_array_equal(np.asarray(y), np.where(flip, 1 - label, label))
    mu2 = np.where(flip, -np.asarray(mean), np.asarray(mean))
    # the two smallest |mu'| (pairs 4 and 2) are dropped
    np.testing.assert_array_equal(np.asarray(w), np.where(np.isin(np.arange(10), [2, 4]), 0, 1))
    np.testing.assert_allclose(np.asarray(m), 2.0 * np.maximum(mu2, 0.0), rtol=1e-6)


@pytest.mark.parametrize(
    "bad", [dict(flip_z=-1.0), dict(drop_fraction=1.0), dict(smoothing=0.5), dict(margin_coef=-1)]
)
def test_denoise_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        DenoiseConfig(**bad).check()


@pytest.mark.heavy
def test_train_reward_models_fits_and_weights_matter():
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=4)
    xa, xb = rng.normal(size=(128, 4)), rng.normal(size=(128, 4))
    y = ((xa - xb) @ w_true > 0).astype(np.float32)
    bad = 1.0 - y  # every label flipped
    S = 2
    rep = lambda v: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (S, *np.shape(v)))
    # model 0: all true labels; model 1: true labels on the first half, flipped labels with
    # weight 0 on the second half (a dropped pair must not move the fit)
    labels = jnp.stack([jnp.asarray(y), jnp.concatenate([jnp.asarray(y[:64]), bad[64:]])])
    weights = jnp.stack([jnp.ones(128), jnp.concatenate([jnp.ones(64), jnp.zeros(64)])])
    params, model = train_reward_models(
        jax.random.split(jax.random.key(0), S), rep(xa), rep(xb), labels, weights,
        jnp.zeros((S, 128)), 0.0, hidden_sizes=(16,), steps=200,
    )  # fmt: skip
    d = jax.vmap(lambda p: model.apply(p, jnp.asarray(xa)) - model.apply(p, jnp.asarray(xb)))(
        params
    )
    acc = np.mean(np.sign(np.asarray(d)) == np.sign((xa - xb) @ w_true)[None], axis=1)
    assert acc[0] > 0.9 and acc[1] > 0.85  # the zero-weight flipped half did not hurt model 1


@pytest.mark.slow  # PPO and RM compiles: ~1-2 min on 2 cores
def test_strength_experiment_smoke(tmp_path):
    from experiments.preference_rms import strength as m

    tiny = m.Settings(
        num_prompts=3, num_responses=6, num_pairs=48, num_test_pairs=64, flip_rates=(0.3,),
        members=2, hidden=8, rm_steps=10, ppo_steps=1024,
    )  # fmt: skip
    s = m.run(tiny, seeds=2, seed=0)
    assert set(s["conditions"]["0.3"]["accuracy"]) == {"bt", "recipe"}
    assert len(s["conditions"]["0.3"]["gold_reward"]["recipe"]) == 2
    cl = m.claims(s)
    assert [c.id for c in cl] == [f"preference_rms.strength.{t}" for t in ("accuracy",
                                  "gold_reward", "both")]  # fmt: skip
    assert all(c.verdict != "not testable" for c in cl)
    assert m.claims({})[0].verdict == "not testable"
    path = m.figure(s, cl, tmp_path)
    assert path.name == "preference_rms_strength.png" and path.stat().st_size > 0
    with pytest.raises(ValueError, match="flip_rates"):
        m.Settings(flip_rates=(0.6,))
