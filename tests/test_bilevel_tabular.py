"""jaxrl.bilevel.tabular: the exact tabular BARFI problem (entropy-regularised inner return,
anchored logits, the biased γ^t-dropping field, Newton solve)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.bilevel import dense_jacobian
from jaxrl.bilevel.tabular import (
    biased_inner_grad,
    entropy_regularized_return,
    inner_grad,
    inner_mdp,
    make_problem,
    newton_solve,
    pinned_mask,
    policy_gradient_field,
)
from jaxrl.mdp import discounted_visits, expected_return, softmax_policy
from jaxrl.shaping.blend import init_blend_params
from theory_checks.harness import numpy_mdp

S, A = 4, 3


def _setup(**coefs):
    rng = np.random.default_rng(0)
    mdp = numpy_mdp(0, S, A, 0.8, n_terminal=1)  # call under jax.enable_x64
    prob = make_problem(mdp, rng.standard_normal((S, A, S)), **coefs)
    phi = init_blend_params(S, gamma_init=0.7, dtype=jnp.float64)
    phi = phi._replace(weight=jnp.asarray(0.3 * rng.standard_normal((S, 2))))
    return prob, phi, jnp.asarray(rng.standard_normal((S, A)))


def test_entropy_return_is_return_plus_discounted_entropy():
    with jax.enable_x64(True):
        prob, phi, theta = _setup()
        mdp, pi = inner_mdp(phi, prob), softmax_policy(theta)
        ent = -jnp.sum(pi * jnp.log(pi), -1)
        nu = jnp.sum(discounted_visits(mdp, pi), -1)
        want = expected_return(mdp, pi) + 0.7 * jnp.sum(nu * ent)
        np.testing.assert_allclose(entropy_regularized_return(mdp, pi, 0.7), want, rtol=1e-12)
        np.testing.assert_allclose(
            entropy_regularized_return(mdp, pi, 0.0), expected_return(mdp, pi), rtol=1e-12
        )


@pytest.mark.heavy
def test_policy_gradient_theorem_matches_autodiff():
    """With visits under γ_φ the field is −inner_grad + ∇penalty (soft PG theorem)."""
    with jax.enable_x64(True):
        prob, phi, theta = _setup(l2=0.1, entropy=0.5, anchor=0.3)
        pen = 0.1 * theta + 0.3 * pinned_mask(prob, A) * theta
        field = policy_gradient_field(theta, phi, prob)
        np.testing.assert_allclose(field - pen, -inner_grad(theta, phi, prob), atol=1e-12)


@pytest.mark.heavy
def test_anchored_entropy_root_is_nonsingular_and_unanchored_is_singular():
    with jax.enable_x64(True):
        prob, phi, _ = _setup(entropy=1.0, anchor=1.0)
        theta = newton_solve(inner_grad, jnp.zeros((S, A)), phi, (prob,))
        assert float(jnp.max(jnp.abs(inner_grad(theta, phi, prob)))) < 1e-10
        np.testing.assert_allclose(theta[:, 0], 0.0, atol=1e-10)  # the anchor holds exactly
        lam = np.linalg.eigvalsh(np.asarray(dense_jacobian(inner_grad, theta, phi, (prob,))))
        assert lam[0] > 1e-6
        free = prob._replace(anchor=jnp.asarray(0.0))
        lam0 = np.linalg.eigvalsh(np.asarray(dense_jacobian(inner_grad, theta, phi, (free,))))
        assert abs(lam0[0]) < 1e-10  # shift invariance: singular H


@pytest.mark.heavy
def test_biased_field_is_not_a_gradient_and_differs_from_the_true_one():
    with jax.enable_x64(True):
        prob, phi, theta = _setup(l2=0.1)
        H = np.asarray(dense_jacobian(biased_inner_grad, theta, phi, (prob,)))
        assert np.max(np.abs(H - H.T)) > 1e-6
        diff = biased_inner_grad(theta, phi, prob) - inner_grad(theta, phi, prob)
        assert float(jnp.max(jnp.abs(diff))) > 1e-6
        root = newton_solve(biased_inner_grad, theta, phi, (prob,), symmetric=False)
        assert float(jnp.max(jnp.abs(biased_inner_grad(root, phi, prob)))) < 1e-10
