"""Hypergradients (jaxrl.bilevel): closed-form quadratic and linear fixed points, Neumann series,
first order, the non-symmetric case, pytrees, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.bilevel import (
    dense_jacobian,
    first_order_hypergradient,
    hypergradient,
    ift_hypergradient,
    neumann_hypergradient,
    neumann_inverse_vp,
)

# ----------------------------------------------------------------------------- diagonal quadratic
# Inner loss L(θ, φ) = ½ θᵀQθ − θᵀφ with Q = diag(2, 4), so g = ∇_θ L = Qθ − φ and
# θ*(φ) = (φ₀/2, φ₁/4). Outer F(θ) = ½‖θ‖², so F(θ*(φ)) = φ₀²/8 + φ₁²/32 and
# dF/dφ = (φ₀/4, φ₁/16). At φ = (2, 4): θ* = (1, 1), v = ∇_θ F = (1, 1), dF/dφ = (0.5, 0.25).
# Neumann with α = 1/4 (< 2/λ_max = 1/2): I − αQ = diag(1/2, 0), so
# α Σ_{k≤K} (I − αQ)^k v = (0.5·(1 − 2^{−(K+1)}), 0.25); K = 0 (first order) = (0.25, 0.25).
# θ is a pytree {"a": [1], "b": []} and φ a tuple, to exercise the raveling.
Q_DIAG = (2.0, 4.0)


def _g_diag(theta, phi):
    return {"a": Q_DIAG[0] * theta["a"] - phi[0], "b": Q_DIAG[1] * theta["b"] - phi[1]}


def _theta_star(phi):
    return {"a": phi[0] / Q_DIAG[0], "b": phi[1] / Q_DIAG[1]}


def _phi():
    return (jnp.array([2.0]), jnp.array(4.0))


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


def test_ift_closed_form_quadratic():
    phi = _phi()
    theta = _theta_star(phi)
    v = theta  # ∇_θ ½‖θ‖²
    hg = ift_hypergradient(v, _g_diag, theta, phi)
    assert jax.tree.structure(hg) == jax.tree.structure(phi)
    np.testing.assert_allclose(_flat(hg), [0.5, 0.25], rtol=1e-6)
    # and against autodiff of the closed-form composition F(θ*(φ))
    F = lambda p: 0.5 * sum(jnp.sum(x**2) for x in jax.tree.leaves(_theta_star(p)))
    np.testing.assert_allclose(_flat(hg), _flat(jax.grad(F)(phi)), rtol=1e-6)


@pytest.mark.parametrize("K", [0, 1, 2, 5, 30])
def test_neumann_closed_form_quadratic(K):
    phi = _phi()
    theta = _theta_star(phi)
    hg = neumann_hypergradient(theta, _g_diag, theta, phi, K, 0.25)
    np.testing.assert_allclose(_flat(hg), [0.5 * (1 - 0.5 ** (K + 1)), 0.25], rtol=1e-6)


def test_first_order_is_neumann_k0():
    phi = _phi()
    theta = _theta_star(phi)
    fo = first_order_hypergradient(theta, _g_diag, theta, phi, 0.25)
    np.testing.assert_allclose(_flat(fo), [0.25, 0.25], rtol=1e-6)
    n0 = neumann_hypergradient(theta, _g_diag, theta, phi, 0, 0.25)
    np.testing.assert_allclose(_flat(fo), _flat(n0), rtol=1e-6)


def test_neumann_diverges_for_large_alpha():
    """α = 0.6 > 2/λ_max = 0.5: the factor 1 − 0.6·4 = −1.4 makes the series blow up."""
    phi = _phi()
    theta = _theta_star(phi)
    errs = [
        np.abs(_flat(neumann_hypergradient(theta, _g_diag, theta, phi, K, 0.6)) - [0.5, 0.25]).max()
        for K in (5, 10, 20)
    ]
    assert errs[0] < errs[1] < errs[2] and errs[2] > 1e2


# ----------------------------------------------------------------------------- coupled quadratic
def _quad_problem(n=5, m=3, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    Q = M @ M.T + n * np.eye(n)  # SPD
    B = rng.standard_normal((n, m))
    t = rng.standard_normal(n)
    s = rng.standard_normal(m)
    return (jnp.asarray(x, jnp.float32) for x in (Q, B, t, s))


def _g_quad(theta, phi, Q, B):
    return Q @ theta - B @ phi  # ∇_θ [½θᵀQθ − θᵀBφ]


def test_coupled_quadratic_with_direct_term_all_methods():
    """F(θ, φ) = ½‖θ − t‖² + sᵀφ: every method against autodiff of the closed form."""
    Q, B, t, s = _quad_problem()
    phi = jnp.asarray([0.3, -1.0, 2.0])
    theta_star = lambda p: jnp.linalg.solve(Q, B @ p)
    F = lambda th, p, t, s: 0.5 * jnp.sum((th - t) ** 2) + s @ p
    exact = jax.grad(lambda p: F(theta_star(p), p, t, s))(phi)
    th = theta_star(phi)
    ift = hypergradient(F, _g_quad, th, phi, args=(Q, B), outer_args=(t, s))
    np.testing.assert_allclose(ift, exact, rtol=1e-4, atol=1e-5)
    lam_max = float(jnp.linalg.eigvalsh(Q)[-1])
    neu = hypergradient(
        F, _g_quad, th, phi, (Q, B), (t, s), method="neumann", K=2000, alpha=1.0 / lam_max
    )
    np.testing.assert_allclose(neu, exact, rtol=1e-4, atol=1e-5)
    # Neumann error falls monotonically in K for α = 1/λ_max (all factors 1 − αλ ∈ [0, 1)).
    errs = [
        float(
            jnp.linalg.norm(
                hypergradient(
                    F, _g_quad, th, phi, (Q, B), (t, s), "neumann", K=K, alpha=1.0 / lam_max
                )
                - exact
            )
        )
        for K in (0, 4, 16, 64)
    ]
    assert all(b <= a * (1 + 1e-3) for a, b in zip(errs, errs[1:], strict=False)), errs
    fo = hypergradient(F, _g_quad, th, phi, (Q, B), (t, s), "first_order", alpha=0.1)
    gt = th - t
    np.testing.assert_allclose(fo, s + 0.1 * B.T @ gt, rtol=1e-5)  # −α(∂_φ g)ᵀv + ∂_φF
    with pytest.raises(ValueError, match="method"):
        hypergradient(F, _g_quad, th, phi, (Q, B), (t, s), method="newton")


def test_dense_jacobian_is_hessian():
    Q, B, _, _ = _quad_problem()
    H = dense_jacobian(_g_quad, jnp.zeros(5), jnp.zeros(3), (Q, B))
    np.testing.assert_allclose(H, Q, rtol=1e-6)


# ----------------------------------------------------------------------------- non-symmetric
# Linear fixed point g(θ, φ) = Aθ − Bφ − c with A NOT symmetric (e.g. a biased policy-gradient
# field): θ* = A⁻¹(Bφ + c), and for F = ½‖θ‖², dF/dφ = Bᵀ A⁻ᵀ θ* (note the transpose).
def _nonsym_problem():
    A = jnp.asarray([[2.0, 1.5, 0.0], [-0.5, 1.0, 0.3], [0.2, -0.7, 1.5]])
    B = jnp.asarray([[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0]])
    c = jnp.asarray([0.1, -0.2, 0.3])
    return A, B, c


def _g_lin(theta, phi, A, B, c):
    return A @ theta - B @ phi - c


def test_nonsymmetric_fixed_point_against_analytic():
    A, B, c = _nonsym_problem()
    assert float(jnp.abs(A - A.T).max()) > 0.5
    phi = jnp.asarray([0.7, -0.4])
    th = jnp.linalg.solve(A, B @ phi + c)
    exact = B.T @ jnp.linalg.solve(A.T, th)  # Bᵀ A⁻ᵀ θ*
    wrong = B.T @ jnp.linalg.solve(A, th)  # what H⁻¹ instead of H⁻ᵀ would give
    assert float(jnp.linalg.norm(exact - wrong)) > 0.1
    args = (A, B, c)
    np.testing.assert_allclose(ift_hypergradient(th, _g_lin, th, phi, args), exact, rtol=1e-5)
    # Neumann converges when the spectral radius of I − αA is < 1.
    alpha = 0.3
    rho = float(jnp.abs(jnp.linalg.eigvals(jnp.eye(3) - alpha * A)).max())
    assert rho < 1
    neu = neumann_hypergradient(th, _g_lin, th, phi, 300, alpha, args)
    np.testing.assert_allclose(neu, exact, rtol=1e-4, atol=1e-6)
    # symmetric=True (forward-mode H u) is only valid for gradient fields: here it converges to
    # the wrong (H⁻¹) answer.
    neu_sym = neumann_hypergradient(th, _g_lin, th, phi, 300, alpha, args, symmetric=True)
    np.testing.assert_allclose(neu_sym, wrong, rtol=1e-4, atol=1e-6)
    # and the inverse-vector product itself is H⁻ᵀ v
    w = neumann_inverse_vp(th, _g_lin, th, phi, 300, alpha, args)
    np.testing.assert_allclose(A.T @ w, th, rtol=1e-4, atol=1e-6)


def test_symmetric_flag_agrees_on_gradient_fields():
    Q, B, t, _ = _quad_problem()
    phi = jnp.asarray([0.3, -1.0, 2.0])
    th = jnp.linalg.solve(Q, B @ phi)
    a = 1.0 / float(jnp.linalg.eigvalsh(Q)[-1])
    h1 = neumann_hypergradient(th - t, _g_quad, th, phi, 50, a, (Q, B))
    h2 = neumann_hypergradient(th - t, _g_quad, th, phi, 50, a, (Q, B), symmetric=True)
    np.testing.assert_allclose(h1, h2, rtol=1e-5)


# ----------------------------------------------------------------------------- jit / vmap
def test_vmap_over_phi_and_inside_jit():
    Q, B, t, _ = _quad_problem()
    phis = jnp.asarray(np.random.default_rng(1).standard_normal((4, 3)), jnp.float32)

    @jax.jit
    def hyper(phi):
        th = jnp.linalg.solve(Q, B @ phi)
        inner = lambda th_, p_: Q @ th_ - B @ p_  # a fresh closure is fine inside jit
        return (
            ift_hypergradient(th - t, inner, th, phi),
            neumann_hypergradient(th - t, inner, th, phi, 500, 0.5 / jnp.linalg.norm(Q, 2)),
        )

    ift, neu = jax.vmap(hyper)(phis)
    exact = jax.vmap(jax.grad(lambda p: 0.5 * jnp.sum((jnp.linalg.solve(Q, B @ p) - t) ** 2)))(phis)
    np.testing.assert_allclose(ift, exact, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(neu, exact, rtol=1e-3, atol=1e-4)


def test_float64_precision():
    with jax.enable_x64(True):
        phi = (jnp.array([2.0]), jnp.array(4.0))
        theta = _theta_star(phi)
        hg = ift_hypergradient(theta, _g_diag, theta, phi)
        assert _flat(hg).dtype == np.float64
        np.testing.assert_allclose(_flat(hg), [0.5, 0.25], rtol=1e-14)
