"""BARFI's bi-level problem solved exactly on a tabular MDP (theory.md §2, checks 2.1–2.4).

Softmax logits ``θ [S, A]``, blend parameters φ (:class:`jaxrl.shaping.blend.BlendParams`,
one-hot state features, ``r_φ = r_p + φ₁(s) + φ₂(s)·r_aux``, ``γ_φ = sigmoid(θ_γ)``):

* **inner** (to maximise, exact linear solves):

      J_in(θ, φ) = J_τ(π_θ; r_φ, γ_φ) − (λ/2)‖θ‖² − (ρ/2) Σ_{(s,a) ∈ pinned} θ_{s,a}²
      J_τ(π; r, γ) = E_π[Σ_t γ^t (r_t − τ log π(a_t|s_t))]      (entropy-regularised return)

  ``pinned`` = the first logit of every state plus every logit of a terminal state. Softmax is
  invariant to a per-state shift of the logits, so with λ = 0 the Hessian is singular at every
  stationary point (theory.md §2 counterexample). The anchor ρ > 0 "fixes one logit per state"
  (theory.md check 2.1, entropy variant) without changing θ's shape: the shift direction
  carries no return, so every stationary point has θ_{s,0} = 0 exactly and the policy is the
  τ-soft optimum. Terminal-state logits touch no return; the anchor pins them at 0 too.
* **inner map** (loss convention of :mod:`jaxrl.bilevel.hypergradient`):
  :func:`inner_grad` ``= −∇_θ J_in`` (a gradient field, ``H`` symmetric), or
  :func:`biased_inner_grad`: the common policy gradient that drops γ^t (Thomas 2014; Nota &
  Thomas 2020; theory.md check 2.4): states are weighted by their *undiscounted* expected visits
  instead of ``Σ_t γ_φ^t Pr(s_t = s)``. It is not the gradient of anything; ``H`` is not
  symmetric (use :func:`ift_hypergradient` or ``symmetric=False``).
* **outer**: :func:`outer_objective` ``J_p(θ) = J(π_θ; r_p, γ)``, primary reward, the MDP's γ.

All functions take a :class:`TabularBilevel` (a pytree of arrays; every coefficient traced, so
one compile serves every λ, τ, ρ).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxrl.bilevel.hypergradient import dense_jacobian
from jaxrl.mdp import TabularMDP, discounted_visits, expected_return, q_pi, softmax_policy
from jaxrl.shaping.blend import BlendParams, blend_discount, blend_reward_table

Array = Any


class TabularBilevel(NamedTuple):
    """One tabular bi-level problem (arrays only, a pytree).

    Attributes:
      P: ``[S, A, S']`` transitions.
      r_p: ``[S, A, S']`` primary reward.
      r_aux: ``[S, A, S']`` auxiliary reward.
      d0: ``[S]`` initial distribution.
      terminal: ``[S]`` bool, absorbing zero-reward states.
      gamma: ``[]`` outer discount (the primary objective's).
      l2: ``[]`` λ, L2 coefficient on all logits.
      entropy: ``[]`` τ, entropy coefficient of the inner return.
      anchor: ``[]`` ρ, L2 coefficient on the pinned logits (see module docstring).
    """

    P: Array
    r_p: Array
    r_aux: Array
    d0: Array
    terminal: Array
    gamma: Array
    l2: Array
    entropy: Array
    anchor: Array


def make_problem(mdp: TabularMDP, r_aux, l2=0.0, entropy=0.0, anchor=0.0) -> TabularBilevel:
    """:class:`TabularBilevel` with ``r_p = mdp.R`` and the MDP's γ as the outer discount."""
    dt = jnp.asarray(mdp.P).dtype
    f = lambda x: jnp.asarray(x, dt)
    return TabularBilevel(
        P=f(mdp.P),
        r_p=f(mdp.R),
        r_aux=jnp.broadcast_to(f(r_aux), jnp.shape(mdp.P)),
        d0=f(mdp.init_dist),
        terminal=jnp.asarray(mdp.terminal_mask, bool),
        gamma=f(mdp.gamma),
        l2=f(l2),
        entropy=f(entropy),
        anchor=f(anchor),
    )


def _mdp(prob: TabularBilevel, R, gamma) -> TabularMDP:
    # R is a learned reward, unmasked on terminal rows (the solvers mask them): not validated here;
    # the solvers check what they depend on.
    return TabularMDP(
        P=prob.P, R=R, gamma=gamma, init_dist=prob.d0, terminal_mask=prob.terminal, validate=False
    )


def inner_mdp(phi: BlendParams, prob: TabularBilevel) -> TabularMDP:
    """The MDP the inner learner sees: reward ``r_φ``, discount ``γ_φ``."""
    return _mdp(prob, blend_reward_table(phi, prob.r_p, prob.r_aux), blend_discount(phi))


def pinned_mask(prob: TabularBilevel, n_actions: int) -> Array:
    """``[S, A]`` 1.0 on the anchored logits: column 0 and every terminal row."""
    first = jnp.zeros((n_actions,), prob.P.dtype).at[0].set(1.0)
    return jnp.maximum(first[None, :], prob.terminal[:, None].astype(prob.P.dtype))


def _penalty(theta, prob: TabularBilevel):
    pinned = pinned_mask(prob, theta.shape[-1])
    return 0.5 * prob.l2 * jnp.sum(theta**2) + 0.5 * prob.anchor * jnp.sum(pinned * theta**2)


def entropy_regularized_return(mdp: TabularMDP, pi: Array, tau) -> Array:
    """``J_τ(π) = E_π[Σ_t γ^t (r_t − τ log π(a_t|s_t))]`` (scalar; τ = 0: :func:`expected_return`).

    The bonus ``−τ log π(a|s)`` is added to every transition reward of a non-terminal state, so
    ``J_τ = J + τ Σ_s ν_π(s) H(π(·|s))`` with ν the discounted visits. ``pi [S, A]`` must be
    positive where τ > 0 (a softmax policy).
    """
    logp = jnp.log(jnp.where(pi > 0, pi, 1.0))
    R = mdp.R - tau * logp[:, :, None]
    return expected_return(mdp, pi, R)


def inner_objective(theta, phi: BlendParams, prob: TabularBilevel):
    """``J_in(θ, φ)`` (to maximise); ``theta [S, A]`` logits."""
    pi = softmax_policy(theta)
    return entropy_regularized_return(inner_mdp(phi, prob), pi, prob.entropy) - _penalty(
        theta, prob
    )


def inner_grad(theta, phi: BlendParams, prob: TabularBilevel):
    """Inner map ``g = −∇_θ J_in`` (loss convention; ``H = ∂_θ g ≻ 0`` at a strict maximum)."""
    return jax.grad(lambda t: -inner_objective(t, phi, prob))(theta)


def _surrogate_grad(theta, mdp: TabularMDP, weights, tau):
    """``Σ_s w(s) Σ_a ∇_θ π(a|s) Q_τ(s, a)`` where ``Q_τ`` includes this step's bonus
    ``−τ log π(a|s)`` (soft policy gradient theorem: the ``Σ_a π ∇ log π = 0`` term drops out).

    ``w`` and ``Q_τ`` are values at ``theta`` (closed over, not stop-gradiented), so derivatives
    of the returned field in θ and φ are exact.
    """
    pi = softmax_policy(theta)
    logp = jnp.log(jnp.where(pi > 0, pi, 1.0))
    Q = q_pi(mdp.replace(R=mdp.R - tau * logp[:, :, None]), pi)
    return jax.grad(lambda t: jnp.sum(weights[:, None] * softmax_policy(t) * Q))(theta)


def policy_gradient_field(theta, phi: BlendParams, prob: TabularBilevel, visit_gamma=None):
    """Ascent field of the inner return (no penalty) with states weighted by visits under
    ``visit_gamma``: ``None`` → γ_φ (the exact policy gradient theorem, = ∇_θ J_τ); ``1.0`` →
    undiscounted visits (the biased estimator that drops γ^t; needs a proper policy, i.e.
    terminals reached with probability 1, or the visits are infinite)."""
    mdp = inner_mdp(phi, prob)
    pi = softmax_policy(theta)
    g_vis = mdp.gamma if visit_gamma is None else visit_gamma
    visits = jnp.sum(discounted_visits(mdp.replace(gamma=g_vis), pi), -1)
    return _surrogate_grad(theta, mdp, visits, prob.entropy)


def biased_inner_grad(theta, phi: BlendParams, prob: TabularBilevel):
    """Inner map of the biased policy gradient (γ^t dropped), loss convention:
    ``g = −(policy_gradient_field(visit_gamma=1) − ∇ penalty)``. Not a gradient field."""
    pen = jax.grad(lambda t: _penalty(t, prob))(theta)
    return pen - policy_gradient_field(theta, phi, prob, visit_gamma=1.0)


def outer_objective(theta, prob: TabularBilevel):
    """``J_p(θ)``: return of π_θ under the primary reward and the outer γ."""
    return expected_return(_mdp(prob, prob.r_p, prob.gamma), softmax_policy(theta))


def newton_solve(inner_grad_fn, theta0, phi, args=(), n_iter=60, tol=1e-14, symmetric=True):
    """Root of ``inner_grad_fn(θ, φ, *args)`` by damped Newton from ``theta0`` (traceable).

    ``symmetric=True`` (a gradient field): saddle-free Newton (eigen-decomposed ``H``, |λ|
    floored at 1e-6), so it climbs to a maximum of the inner objective rather than stopping at a
    saddle. ``False``: plain Newton ``d = −H⁻¹ g`` for a non-gradient field. Steps are capped at
    norm 1; stops once ``‖g‖∞ ≤ tol`` or after ``n_iter`` steps (traced). Returns θ.
    """
    flat0, unravel = ravel_pytree(theta0)
    g_flat = lambda f: ravel_pytree(inner_grad_fn(unravel(f), phi, *args))[0]

    def body(carry):
        i, th, _ = carry
        g = g_flat(th)
        H = dense_jacobian(inner_grad_fn, unravel(th), phi, args)
        if symmetric:
            lam, U = jnp.linalg.eigh(0.5 * (H + H.T))
            d = -U @ ((U.T @ g) / jnp.maximum(jnp.abs(lam), 1e-6))
        else:
            d = -jnp.linalg.solve(H, g)
        d = d * jnp.minimum(1.0, 1.0 / (jnp.linalg.norm(d) + 1e-300))
        return i + 1, th + d, jnp.max(jnp.abs(g))

    def cond(carry):
        i, _, gmax = carry
        return (i < n_iter) & (gmax > tol)

    inf = jnp.asarray(jnp.inf, flat0.dtype)
    _, flat, _ = jax.lax.while_loop(cond, body, (0, flat0, inf))
    return unravel(flat)
