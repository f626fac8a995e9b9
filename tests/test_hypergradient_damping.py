"""Damped and Gauss–Newton Neumann series (hypergradient.py (2.5), curvature.py (C.1)) and their
BARFI plumbing (``BarfiStatic.curvature``, ``BarfiHParams.neumann_damping``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from test_reinforce import Chain, one_hot_pos

from jaxrl.agents.policy import FeaturePolicy
from jaxrl.bilevel import (
    barfi,
    dense_jacobian,
    ift_hypergradient,
    neumann_hypergradient,
    neumann_inverse_vp,
)
from jaxrl.bilevel.curvature import gauss_newton_vp, reinforce_gauss_newton_vp
from jaxrl.bilevel.hypergradient import first_order_hypergradient, hypergradient
from jaxrl.shaping.blend import BlendParams

# Inner loss ½ θᵀQθ − θᵀBφ on a pytree θ = {"a": [2], "b": [1]}: g = Qθ − Bφ, H = Q.
Q_PD = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])
Q_INDEF = np.array([[2.0, 0.5, 0.0], [0.5, -1.0, 0.2], [0.0, 0.2, 3.0]])  # λ_min ≈ −1.08
B = np.array([[1.0, 0.0], [0.5, 1.0], [0.0, -1.0]])


def _unflat(x):
    return {"a": x[:2], "b": x[2:]}


def _g(theta, phi, Q, Bm):
    flat = jnp.concatenate([theta["a"], theta["b"]])
    return _unflat(Q @ flat - Bm @ phi)


def _psd_curv(u, theta, phi, Q, Bm):
    """``Qᵀ Q u``: a PSD product unrelated to H (the series must converge to its own inverse)."""
    flat = jnp.concatenate([u["a"], u["b"]])
    return _unflat(Q.T @ (Q @ flat))


def _setup(Q):
    theta = {"a": jnp.array([0.3, -0.2]), "b": jnp.array([0.1])}
    v = {"a": jnp.array([1.0, -0.5]), "b": jnp.array([0.25])}
    return theta, jnp.array([0.4, -0.7]), v, (jnp.asarray(Q), jnp.asarray(B))


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0], np.float64)


@pytest.mark.parametrize("K", [0, 3, 40])
def test_zero_damping_equals_undamped_exactly(K):
    theta, phi, v, args = _setup(Q_PD)
    for sym in (False, True):
        old = neumann_inverse_vp(v, _g, theta, phi, K, 0.2, args, sym)
        new = neumann_inverse_vp(v, _g, theta, phi, K, 0.2, args, sym, jnp.float32(0.0))
        assert jax.tree.structure(new) == jax.tree.structure(v)
        np.testing.assert_array_equal(_flat(new), _flat(old))
        h_old = neumann_hypergradient(v, _g, theta, phi, K, 0.2, args, None, sym)
        h_new = neumann_hypergradient(v, _g, theta, phi, K, 0.2, args, None, sym, 0.0)
        assert h_new.shape == phi.shape
        np.testing.assert_array_equal(np.asarray(h_new), np.asarray(h_old))
    np.testing.assert_array_equal(
        np.asarray(ift_hypergradient(v, _g, theta, phi, args, None, 0.0)),
        np.asarray(ift_hypergradient(v, _g, theta, phi, args)),
    )


@pytest.mark.parametrize("delta", [0.0, 0.5, 3.0])
def test_damped_series_converges_to_damped_solve_on_pd(delta):
    theta, phi, v, args = _setup(Q_PD)
    M = Q_PD + delta * np.eye(3)
    alpha = 1.0 / np.linalg.eigvalsh(M)[-1]
    w = neumann_inverse_vp(v, _g, theta, phi, 400, alpha, args, True, delta)
    np.testing.assert_allclose(_flat(w), np.linalg.solve(M, _flat(v)), rtol=1e-5, atol=1e-6)
    hg = neumann_hypergradient(v, _g, theta, phi, 400, alpha, args, None, True, delta)
    exact = ift_hypergradient(v, _g, theta, phi, args, None, delta)
    np.testing.assert_allclose(np.asarray(exact), B.T @ np.linalg.solve(M, _flat(v)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(hg), np.asarray(exact), rtol=1e-5, atol=1e-6)
    # the wrapper passes damping through to both methods
    F = lambda th, p: 0.5 * jnp.sum(ravel_pytree(th)[0] ** 2)
    th = _unflat(jnp.asarray(_flat(v)))  # ∇_θ F = θ = v
    kw = dict(K=400, alpha=alpha, symmetric=True, damping=delta)
    np.testing.assert_allclose(
        np.asarray(hypergradient(F, _g, th, phi, args, method="neumann", **kw)),
        np.asarray(hypergradient(F, _g, th, phi, args, method="ift", damping=delta)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_indefinite_undamped_diverges_damped_converges():
    theta, phi, v, args = _setup(Q_INDEF)
    lam = np.linalg.eigvalsh(Q_INDEF)
    rho = np.max(np.abs(lam))
    norms = [np.linalg.norm(_flat(neumann_inverse_vp(v, _g, theta, phi, K, 1 / rho, args)))
             for K in (10, 40, 160)]  # fmt: skip
    assert norms[0] < norms[1] < norms[2] and norms[2] > 1e20  # (1 + |λ_min|/ρ)^K
    delta = 1.5 * rho  # > −λ_min
    alpha = 1.0 / (rho + delta)
    exact = np.linalg.solve(Q_INDEF + delta * np.eye(3), _flat(v))
    damped = lambda K: _flat(neumann_inverse_vp(v, _g, theta, phi, K, alpha, args, True, delta))
    errs = [np.linalg.norm(damped(K) - exact) for K in (2, 8, 160)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-5 * np.linalg.norm(exact)


def test_large_damping_tends_to_first_order():
    """δ(H + δI)⁻¹ → I: the damped hypergradient × δ → the first-order one with α = 1 (2.5)."""
    theta, phi, v, args = _setup(Q_INDEF)
    delta = 1e4
    hg = ift_hypergradient(v, _g, theta, phi, args, None, delta)
    fo = first_order_hypergradient(v, _g, theta, phi, 1.0, args)
    np.testing.assert_allclose(delta * np.asarray(hg), np.asarray(fo), rtol=1e-3)


def test_curvature_fn_replaces_the_hessian():
    theta, phi, v, args = _setup(Q_INDEF)
    C = Q_INDEF.T @ Q_INDEF
    for delta in (None, 0.3):
        M = C + (delta or 0.0) * np.eye(3)
        alpha = 1.0 / np.linalg.eigvalsh(M)[-1]
        w = neumann_inverse_vp(v, _g, theta, phi, 600, alpha, args, False, delta, _psd_curv)
        assert jax.tree.structure(w) == jax.tree.structure(v)
        np.testing.assert_allclose(_flat(w), np.linalg.solve(M, _flat(v)), rtol=1e-4, atol=1e-5)
        hg = neumann_hypergradient(v, _g, theta, phi, 600, alpha, args, None, False, delta,
                                   _psd_curv)  # fmt: skip
        np.testing.assert_allclose(np.asarray(hg), B.T @ np.linalg.solve(M, _flat(v)), rtol=1e-4)


def test_gauss_newton_vp_is_dense_ggn():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        A = jnp.asarray(rng.standard_normal((5, 3)))
        theta = jnp.asarray(rng.standard_normal(3))
        model = lambda th: jnp.tanh(A @ th)
        loss = lambda z: jnp.sum(jnp.exp(z)) + 0.5 * jnp.sum(z**2)  # convex
        J = jax.jacfwd(model)(theta)
        Hz = jax.hessian(loss)(model(theta))
        C = np.asarray(J.T @ Hz @ J)
        u = jnp.asarray(rng.standard_normal(3))
        np.testing.assert_allclose(np.asarray(gauss_newton_vp(model, loss, theta, u)), C @ u)
        assert np.linalg.eigvalsh(C)[0] > -1e-12


def _surrogate_hessian(policy, theta, feat, act, G, std):
    flat, unravel = ravel_pytree(theta)
    J = lambda f: jnp.sum(G * policy.log_prob(unravel(f), feat, act, std))
    return -np.asarray(jax.hessian(J)(flat)), flat, unravel


def _dense_gn(pol, theta, feat, act, w, c, std):
    """``C`` [n, n] of :func:`reinforce_gauss_newton_vp` on the raveled θ."""
    flat, unravel = ravel_pytree(theta)
    cvp = lambda u: ravel_pytree(
        reinforce_gauss_newton_vp(pol, theta, feat, act, w, c, std, unravel(u))
    )[0]
    return np.asarray(jax.jacfwd(cvp)(flat * 0))


@pytest.mark.heavy
@pytest.mark.parametrize("continuous", [False, True])
def test_reinforce_gn_is_hessian_for_nonnegative_returns_and_psd_otherwise(continuous):
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        pol = FeaturePolicy(3, 2, continuous)
        theta = [(jnp.asarray(rng.standard_normal((3, 2))), jnp.asarray(rng.standard_normal(2)))]
        feat = jnp.asarray(rng.standard_normal((2, 6, 3)))  # [N, T, F]
        act = (jnp.asarray(rng.standard_normal((2, 6, 2))) if continuous
               else jnp.asarray(rng.integers(0, 2, (2, 6)), jnp.int32))  # fmt: skip
        std = 0.7
        for G, same in ((jnp.asarray(rng.uniform(0, 2, (2, 6))), True),
                        (jnp.asarray(rng.standard_normal((2, 6))), False)):  # fmt: skip
            H, flat, unravel = _surrogate_hessian(pol, theta, feat, act, G, std)
            C = _dense_gn(pol, theta, feat, act, jnp.abs(G), jnp.zeros_like(G), std)
            np.testing.assert_allclose(C, C.T, atol=1e-12)
            assert np.linalg.eigvalsh(C)[0] > -1e-10
            if same:  # linear policy, G ≥ 0: C is the exact Hessian of −J
                np.testing.assert_allclose(C, H, atol=1e-10)
            else:
                assert np.linalg.eigvalsh(H)[0] < -1e-3  # H indefinite, C not
        # the entropy's Fisher term: c_H·(diag p − ppᵀ) through J (discrete only)
        G0 = jnp.zeros((2, 6))
        c = jnp.full((2, 6), 0.3)
        C = _dense_gn(pol, theta, feat, act, G0, c, std)
        if continuous:
            np.testing.assert_array_equal(C, 0.0)
        else:
            assert np.linalg.eigvalsh(C)[0] > -1e-10 and np.linalg.eigvalsh(C)[-1] > 1e-3


# ----------------------------------------------------------------------------- BARFI plumbing
def _barfi(curvature="hessian"):
    env = Chain(2, aux_arm=0)
    f, n = one_hot_pos(2)
    bs = barfi.BarfiStatic(episodes=60, num_chunks=2, buffer_size=30, curvature=curvature)
    tr = barfi.make_train(bs, env, f, n)
    theta = tr.policy.init(jax.random.key(0))
    theta = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(2), x.shape), theta)
    keys = jax.random.split(jax.random.key(1), 64)
    eps = jax.vmap(lambda k: tr.collect(theta, k, 0.1))(keys)
    return tr, theta, jax.tree.map(lambda x: x[:32], eps), jax.tree.map(lambda x: x[32:], eps)


def test_barfi_hparams_check_damping():
    barfi.BarfiHParams(neumann_damping=0.5).check()
    with pytest.raises(ValueError, match="neumann_damping"):
        barfi.BarfiHParams(neumann_damping=-0.1).check()
    with pytest.raises(TypeError, match="curvature"):
        barfi.BarfiStatic(curvature="fisher")


@pytest.mark.heavy
def test_barfi_curvature_vp_is_the_hessian_for_nonnegative_returns():
    tr, theta, _, old = _barfi("gauss_newton")
    hp = barfi.BarfiHParams(transform=tr.transform.default_params)  # naive blend: r_p + r_aux ≥ 0
    flat, unravel = ravel_pytree(theta)
    u = unravel(jax.random.normal(jax.random.key(3), flat.shape))
    _, hvp = jax.linearize(lambda t: tr.inner_grad_fn(t, hp.transform, old, hp), theta)
    cu = tr.curvature_vp(u, theta, hp.transform, old, hp)
    np.testing.assert_allclose(_flat(cu), _flat(hvp(u)), rtol=1e-4, atol=1e-6)


@pytest.mark.heavy
@pytest.mark.parametrize("curvature", ["hessian", "gauss_newton"])
def test_barfi_outer_step_with_damping_and_curvature(curvature):
    tr, theta, new, old = _barfi(curvature)
    # a negative bias makes some r_φ negative: H indefinite on this batch
    phi = tr.transform.default_params
    phi = BlendParams(phi.weight, phi.bias.at[0].set(-0.8), phi.gamma_logit)
    hp0 = barfi.BarfiHParams(transform=phi)
    H = dense_jacobian(tr.inner_grad_fn, theta, phi, (old, hp0))
    assert np.linalg.eigvalsh(0.5 * (H + H.T))[0] < -1e-3  # indefinite: the case that matters
    step = jax.jit(tr.outer_step)
    outs = {}
    for d in (0.0, 2.0):
        hp = barfi.BarfiHParams(neumann_K=jnp.int32(20), neumann_alpha=10.0, neumann_damping=d,
                                transform=phi)  # fmt: skip
        direction, raw = step(theta, new, old, hp)
        assert jax.tree.structure(raw) == jax.tree.structure(phi)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(raw))
        outs[d] = _flat(raw)
    assert not np.allclose(outs[0.0], outs[2.0])  # the damping reaches the series
