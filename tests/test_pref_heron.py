"""HERON: the decision-tree labeller, the masked BT loss, the RM fit, and the experiment smoke."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards.heron import (
    TIE,
    batch_scale,
    check_ranking,
    decision_tree_labels,
    heron_bt_loss,
    label_accuracy,
    train_heron_rm,
)
from jaxrl.rewards.preference import RewardMLP

ORDER, SIGNS = (0, 1, 2), (-1.0, -1.0, -1.0)


def _tree_reference(fa, fb, order, signs, margins, scale):
    """The pseudo-code of papers.md §8.1, loop by loop."""
    out = []
    for a, b in zip(fa, fb, strict=True):
        lab = TIE
        for k in order:
            thr = margins[k] * scale[k]
            if signs[k] * a[k] > signs[k] * b[k] + thr:
                lab = 1.0
                break
            if signs[k] * b[k] > signs[k] * a[k] + thr:
                lab = 0.0
                break
        out.append(lab)
    return np.asarray(out)


def test_tree_levels_signs_and_ties_exact():
    scale = np.array([1.0, 1.0, 1.0])
    margins = np.array([0.5, 0.5, 0.5])
    fa = np.array([[0.0, 9, 9], [1.0, 0, 0], [0.2, 0.0, 5], [0.2, 1.0, 0], [0.0, 0, 0.4]])
    fb = np.array([[1.0, 0, 0], [0.0, 9, 9], [0.0, 1.0, 0], [0.0, 0.0, 5], [0.0, 0, 0.0]])
    got = np.asarray(decision_tree_labels(fa, fb, ORDER, SIGNS, margins, scale))
    # level 1 decides (smaller θ² wins, whatever follows); within margin -> level 2; all tie.
    np.testing.assert_array_equal(got, [1.0, 0.0, 1.0, 0.0, TIE])
    # the order matters: ranking u² first flips the first two pairs.
    got2 = np.asarray(decision_tree_labels(fa, fb, (2, 1, 0), SIGNS, margins, scale))
    np.testing.assert_array_equal(got2[:2], [0.0, 1.0])
    # margins scale with the batch std (×10 std: everything within margin but pair 0, 1)
    got3 = np.asarray(decision_tree_labels(fa, fb, ORDER, SIGNS, margins, 10 * scale))
    np.testing.assert_array_equal(got3, [0.0, 1.0, TIE, TIE, TIE])


def test_tree_matches_reference_loop_random_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        fa, fb = rng.normal(size=(2, 500, 4))
        order, signs = (2, 0, 3, 1), (1.0, -1.0, 1.0, -1.0)
        margins = np.array([1.5, 0.7, 0.3, 1.2])
        scale = np.asarray(batch_scale(np.concatenate([fa, fb])))
        got = np.asarray(decision_tree_labels(fa, fb, order, signs, margins, scale))
        want = _tree_reference(fa, fb, order, signs, margins, scale)
        np.testing.assert_array_equal(got, want)
        assert 0 < np.mean(got == TIE) < 1 and set(np.unique(got)) == {0.0, TIE, 1.0}
        # strict: a difference exactly at the margin does not decide
        lab = decision_tree_labels(np.array([[1.0]]), np.array([[0.0]]), (0,), (1.0,), [1.0], [1.0])
        assert float(lab[0]) == TIE


def test_bt_loss_masks_ties_exact():
    with jax.enable_x64(True):
        apply = lambda p, x: x[..., 0] * p  # r(x) = p·x
        x = jnp.asarray([[[1.0], [1.0]], [[0.0], [0.5]], [[1.0], [0.0]]])  # returns 2, .5, 1
        i, j = jnp.array([0, 1, 2]), jnp.array([1, 2, 0])
        labels = jnp.array([1.0, TIE, 0.0])  # pair 1 tie: no weight
        p = 0.7
        want = -(np.log(1 / (1 + np.exp(-p * 1.5))) + np.log(1 / (1 + np.exp(-p * 1.0)))) / 2
        got = float(heron_bt_loss(p, apply, x, i, j, labels))
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert float(label_accuracy(p, apply, x, i, j, labels)) == 1.0
        assert float(label_accuracy(-p, apply, x, i, j, labels)) == 0.0


@pytest.mark.heavy
def test_rm_learns_the_ranking():
    """Segments of 1-factor steps, labels from the tree: the RM's returns order held-out
    segments like the top factor."""
    key = jax.random.key(0)
    f = jax.random.normal(key, (64, 10, 2))
    tot = f.sum(1)
    i, j = jax.random.randint(jax.random.key(1), (2, 400), 0, 64)
    labels = decision_tree_labels(tot[i], tot[j], (0, 1), (1.0, 1.0), [0.1, 0.1], batch_scale(tot))
    params, losses = train_heron_rm(jax.random.key(2), f, i, j, labels, (16,), 300, 1e-2)
    assert float(losses[-1]) < 0.5 * float(losses[0])
    fh = jax.random.normal(jax.random.key(3), (200, 10, 2))
    R = RewardMLP((16,)).apply(params, fh).sum(-1)
    corr = np.corrcoef(np.asarray(R), np.asarray(fh[..., 0].sum(1)))[0, 1]
    assert corr > 0.9


def test_check_ranking_names_bad_values():
    with pytest.raises(ValueError, match="order"):
        check_ranking((0, 0, 2), SIGNS, [1, 1, 1])
    with pytest.raises(ValueError, match="signs"):
        check_ranking(ORDER, (1.0, 2.0, -1.0), [1, 1, 1])
    with pytest.raises(ValueError, match="margins"):
        check_ranking(ORDER, SIGNS, [1, -1, 1])


def test_settings_reject_bad_fields():
    from experiments.preference_rms import heron

    with pytest.raises(ValueError, match="tasks"):
        heron.Settings(tasks=("cartpole",))
    with pytest.raises(ValueError, match="data_steps"):
        heron.Settings(data_steps=70, segment_len=50)


@pytest.mark.slow  # PPO compiles: ~1 min on 2 cores
@pytest.mark.parametrize(
    "tasks", [("pendulum",), pytest.param(("pendulum", "mountaincar"), marks=pytest.mark.slow)]
)
def test_smoke_run_claims_figure(tmp_path, tasks):
    from experiments.preference_rms import heron

    s = heron.Settings(
        tasks=tasks, betas=(0.5,), data_envs=4, data_steps=100, num_pairs=64, rm_steps=20,
        ppo_steps=2048, num_envs=8, num_steps=64, update_epochs=1, num_minibatches=2,
        num_chunks=2, rm_hidden=(8,),
    )  # fmt: skip
    summary = heron.run(s, seeds=2, seed=0)
    for t in tasks:
        d = summary["tasks"][t]
        assert set(d["final_true_return"]) == {"heron", "linear β=0.5", "env"}
        assert all(len(v) == 2 and np.all(np.isfinite(v)) for v in d["final_true_return"].values())
    cl = heron.claims(summary)
    assert [c.id for c in cl] == ["preference_rms.heron.matches_linear"]
    assert cl[0].verdict in ("reproduced", "partial", "not reproduced")
    assert heron.claims({})[0].verdict == "not testable"
    path = heron.figure(summary, cl, tmp_path)
    assert path.name == "preference_rms_heron.png" and path.stat().st_size > 0
