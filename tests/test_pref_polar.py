"""POLAR (policy discriminators as reward models): component and experiment smoke tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.preference_rms import polar as exp
from jaxrl.envs.preference_testbed import PreferenceTestbedConfig, build_preference_testbed
from jaxrl.rewards.polar import (
    PolicyDiscriminator,
    polar_accuracy,
    polar_batch,
    polar_loss,
    polar_reward,
    sample_table,
    train_polar,
    triplet_scores,
)


@pytest.fixture(scope="module")
def tb():
    return build_preference_testbed(PreferenceTestbedConfig(num_prompts=4, num_responses=8))


def test_sample_table_matches_softmax():
    logits = jnp.array([[2.0, 0.0, -1.0, 0.5], [0.0, 0.0, 3.0, -2.0]])
    p, a = sample_table(jax.random.key(0), logits, 200_000)
    probs = np.asarray(jax.nn.softmax(logits, -1))
    for q in range(2):
        freq = np.bincount(np.asarray(a[p == q]), minlength=4) / np.sum(p == q)
        np.testing.assert_allclose(freq, probs[q], atol=0.01)
    assert abs(float(jnp.mean(p == 0)) - 0.5) < 0.01


@pytest.mark.heavy
def test_polar_batch_contrasts_different_policies():
    # Two deterministic policies (one response each): pos is always policy i's, neg policy j's.
    pop = jnp.array([[[30.0, 0.0, 0.0]], [[0.0, 0.0, 30.0]], [[0.0, 30.0, 0.0]]])  # [3, 1, 3]
    b = polar_batch(jax.random.key(1), pop, 512, 5)
    assert bool(jnp.all(b.pos != b.neg))  # j != i, and the three policies' modes differ
    assert bool(jnp.all(b.ref_a == b.pos[:, None]))  # refs and pos come from the same policy
    m = np.asarray(b.mask.sum(1))
    assert m.min() == 1 and m.max() == 5  # reference-set sizes span 1..M
    np.testing.assert_array_equal(np.asarray(b.mask), np.arange(5)[None] < m[:, None])


@pytest.mark.heavy
def test_discriminator_is_permutation_invariant_and_masks(tb):
    model = PolicyDiscriminator(hidden_sizes=(16,), embed_dim=8)
    F = tb.features.shape[-1]
    refs = jax.random.normal(jax.random.key(0), (5, F))
    cand = jax.random.normal(jax.random.key(1), (F,))
    params = model.init(jax.random.key(2), refs, jnp.ones(5), cand)
    r = model.apply(params, refs, jnp.ones(5), cand)
    r_perm = model.apply(params, refs[::-1], jnp.ones(5), cand)
    np.testing.assert_allclose(r, r_perm, rtol=1e-5)
    # masked entries do not count: 3 real refs + 2 garbage = the 3 refs alone
    junk = jnp.concatenate([refs[:3], 1e3 * jnp.ones((2, F))])
    r_mask = model.apply(params, junk, jnp.array([1.0, 1, 1, 0, 0]), cand)
    np.testing.assert_allclose(r_mask, model.apply(params, refs[:3], jnp.ones(3), cand), rtol=1e-5)
    # polar_reward (all refs, whole table) agrees with the module's call on one candidate
    table = polar_reward(params, model, refs, tb.features)
    assert table.shape == tb.features.shape[:2]
    direct = model.apply(params, refs, jnp.ones(5), tb.features[1, 2])
    np.testing.assert_allclose(table[1, 2], direct, rtol=1e-5)


@pytest.mark.heavy
def test_loss_is_the_bt_contrastive_objective(tb):
    """polar_loss = −mean log σ(r⁺ − r⁻) with r from the module's own call (float64)."""
    with jax.enable_x64(True):
        model = PolicyDiscriminator(hidden_sizes=(8,), embed_dim=4)
        feats = jnp.asarray(tb.features, jnp.float64)
        pop = jax.random.normal(jax.random.key(3), (4, *feats.shape[:2]), jnp.float64)
        b = polar_batch(jax.random.key(4), pop, 16, 3)
        F = feats.shape[-1]
        params = model.init(jax.random.key(5), jnp.zeros((1, 3, F)), jnp.ones((1, 3)),
                            jnp.zeros((1, F)))  # fmt: skip
        refs, mask = feats[b.ref_p, b.ref_a], jnp.asarray(b.mask, jnp.float64)
        r_pos = np.asarray(model.apply(params, refs, mask, feats[b.p, b.pos]))
        r_neg = np.asarray(model.apply(params, refs, mask, feats[b.p, b.neg]))
        want = np.mean(np.log1p(np.exp(-(r_pos - r_neg))))
        got = float(polar_loss(params, model, feats, b))
        np.testing.assert_allclose(got, want, rtol=1e-10)
        s_pos, s_neg = triplet_scores(params, model, feats, b)
        np.testing.assert_allclose(s_pos, r_pos, rtol=1e-10)
        acc = float(polar_accuracy(params, model, feats, b))
        d = r_pos - r_neg
        np.testing.assert_allclose(acc, np.mean(np.where(d == 0, 0.5, d > 0)), rtol=1e-12)


