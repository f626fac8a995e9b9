"""Hypergradients of a bi-level problem through an inner fixed point (theory.md §2, papers.md §2.2).

Setting. The inner problem is a root ``θ*(φ)`` of an **inner fixed-point map**
``g(θ, φ) = 0`` (a pytree shaped like ``θ``). For an inner *minimisation* it is the gradient of the
inner loss, ``g = ∇_θ L_inner(θ, φ)``; for BARFI's inner *maximisation* of ``J_φ(θ)`` pass
``g = −∇_θ J_φ`` (loss convention, so that ``H`` below is positive definite at a strict
maximum). ``g`` need not be a gradient field at all (e.g. a biased policy gradient that drops
the γ^t factor, theory.md Check 2.4); then ``H`` is not symmetric and everything below still holds
because every product with ``H`` is taken with its *transpose* (a vjp).

The outer objective ``F(θ, φ)`` (BARFI: ``J_p(θ)``, the return under the primary reward) enters
through ``v = ∇_θ F(θ*, φ)`` and optionally its direct part ``∂_φ F``.

Implicit function theorem (theory.md §2, "Outer gradient"), with ``H = ∂_θ g(θ*, φ)`` [n, n]
and ``∂_φ g`` [n, m] (n = size of θ, m = size of φ):

    (2.1)  dθ*/dφ = −H⁻¹ ∂_φ g
    (2.2)  dF(θ*(φ), φ)/dφ = ∂_φ F − (∂_φ g)ᵀ H⁻ᵀ ∇_θ F
           (= −(∂_φ g)ᵀ H⁻¹ ∇_θ F when g is a gradient field, H = Hᵀ)

Neumann series (Lorraine, Vicol & Duvenaud 2020; BARFI's ``BarfiNeumann``):

    (2.3)  H⁻ᵀ v ≈ α Σ_{k=0}^{K} (I − α Hᵀ)^k v,

convergent iff the spectral radius of ``I − αH`` is < 1; for symmetric ``H ≻ 0`` that is
``0 < α < 2/λ_max(H)``. (BARFI writes the same series for ``H = ∇²J_φ ≺ 0`` as
``−H⁻¹ ≈ α Σ (I + αH)^j``; with our loss convention ``g = −∇J_φ`` the two coincide.)

Damped series and curvature surrogates (issue 15). BARFI's REINFORCE surrogate is not maximised at
the θ where the outer step is taken, and with returns of both signs its ``H`` is *indefinite*: an
eigenvalue ``λ < 0`` makes ``1 − αλ > 1`` and (2.3) diverges for every α. Two remedies, both
replacing ``H`` in (2.3) by a matrix ``M`` whose spectrum is positive:

* **Levenberg–Marquardt damping** (``damping = δ ≥ 0``): ``M = H + δI`` (in BARFI's reward
  convention ``∇²J_φ − δI``). The series converges iff ``λ_min(H) + δ > 0`` and
  ``α < 2/(λ_max(H) + δ)`` (symmetric H), to the *damped* inverse, not ``H⁻¹``. With
  ``H = Σ_i λ_i q_i q_iᵀ``:

      (2.5)  (H + δI)⁻¹ v = Σ_i q_i (q_iᵀ v) / (λ_i + δ),
             (H + δI)⁻¹ − H⁻¹ = −δ H⁻¹ (H + δI)⁻¹,

  so each eigen-component of the IFT solution is scaled by ``λ_i/(λ_i + δ)``: shrunk by a factor in
  (0, 1) where ``λ_i > 0``, and *sign-flipped* where ``−δ < λ_i < 0`` (a negative-curvature
  direction is treated as positive curvature of size ``λ_i + δ``, as in saddle-free Newton). As
  ``δ → ∞``, ``δ(H + δI)⁻¹ → I``: the damped hypergradient tends to the first-order one (2.4) with
  ``α = 1/δ``; as ``δ → 0`` it tends to the IFT (2.2) where that series converges.
* **A PSD curvature product** (``curvature_fn``): ``M = C`` with ``C ⪰ 0`` symmetric, e.g. a
  generalised Gauss–Newton matrix (:mod:`jaxrl.bilevel.curvature`), optionally damped, ``C + δI``.
  The series then converges for ``0 < α < 2/(λ_max(C) + δ)`` (and ``C + δI ≻ 0``) to
  ``(C + δI)⁻¹ v``; the bias is ``C⁻¹ − H⁻¹``, zero where ``C = H``.

The exact product ``∂_φ g`` is kept in both: only the inverse is approximated.

First-order variant (BARFI's ``Barfi.py``, ``Neumann_loops = 0``): the K = 0 term,
``H⁻ᵀ ≈ α I``,

    (2.4)  dF/dφ ≈ ∂_φ F − α (∂_φ g)ᵀ ∇_θ F.

With ``g = −∇_θ J_φ`` this is ``+α ∇²_{φθ} J_φ ∇_θ J_p``, BARFI's first-order hypergradient.
It equals :func:`neumann_hypergradient` with ``K = 0``.

Every function here works on arbitrary pytrees ``θ`` and ``φ`` and returns a pytree shaped like
``φ``; they are ``jax.jit``-ed with the inner map ``inner_grad_fn`` static, so pass a function
defined once (module level or cached), not a fresh lambda per call, and pass the data the map
needs through ``args`` (a traced pytree): ``inner_grad_fn(θ, φ, *args)``. Inside a caller's own
``jit`` any callable works.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

Array = Any
PyTree = Any
InnerGradFn = Callable[..., PyTree]
#: ``curvature_fn(u, θ, φ, *args) -> M u``: a symmetric PSD matrix-vector product on θ-shaped
#: pytrees, used in place of ``Hᵀ u`` by the Neumann series (same ``args`` as ``inner_grad_fn``).
CurvatureFn = Callable[..., PyTree]


def _tree_add(a, b):
    return jax.tree.map(jnp.add, a, b)


def _tree_axpy(alpha, x, y):
    """``alpha·x + y`` leafwise."""
    return jax.tree.map(lambda xi, yi: alpha * xi + yi, x, y)


def _tree_scale(alpha, x):
    return jax.tree.map(lambda xi: alpha * xi, x)


def _finish(inner_grad_fn, theta_star, phi, args, w, outer_grad_phi):
    """``∂_φ F − (∂_φ g)ᵀ w`` via one vjp of ``g`` in ``φ``."""
    _, vjp_phi = jax.vjp(lambda p: inner_grad_fn(theta_star, p, *args), phi)
    (gw,) = vjp_phi(w)
    out = _tree_scale(-1.0, gw)
    return out if outer_grad_phi is None else _tree_add(out, outer_grad_phi)


def _transpose_hvp(inner_grad_fn, theta_star, phi, args, symmetric):
    """The map ``u -> Hᵀ u`` (a vjp; a jvp when ``symmetric``, which is cheaper in memory)."""
    g_theta = lambda t: inner_grad_fn(t, phi, *args)
    if symmetric:
        _, lin = jax.linearize(g_theta, theta_star)
        return lin
    _, vjp_theta = jax.vjp(g_theta, theta_star)
    return lambda u: vjp_theta(u)[0]


def dense_jacobian(inner_grad_fn: InnerGradFn, theta_star, phi, args=()) -> Array:
    """``H = ∂_θ g(θ*, φ)`` as a dense ``[n, n]`` matrix on the raveled θ (row = output of g).

    ``H[i, j] = ∂ g_i / ∂ θ_j``; for ``g = ∇L`` this is the Hessian of ``L``. Tabular sizes only.
    """
    flat, unravel = ravel_pytree(theta_star)
    g_flat = lambda f: ravel_pytree(inner_grad_fn(unravel(f), phi, *args))[0]
    return jax.jacfwd(g_flat)(flat)


@partial(jax.jit, static_argnames=("inner_grad_fn",))
def ift_hypergradient(
    outer_grad_theta: PyTree,
    inner_grad_fn: InnerGradFn,
    theta_star: PyTree,
    phi: PyTree,
    args: tuple = (),
    outer_grad_phi: PyTree | None = None,
    damping: float | Array | None = None,
) -> PyTree:
    """Exact implicit hypergradient (2.2) by a dense linear solve ``Hᵀ w = ∇_θ F``.

    Args:
      outer_grad_theta: ``∇_θ F(θ*, φ)``, a pytree shaped like ``θ`` (``v`` in §2).
      inner_grad_fn: ``g(θ, φ, *args)`` -> pytree shaped like ``θ``; ``θ*`` is a root. Static.
      theta_star: ``θ*(φ)``, the inner solution (the formula assumes ``g(θ*, φ) = 0`` and ``H``
        non-singular; neither is checked).
      phi: outer parameters (any pytree).
      args: extra (traced) arguments of ``inner_grad_fn``.
      outer_grad_phi: optional direct term ``∂_φ F`` (e.g. a regulariser on φ), added as is.
      damping: ``δ`` (traced); solves ``(H + δI)ᵀ w = ∇_θ F`` instead, the exact limit of the
        damped Neumann series (2.5). None (default) is the undamped IFT.

    Returns:
      ``dF(θ*(φ), φ)/dφ``, a pytree shaped like ``φ``. A singular ``H`` gives non-finite or
      meaningless values (theory.md §2 counterexample: unregularised softmax logits).

    Cost: ``n`` jvps to build ``H`` plus an ``O(n³)`` LU solve — use it for n up to a few
    thousand; use :func:`neumann_hypergradient` beyond that.
    """
    H = dense_jacobian(inner_grad_fn, theta_star, phi, args)
    if damping is not None:
        H = H + damping * jnp.eye(H.shape[0], dtype=H.dtype)
    v_flat, unravel = ravel_pytree(outer_grad_theta)
    w = unravel(jnp.linalg.solve(H.T, v_flat.astype(H.dtype)))
    return _finish(inner_grad_fn, theta_star, phi, args, w, outer_grad_phi)


@partial(jax.jit, static_argnames=("inner_grad_fn", "symmetric", "curvature_fn"))
def neumann_inverse_vp(
    v: PyTree,
    inner_grad_fn: InnerGradFn,
    theta_star: PyTree,
    phi: PyTree,
    K: int | Array,
    alpha: float | Array,
    args: tuple = (),
    symmetric: bool = False,
    damping: float | Array | None = None,
    curvature_fn: CurvatureFn | None = None,
) -> PyTree:
    """``M⁻ᵀ v ≈ α Σ_{k=0}^{K} (I − αMᵀ)^k v`` (2.3) with ``K`` curvature-vector products.

    ``M = H`` (default), ``H + δI`` (``damping = δ``), ``C`` (``curvature_fn``) or ``C + δI``; see
    (2.5) for what the damped and surrogate series converge to. ``K``, ``alpha`` and ``damping``
    are traced (one compile serves every K; the loop is a ``fori_loop`` with a dynamic trip count,
    so this is not reverse-differentiable in its inputs). ``symmetric=True`` uses forward-mode
    products ``H u`` (valid only when ``H = Hᵀ``, i.e. ``g`` is a gradient); it is moot with a
    ``curvature_fn`` (``C`` is symmetric). ``damping=None`` runs exactly the undamped program.
    """
    if curvature_fn is None:
        Mt = _transpose_hvp(inner_grad_fn, theta_star, phi, args, symmetric)
    else:
        Mt = lambda u: curvature_fn(u, theta_star, phi, *args)
    if damping is not None:  # (M + δI)ᵀ u = Mᵀu + δu
        undamped = Mt
        Mt = lambda u: _tree_axpy(damping, u, undamped(u))

    def body(_, carry):
        term, acc = carry
        term = _tree_axpy(-alpha, Mt(term), term)  # (I − αMᵀ) term
        return term, _tree_add(acc, term)

    _, acc = jax.lax.fori_loop(0, K, body, (v, v))
    return _tree_scale(alpha, acc)


@partial(jax.jit, static_argnames=("inner_grad_fn", "symmetric", "curvature_fn"))
def neumann_hypergradient(
    outer_grad_theta: PyTree,
    inner_grad_fn: InnerGradFn,
    theta_star: PyTree,
    phi: PyTree,
    K: int | Array,
    alpha: float | Array,
    args: tuple = (),
    outer_grad_phi: PyTree | None = None,
    symmetric: bool = False,
    damping: float | Array | None = None,
    curvature_fn: CurvatureFn | None = None,
) -> PyTree:
    """Hypergradient (2.2) with ``H⁻ᵀ`` replaced by the K-term Neumann series (2.3).

    Same arguments as :func:`ift_hypergradient`, plus ``K`` (number of Hessian-vector products;
    BARFI's ``Neumann_loops``), ``alpha`` (BARFI's ``Neumann_alpha``; converges for
    ``0 < α < 2/λ_max(H)`` when ``H = Hᵀ ≻ 0``, and diverges for ``α > 2/λ_max``) and
    ``symmetric``, ``damping`` (δ ≥ 0; converges for ``α < 2/(λ_max + δ)`` once
    ``δ > −λ_min(H)``, to the biased (2.5)) and ``curvature_fn`` (a PSD product replacing ``H``);
    see :func:`neumann_inverse_vp`. ``K = 0`` is :func:`first_order_hypergradient` (whatever the
    damping or curvature). Cost: ``K + 1`` vjps, no ``[n, n]`` matrix.
    """
    w = neumann_inverse_vp(
        outer_grad_theta, inner_grad_fn, theta_star, phi, K, alpha, args, symmetric, damping,
        curvature_fn,
    )  # fmt: skip
    return _finish(inner_grad_fn, theta_star, phi, args, w, outer_grad_phi)


@partial(jax.jit, static_argnames=("inner_grad_fn",))
def first_order_hypergradient(
    outer_grad_theta: PyTree,
    inner_grad_fn: InnerGradFn,
    theta_star: PyTree,
    phi: PyTree,
    alpha: float | Array = 1.0,
    args: tuple = (),
    outer_grad_phi: PyTree | None = None,
) -> PyTree:
    """First-order hypergradient (2.4): ``∂_φ F − α (∂_φ g)ᵀ ∇_θ F`` (``H⁻¹ ≈ αI``).

    Convention: this is exactly the ``K = 0`` Neumann truncation, so with the loss convention
    ``g = −∇_θ J_φ`` it equals BARFI's first-order ``α ∇²_{φθ} J_φ ∇_θ J_p`` (``α`` = the inner
    learning rate: one inner gradient step's sensitivity to φ). It is *not* the hypergradient
    (theory.md reference: relative error 0.44); compare it in cosine, not for equality.
    """
    w = _tree_scale(alpha, outer_grad_theta)
    return _finish(inner_grad_fn, theta_star, phi, args, w, outer_grad_phi)


def hypergradient(
    outer_fn: Callable[..., Array],
    inner_grad_fn: InnerGradFn,
    theta_star: PyTree,
    phi: PyTree,
    args: tuple = (),
    outer_args: tuple = (),
    method: str = "ift",
    **kwargs,
) -> PyTree:
    """``d outer_fn(θ*(φ), φ, *outer_args)/dφ`` by ``method`` ∈ {"ift", "neumann", "first_order"}.

    Convenience wrapper: takes both ``∇_θ F`` and the direct ``∂_φ F`` of ``outer_fn`` by
    autodiff, then calls the matching function above (``kwargs``: ``K``, ``alpha``,
    ``symmetric``, ``damping``, ``curvature_fn``; "ift" takes ``damping``). Not jitted itself
    (``outer_fn`` may be any callable); jit the caller.
    """
    gt, gp = jax.grad(outer_fn, argnums=(0, 1))(theta_star, phi, *outer_args)
    if method == "ift":
        return ift_hypergradient(
            gt, inner_grad_fn, theta_star, phi, args, gp, kwargs.get("damping")
        )
    if method == "neumann":
        return neumann_hypergradient(
            gt,
            inner_grad_fn,
            theta_star,
            phi,
            kwargs["K"],
            kwargs["alpha"],
            args,
            gp,
            kwargs.get("symmetric", False),
            kwargs.get("damping"),
            kwargs.get("curvature_fn"),
        )
    if method == "first_order":
        return first_order_hypergradient(
            gt, inner_grad_fn, theta_star, phi, kwargs.get("alpha", 1.0), args, gp
        )
    raise ValueError(f"method must be 'ift', 'neumann' or 'first_order', got {method!r}")
