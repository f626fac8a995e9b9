"""OPRL implicit PRM (jaxrl.rewards.oprl): tree layout, closed-form optimum, DPO training."""

import jax
import numpy as np
import pytest

from jaxrl.rewards.oprl import (
    TokenTree,
    bradley_terry_pairs,
    dpo_loss,
    implicit_step_rewards,
    optimal_logits,
    soft_values,
    train_implicit_prm,
    trajectory_log_ratio,
    tree_paths,
)


def test_tree_paths_layout():
    tree = TokenTree(depth=2, branch=2, outcomes=2)
    p = tree_paths(tree)
    assert tree.level_sizes == [1, 4, 16] and tree.n_internal == 5
    assert p.nodes.shape == (16, 2)
    np.testing.assert_array_equal(p.nodes[:, 0], 0)
    np.testing.assert_array_equal(p.next_nodes[:, -1], 5 + np.arange(16))  # leaf ℓ ends path ℓ
    # leaf 13: level-1 child 13 // 4 = 3 (action 1), then child 13 of node 3 (action 6 % 2 = 0)
    np.testing.assert_array_equal(p.actions[13], [1, 0])
    np.testing.assert_array_equal(p.nodes[13], [0, 1 + 3])


@pytest.mark.heavy
def test_trained_prm_reaches_the_kl_regularised_optimum():
    with jax.enable_x64(True):
        tree = TokenTree(depth=3, branch=2)
        rng = np.random.default_rng(0)
        log_ref = np.log(rng.dirichlet(np.ones(2), tree.n_internal))
        r = rng.standard_normal(tree.n_leaves)
        paths, prefs, beta = tree_paths(tree), bradley_terry_pairs(r), 0.7
        fit = train_implicit_prm(log_ref, beta, paths, prefs)
        assert float(fit.grad_norm) < 1e-10
        star = optimal_logits(tree, log_ref, r, beta)
        pi = jax.nn.softmax(fit.logits, -1)
        np.testing.assert_allclose(pi, jax.nn.softmax(star, -1), atol=1e-9)
        assert float(fit.loss) <= float(dpo_loss(star, log_ref, beta, paths, prefs)) + 1e-12
        # β log π_φ(τ)/π_ref(τ) = r(τ) − V(root): the step rewards sum to it
        z = implicit_step_rewards(fit.logits, log_ref, beta, paths).sum(-1)
        V = soft_values(tree, log_ref, r, beta)
        np.testing.assert_allclose(z, r - V[0], atol=1e-9)
        np.testing.assert_allclose(trajectory_log_ratio(fit.logits, log_ref, beta, paths), z)