@pytest.mark.heavy
def test_pretraining_learns_to_discriminate_held_out_policies(tb):
    """After pre-training, the discriminator beats chance on policies it never saw, and its
    reward for a held-out target correlates with the target's log-probability."""
    model = PolicyDiscriminator(hidden_sizes=(32, 32), embed_dim=16)
    fam = lambda k, n: exp.policy_family(k, tb.attributes, n, 2.0, 4.0)
    fit = train_polar(jax.random.key(0), fam(jax.random.key(1), 32), tb.features, model,
                      steps=400, batch=64, max_refs=16)  # fmt: skip
    assert float(fit.losses[-50:].mean()) < float(fit.losses[:10].mean()) - 0.1
    held = polar_batch(jax.random.key(2), fam(jax.random.key(3), 16), 2048, 16)
    untrained = model.init(jax.random.key(9), jnp.zeros((1, 16, tb.features.shape[-1])),
                           jnp.ones((1, 16)), jnp.zeros((1, tb.features.shape[-1])))  # fmt: skip
    acc = float(polar_accuracy(fit.params, model, tb.features, held))
    acc0 = float(polar_accuracy(untrained, model, tb.features, held))
    assert acc > 0.65 and acc > acc0 + 0.1, (acc, acc0)
    target = fam(jax.random.key(7), 1)[0]
    p, a = sample_table(jax.random.key(8), target, 16)
    r = polar_reward(fit.params, model, tb.features[p, a], tb.features)
    lt = jax.nn.log_softmax(target, -1)
    r0 = polar_reward(untrained, model, tb.features[p, a], tb.features)
    corr = lambda x: np.mean([np.corrcoef(x[q], lt[q])[0, 1] for q in range(x.shape[0])])
    assert corr(r) > 0.3 and corr(r) > corr(r0) + 0.2, (corr(r), corr(r0))


def test_divergences_exact():
    t = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    pi = jnp.log(jnp.array([[[0.25, 0.25, 0.5]]]))
    kl, tv = exp.divergences(pi, t)
    np.testing.assert_allclose(kl, [0.25 * np.log(0.5) + 0.5 * np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(tv, [0.25], rtol=1e-6)
    kl0, tv0 = exp.divergences(t[None], t)
    np.testing.assert_allclose([kl0[0], tv0[0]], [0.0, 0.0], atol=1e-7)


def test_bad_input_named():
    with pytest.raises(ValueError, match="population"):
        train_polar(jax.random.key(0), jnp.zeros((1, 2, 3)), jnp.zeros((2, 3, 4)),
                    PolicyDiscriminator())  # fmt: skip
    with pytest.raises(ValueError, match="features shape"):
        train_polar(jax.random.key(0), jnp.zeros((2, 2, 3)), jnp.zeros((2, 4, 4)),
                    PolicyDiscriminator())  # fmt: skip
    with pytest.raises(ValueError, match="flip_rate"):
        exp.Settings(flip_rate=0.7)
    with pytest.raises(ValueError, match="bt_pairs"):
        exp.Settings(bt_pairs="gold")


@pytest.mark.slow  # PPO compiles: ~1 min on 2 cores
def test_smoke_run_claims_figure(tmp_path):
    s = exp.Settings(num_prompts=4, num_responses=8, labels=(4,), population=8,
                     pretrain_steps=30, pretrain_batch=16, bt_steps=20, ppo_steps=1024,
                     eval_policies=4)  # fmt: skip
    out = exp.run(s, seeds=2, seed=0)
    assert len(out["kl_polar_4"]) == 2 and len(out["kl_bt_4"]) == 2
    assert all(np.isfinite(out["kl_polar_4"] + out["kl_bt_4"] + out["kl_oracle"]))
    assert all(x >= 0 for x in out["kl_polar_4"] + out["tv_bt_4"])
    cl = exp.claims(out)
    ids = ["preference_rms.polar.closer", "preference_rms.polar.discriminates"]
    assert [c.id for c in cl] == ids
    assert cl[0].verdict in ("reproduced", "partial", "not reproduced")
    path = exp.figure(out, cl, tmp_path)
    assert path.name == "preference_rms_polar.png" and path.stat().st_size > 0
    missing = exp.claims({"labels": [4]})
    assert all(c.verdict == "not testable" for c in missing)
