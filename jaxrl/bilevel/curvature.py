"""PSD curvature products for the Neumann series on an indefinite inner problem (issue 15, item 2).

BARFI's inner objective is the REINFORCE surrogate of a policy with outputs ``o_t = m(θ, x_t)``
(logits, or the Gaussian mean), loss convention:

    L(θ) = −J_in(θ) = Σ_t c_t · ℓ_t(o_t),   ℓ_t(o) = −log π(a_t | o),   c_t = m_t w_t G_t,

(``G_t`` the return under ``r_φ``, ``w_t`` = γ^t or 1, ``m_t`` the mask; entropy bonus: below).
``ℓ_t`` is convex in ``o`` (softmax: ``∇²_o ℓ_t = diag(p) − ppᵀ =: F_o``, the categorical Fisher,
the same for every action; Gaussian with fixed σ: ``I/σ²``), so the Hessian is

    H = Σ_t c_t J_tᵀ F_o,t J_t + Σ_t c_t ∇_o ℓ_t · ∇²_θ o_t,        J_t = ∂o_t/∂θ,

whose first (Gauss–Newton) part is indefinite as soon as the returns ``G_t`` have both signs
(and the second part vanishes for a linear policy). The **generalised Gauss–Newton** matrix of the
loss with the weights made nonnegative,

    (C.1)  C = Σ_t (|c_t| + m_t c_H) J_tᵀ F_o,t J_t  ⪰ 0,

is a return-weighted Fisher ``E[|G| ∇log π ∇log πᵀ]``: it equals ``H`` exactly for a linear
policy whose returns are all ≥ 0 (and c_H = 0), and flips the sign of the curvature that the
negative-return steps contribute otherwise (the REINFORCE analogue of saddle-free Newton). The
entropy bonus ``c_H Σ_t m_t H(π_t)`` enters through its Fisher ``c_H F_o`` (the Hessian of
``−H`` at the uniform policy, where BARFI starts; the exact Hessian of ``−H`` is indefinite away
from it); a fixed-σ Gaussian's entropy does not depend on θ and adds nothing.

Why a separate product and not the inner map: ``C`` needs the per-step weights ``c_t`` and the
policy outputs, which ``g = −∇_θ J_in`` folds together; BARFI builds the weights
(:meth:`jaxrl.bilevel.barfi.BarfiTrainer.curvature_vp`) and hands
``curvature_fn(u, θ, φ, *args) -> C u`` to :func:`jaxrl.bilevel.hypergradient.neumann_inverse_vp`.
Every product here is matrix-free: one jvp and one vjp of the policy plus an ``[*B, A]``
elementwise product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.agents.policy import FeaturePolicy

Array = Any
PyTree = Any


def gauss_newton_vp(
    model_fn: Callable[[PyTree], Array], loss_fn: Callable[[Array], Array], theta, u
) -> PyTree:
    """``C u = J_mᵀ ∇²ℓ(m(θ)) J_m u``, the generalised Gauss–Newton product of ``ℓ ∘ m``.

    Args:
      model_fn: ``θ -> z`` (any array or pytree of outputs).
      loss_fn: ``z -> []``; ``C`` is PSD iff ``ℓ`` is convex at ``z = m(θ)``.
      theta, u: the point and the direction (pytrees shaped like θ).

    Returns ``C u`` shaped like θ (one jvp and one vjp of ``model_fn``, one Hessian-vector
    product of ``loss_fn`` in output space).
    """
    z, jz = jax.jvp(model_fn, (theta,), (u,))
    _, hz = jax.jvp(jax.grad(loss_fn), (z,), (jz,))
    _, vjp = jax.vjp(model_fn, theta)
    return vjp(hz)[0]


def _nll(policy: FeaturePolicy, o: Array, action: Array, std) -> Array:
    """``−log π(a | o)`` ``[*B]`` from the policy outputs ``o`` ``[*B, A]`` (as ``log_prob``)."""
    if policy.continuous:
        z = (action - o) / std
        return jnp.sum(0.5 * z**2 + jnp.log(std) + 0.5 * jnp.log(2 * jnp.pi), -1)
    logp = jax.nn.log_softmax(o)
    return -jnp.take_along_axis(logp, jnp.asarray(action, jnp.int32)[..., None], -1)[..., 0]


def reinforce_gauss_newton_vp(
    policy: FeaturePolicy,
    theta,
    feat: Array,
    action: Array,
    weight: Array,
    entropy_weight: Array,
    std: Array,
    u,
) -> PyTree:
    """``C u`` for (C.1) on a batch of steps.

    Args:
      policy: the :class:`FeaturePolicy` (softmax or fixed-std Gaussian, linear or MLP).
      theta: its params; ``u`` a direction shaped like them.
      feat: features ``[*B, F]``; action ``[*B]`` (discrete) or ``[*B, A]``.
      weight: ``[*B]`` the nonnegative step weights ``|c_t|`` (include the mask and any batch
        mean); negative entries would make ``C`` indefinite again, and are the caller's bug.
      entropy_weight: ``[*B]`` ``m_t c_H`` (ignored for a Gaussian, whose entropy is constant).
      std: the Gaussian's σ (unused when discrete).

    Returns ``C u`` shaped like ``theta``.
    """
    model = lambda th: policy.out(th, feat)

    def loss(o):
        total = jnp.sum(weight * _nll(policy, o, action, std))
        if not policy.continuous:  # Σ_a sg(π_a)(−log π_a): Hessian F_o, the entropy's Fisher
            p = jax.lax.stop_gradient(jax.nn.softmax(o))
            total = total - jnp.sum(entropy_weight * jnp.sum(p * jax.nn.log_softmax(o), -1))
        return total

    return gauss_newton_vp(model, loss, theta, u)
