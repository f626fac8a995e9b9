"""VPL (jaxrl.rewards.vpl): encoder invariances, exact loss pieces, learning two user types,
and a smoke run of the experiment module."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards.vpl import (
    UserPairs,
    VPLModel,
    encode_mean,
    gaussian_kl,
    latent_reward,
    resplit,
    soft_bt_nll,
    train_vpl,
    user_pairs,
    vpl_loss,
)


def _pairs(key, B=3, N=5, F=6):
    k1, k2, k3 = jax.random.split(key, 3)
    lab = (jax.random.uniform(k3, (B, N)) < 0.5).astype(jnp.float32)
    return user_pairs(jax.random.normal(k1, (B, N, F)), jax.random.normal(k2, (B, N, F)), lab)


@pytest.mark.heavy
def test_encoder_is_permutation_invariant_and_ignores_masked_pairs():
    model = VPLModel(3, (16,))
    ctx = _pairs(jax.random.key(0))
    params = model.init(jax.random.key(1), ctx, ctx.x_a[:, :1])
    mu = encode_mean(params, model, ctx)
    perm = jnp.array([3, 0, 4, 1, 2])
    mu_p = encode_mean(params, model, UserPairs(*(a[:, perm] for a in ctx)))
    np.testing.assert_allclose(mu, mu_p, atol=1e-5)
    # a masked pair with garbage content changes nothing
    junk = ctx._replace(
        x_a=ctx.x_a.at[:, -1].set(100.0), mask=ctx.mask.at[:, -1].set(0.0)
    )  # fmt: skip
    short = UserPairs(*(a[:, :-1] for a in ctx))
    np.testing.assert_allclose(
        encode_mean(params, model, junk), encode_mean(params, model, short), atol=1e-5
    )
    assert not np.allclose(mu, encode_mean(params, model, ctx._replace(label=1 - ctx.label)))


def test_soft_bt_nll_and_kl_exact():
    with jax.enable_x64(True):
        d = jnp.array([0.3, -1.2, 2.0], jnp.float64)
        y = jnp.array([1.0, 0.0, 0.5], jnp.float64)
        want = [np.log1p(np.exp(-0.3)), np.log1p(np.exp(-1.2)),
                0.5 * np.log1p(np.exp(-2.0)) + 0.5 * np.log1p(np.exp(2.0))]  # fmt: skip
        np.testing.assert_allclose(soft_bt_nll(d, 0.0 * d, y), want, rtol=1e-12)
        mu, lv = jnp.array([[0.5, -1.0]]), jnp.array([[np.log(2.0), 0.0]])
        want_kl = 0.5 * (2.0 + 0.25 - 1 - np.log(2.0)) + 0.5 * (1.0 + 1.0 - 1.0)
        np.testing.assert_allclose(gaussian_kl(mu, lv), [want_kl], rtol=1e-12)
        assert float(gaussian_kl(jnp.zeros((1, 4)), jnp.zeros((1, 4)))[0]) == 0.0


def test_resplit_keeps_each_users_pairs():
    pairs = _pairs(jax.random.key(2), B=2, N=6)
    ctx, tgt = resplit(jax.random.key(3), pairs, 2)
    assert ctx.label.shape == (2, 2) and tgt.label.shape == (2, 4)
    for b in range(2):
        got = np.sort(np.concatenate([ctx.x_a[b, :, 0], tgt.x_a[b, :, 0]]))
        np.testing.assert_allclose(got, np.sort(pairs.x_a[b, :, 0]))
    with pytest.raises(ValueError, match="context_size"):
        resplit(jax.random.key(0), pairs, 6)


@pytest.mark.heavy
def test_vpl_loss_kl_weight_enters_linearly():
    model = VPLModel(2, (8,))
    pairs = _pairs(jax.random.key(4), B=4, N=6)
    ctx, tgt = resplit(jax.random.key(5), pairs, 3)
    params = model.init(jax.random.key(6), ctx, ctx.x_a[:, :1])
    l0, (nll0, kl0) = vpl_loss(params, model, ctx, tgt, jax.random.key(7), 0.0)
    l1, (nll1, kl1) = vpl_loss(params, model, ctx, tgt, jax.random.key(7), 1.0)
    np.testing.assert_allclose(float(l0), float(nll0), rtol=1e-6)
    np.testing.assert_allclose(float(l1 - l0), float(kl1) / tgt.label.shape[1], rtol=1e-5)


@pytest.mark.heavy
def test_vpl_learns_opposite_user_types_that_one_bt_model_cannot():
    """Two types with opposite utilities on 6 items: a unimodal model is at chance on each
    type, VPL's few-shot z ranks each type's held-out pairs correctly."""
    F, B, M = 6, 64, 12
    items = jnp.eye(F)
    util = jnp.arange(F, dtype=jnp.float32)
    key = jax.random.key(0)

    def users(key, types):
        k_a, k_b = jax.random.split(key)
        a = jax.random.randint(k_a, (types.shape[0], M), 0, F)
        b = (a + jax.random.randint(k_b, a.shape, 1, F)) % F
        sign = jnp.where(types[:, None] == 0, 1.0, -1.0)
        lab = (sign * (util[a] - util[b]) > 0).astype(jnp.float32)
        return user_pairs(items[a], items[b], lab), sign * (util[a] - util[b])

    types = jnp.arange(B) % 2
    train, _ = users(key, types)
    model = VPLModel(2, (32, 32))
    fit = train_vpl(jax.random.key(1), model, train, 4, steps=600, learning_rate=1e-2, beta=0.01)
    test, g = users(jax.random.key(2), jnp.array([0, 1] * 8))
    ctx = UserPairs(*(a[:, :4] for a in test))
    z = encode_mean(fit.params, model, ctx)
    d = latent_reward(fit.params, model, test.x_a[:, 4:], z[:, None]) - latent_reward(
        fit.params, model, test.x_b[:, 4:], z[:, None]
    )
    acc = float(jnp.mean(jnp.sign(d) == jnp.sign(g[:, 4:])))
    assert acc > 0.9, acc
    assert float(fit.losses[-50:].mean()) < float(fit.losses[:50].mean())


def test_settings_reject_bad_values():
    from experiments.preference_rms import vpl as m

    with pytest.raises(ValueError, match="context_pairs"):
        m.QUICK.replace(context_pairs=9)
    with pytest.raises(ValueError, match="flip_rate"):
        m.QUICK.replace(flip_rate=0.6)


@pytest.mark.slow  # PPO and RM compiles: ~1-2 min on 2 cores
def test_smoke_run_claims_figure(tmp_path):
    from experiments.preference_rms import vpl as m

    tiny = m.Settings(train_users=16, target_pairs=4, rm_steps=20, users_per_batch=8,
                      eval_users=2, eval_pairs=8, ppo_steps=1024)  # fmt: skip
    s = m.run(tiny, seeds=2, seed=0)
    assert len(s["acc_vpl"]) == 2 and len(s["acc_vpl"][0]) == 2
    cl = m.claims(s)
    assert [c.id for c in cl] == [f"preference_rms.vpl.{t}" for t in ("acc", "gold", "each")]
    assert all(c.verdict != "not testable" for c in cl)
    path = m.figure(s, cl, tmp_path)
    assert path.name == "preference_rms_vpl.png" and path.stat().st_size > 0
    assert all(c.verdict == "not testable" for c in m.claims({}))
