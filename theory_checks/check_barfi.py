"""Check family 2 (BARFI, theory.md §2; properties 6, 7, 8 of §11).

Common setup (float64). A random MDP (S, A) ∈ ``_SHAPES``, γ ∈ [0.5, 0.9], primary reward
``R_p = mdp.R`` and an auxiliary reward ``R_aux ~ N(0, 1)`` on ``[S, A, S']``; φ = BARFI's blend
(:mod:`jaxrl.shaping.blend`, one-hot features: ``r_φ = R_p + φ₁(s) + φ₂(s)·R_aux``,
``γ_φ = sigmoid(θ_γ)``; 2S + 3 parameters). Softmax logits θ ∈ ℝ^{S×A}.

* inner:  ``θ*(φ) = argmax_θ J(π_θ; r_φ, γ_φ) − (c/2)‖θ‖²`` (unnormalised return, exact linear
  solve), solved by saddle-free Newton (eigen-decomposed Hessian, |λ| floored, step capped) to
  ‖∇‖ ≈ 1e-15 from θ = 0; FD re-solves are warm-started at θ*. Loss convention for the library:
  ``g = −∇_θ(J − (c/2)‖θ‖²)``, so ``H = ∂_θ g ≻ 0`` at a strict maximum.
* outer:  ``J_p(θ) = J(π_θ; R_p, γ)`` (primary reward, the MDP's own γ).

Checks:

* **6 IFT hypergradient = central finite differences** of φ ↦ J_p(θ*(φ)) (h = 1e-5, all 2S + 3
  coordinates, inner re-solved at φ ± h e_i), relative error ‖ift − fd‖/‖fd‖ ≤ 1e-6 (c = 0.05;
  reference 3.1e-9). Cases where Newton did not reach ‖∇‖ < 1e-10 at a strict maximum are
  discarded (``assume``). Counterexample: c = 0 (no L2 term). Softmax logits are shift invariant,
  so H is singular at every stationary point (and a deterministic optimum lies at infinity): the
  same solver runs off towards infinite logits and the IFT solve through an (almost) singular H
  does not reproduce the finite differences (error reported; non-finite → inf).
* **7 Neumann series → IFT**: with α = 1/λ_max(H), the relative error of
  :func:`neumann_hypergradient` against :func:`ift_hypergradient` over K ∈ {0, 1, 2, 4, …, 4096}
  must be non-increasing (each step may rise by at most 1 % of the previous error + 1e-12) and
  ≤ 1e-6 at K = 4096 (c = 0.2 here to bound κ(H)). error = max(final error, worst rise).
  Counterexamples (the reported error is the smaller of the two, both must fail):
  α = 3/λ_max (> 2/λ_max: the series diverges) and the first-order approximation (K = 0), whose
  relative error is O(1) (reference 0.44).
* **8 learned blend ≥ naive blend** under a misleading auxiliary reward: R_aux = M·1[a = a_bad(s)]
  with a_bad(s) = argmin_a Q*_p(s, a) and M = 2(1 + max|R_p|) so the naive blend (φ₁ = 0, φ₂ = 1,
  γ_φ = γ) prefers bad actions. ``N_OUTER`` outer gradient-ascent steps of fixed length
  (normalised exact IFT hypergradient, no line search) from φ_naive must end with
  J_p(θ*(φ_learned)) ≥ J_p(θ*(φ_naive)) − 1e-8 (error = max(0, −slack) / (1 + |J_p|)).
  theory.md lists no counterexample; ours (design): the same loop with the step sign flipped
  (outer *descent*), which must end strictly worse than the naive blend.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from jax.flatten_util import ravel_pytree

from jaxrl.bilevel import (
    dense_jacobian,
    first_order_hypergradient,
    ift_hypergradient,
    neumann_hypergradient,
)
from jaxrl.mdp import TabularMDP, expected_return, policy_iteration, q_values, softmax_policy
from jaxrl.shaping.blend import (
    BlendParams,
    blend_discount,
    blend_reward_table,
    init_blend_params,
)
from theory_checks.harness import Check, as_pytest, mdp_cases, numpy_mdp

Array = Any

_SHAPES = ((6, 3),)
_GAMMA = (0.5, 0.9)
C_IFT = 0.05
C_NEUMANN = 0.2
FD_H = 1e-5
N_NEWTON = 60
N_NEWTON_WARM = 8
GRAD_TOL = 1e-10
NEWTON_STOP = 1e-14
K_GRID = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
MONO_SLACK = 0.01
N_OUTER = 10
OUTER_STEP = 0.3


class Problem(NamedTuple):
    """Arrays of one bi-level problem (a pytree, so the jitted solvers take it traced)."""

    P: Array  # [S, A, S']
    r_p: Array  # [S, A, S'] primary reward
    r_aux: Array  # [S, A, S'] auxiliary reward
    d0: Array  # [S]
    terminal: Array  # [S] bool
    gamma: Array  # [] outer discount
    c: Array  # [] L2 coefficient of the inner problem


def _mdp(prob: Problem, R, gamma) -> TabularMDP:
    return TabularMDP(P=prob.P, R=R, gamma=gamma, init_dist=prob.d0, terminal_mask=prob.terminal)


def inner_objective(theta, phi: BlendParams, prob: Problem):
    """``J(π_θ; r_φ, γ_φ) − (c/2)‖θ‖²`` (to maximise)."""
    R = blend_reward_table(phi, prob.r_p, prob.r_aux)
    J = expected_return(_mdp(prob, R, blend_discount(phi)), softmax_policy(theta))
    return J - 0.5 * prob.c * jnp.sum(theta**2)


def inner_grad(theta, phi, prob):
    """Loss-convention inner map ``g = −∇_θ inner_objective`` (the library's ``inner_grad_fn``)."""
    return jax.grad(lambda t: -inner_objective(t, phi, prob))(theta)


def outer_objective(theta, prob: Problem):
    """``J_p(θ)``: return of π_θ under the primary reward and the MDP's γ."""
    return expected_return(_mdp(prob, prob.r_p, prob.gamma), softmax_policy(theta))


def _newton(theta, phi, prob, n_iter):
    """Saddle-free Newton ascent on ``inner_objective`` (|λ| floored at 1e-6, step ≤ 1), at most
    ``n_iter`` steps (traced), stopping once ``‖g‖∞ ≤ NEWTON_STOP``."""
    shape = theta.shape

    def cond(carry):
        i, _, gmax = carry
        return (i < n_iter) & (gmax > NEWTON_STOP)

    def body(carry):
        i, th, _ = carry
        g = inner_grad(th, phi, prob).ravel()
        H = dense_jacobian(inner_grad, th, phi, (prob,))
        lam, U = jnp.linalg.eigh(0.5 * (H + H.T))
        d = -U @ ((U.T @ g) / jnp.maximum(jnp.abs(lam), 1e-6))
        d = d * jnp.minimum(1.0, 1.0 / (jnp.linalg.norm(d) + 1e-300))
        return i + 1, th + d.reshape(shape), jnp.max(jnp.abs(g))

    inf = jnp.asarray(jnp.inf, theta.dtype)
    _, theta, _ = jax.lax.while_loop(cond, body, (0, theta, inf))
    return theta


class Analysis(NamedTuple):
    """The inner solution at φ and everything the checks read from it (one compiled call)."""

    theta: Array  # [S, A] θ*(φ)
    grad_norm: Array  # ‖g(θ*)‖∞ (stationarity residual)
    lam_min: Array  # λ_min(H): > 0 at a strict inner maximum
    lam_max: Array  # λ_max(H)
    J_p: Array  # J_p(θ*)
    ift: Array  # [m] raveled IFT hypergradient dJ_p(θ*(φ))/dφ


@jax.jit
def analyse(theta0, phi, prob, n_iter) -> Analysis:
    """Solve the inner problem from ``theta0`` (``n_iter`` Newton steps, traced) and return
    :class:`Analysis`. The checks call only this and ``_neumann_errors`` (two compiles/shape)."""
    theta = _newton(theta0, phi, prob, n_iter)
    H = dense_jacobian(inner_grad, theta, phi, (prob,))
    lam = jnp.linalg.eigvalsh(0.5 * (H + H.T))
    v = jax.grad(outer_objective)(theta, prob)
    hg = ravel_pytree(ift_hypergradient(v, inner_grad, theta, phi, (prob,)))[0]
    return Analysis(
        theta=theta,
        grad_norm=jnp.max(jnp.abs(inner_grad(theta, phi, prob))),
        lam_min=lam[0],
        lam_max=lam[-1],
        J_p=outer_objective(theta, prob),
        ift=hg,
    )


def fd_hypergradient(theta_star, phi, prob) -> np.ndarray:
    """Central differences of φ ↦ J_p(θ*(φ)) on the raveled φ (re-solves warm-started at θ*)."""
    flat, unravel = ravel_pytree(phi)
    flat = np.asarray(flat)
    out = np.empty_like(flat)
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = FD_H
        Jp = float(analyse(theta_star, unravel(jnp.asarray(flat + e)), prob, N_NEWTON_WARM).J_p)
        Jm = float(analyse(theta_star, unravel(jnp.asarray(flat - e)), prob, N_NEWTON_WARM).J_p)
        out[i] = (Jp - Jm) / (2 * FD_H)
    return out


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    err = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))
    return err if math.isfinite(err) else math.inf


# ----------------------------------------------------------------------------- cases
def _problem(case, c: float, r_aux=None) -> Problem:
    mdp = case.mdp if hasattr(case, "mdp") else case
    S, A = mdp.P.shape[:2]
    if r_aux is None:
        r_aux = np.random.default_rng([case.seed, 7]).standard_normal((S, A, S))
    return Problem(
        P=jnp.asarray(mdp.P),
        r_p=jnp.asarray(mdp.R),
        r_aux=jnp.asarray(r_aux),
        d0=jnp.asarray(mdp.init_dist),
        terminal=jnp.asarray(mdp.terminal_mask),
        gamma=jnp.asarray(mdp.gamma, jnp.float64),
        c=jnp.asarray(c, jnp.float64),
    )


def _random_phi(seed: int, S: int, gamma: float) -> BlendParams:
    """A random blend around the naive one: φ₁ ~ N(0, 0.5²), φ₂ ~ 1 + N(0, 0.5²), γ_φ ≈ γ."""
    rng = np.random.default_rng([seed, 8])
    phi = init_blend_params(S, gamma_init=gamma, dtype=jnp.float64)
    return phi._replace(
        weight=jnp.asarray(0.5 * rng.standard_normal((S, 2))),
        gamma_logit=phi.gamma_logit + 0.3 * rng.standard_normal(),
    )


def _solved(prob: Problem, phi) -> Analysis:
    S, A = prob.P.shape[:2]
    return analyse(jnp.zeros((S, A)), phi, prob, N_NEWTON)


def _converged(a: Analysis) -> bool:
    return bool(a.grad_norm < GRAD_TOL and a.lam_min > 0)


_cases = mdp_cases(shapes=_SHAPES, gamma=_GAMMA)


# ----------------------------------------------------------------------------- 6
def _ift_error(prob: Problem, phi, require_converged: bool) -> float:
    a = _solved(prob, phi)
    if require_converged:
        assume(_converged(a))
    return _rel(a.ift, fd_hypergradient(a.theta, phi, prob))


def _ift_case(case) -> float:
    phi = _random_phi(case.seed, case.n_states, case.gamma)
    return _ift_error(_problem(case, C_IFT), phi, require_converged=True)


def _ift_counter() -> float:
    mdp = numpy_mdp(seed=11, n_states=6, n_actions=3, gamma=0.9)
    prob = _problem(mdp, 0.0, r_aux=np.random.default_rng(12).standard_normal((6, 3, 6)))
    phi = init_blend_params(6, gamma_init=0.9, dtype=jnp.float64)
    return _ift_error(prob, phi, require_converged=False)


IFT_VS_FD = Check(
    name="6 BARFI implicit hypergradient = finite differences",
    strategy=_cases,
    error=_ift_case,
    tolerance=1e-6,
    counterexample=_ift_counter,
    examples=12,
    description="IFT (dense solve) vs central FD of J_p(theta*(phi)), L2-regularised inner "
    "problem (c = 0.05). Counterexample: c = 0 (singular H by softmax shift invariance).",
)


# ----------------------------------------------------------------------------- 7
@jax.jit
def _neumann_errors(theta, phi, prob, exact, K_grid, alpha):
    """Relative errors vs ``exact`` of Neumann(K) for K in ``K_grid``, of first order, and the
    cosine between first order and ``exact`` (all at step ``alpha``)."""
    v = jax.grad(outer_objective)(theta, prob)
    nrm = jnp.linalg.norm(exact)

    def err(K):
        hg = neumann_hypergradient(v, inner_grad, theta, phi, K, alpha, (prob,))
        return jnp.linalg.norm(ravel_pytree(hg)[0] - exact) / nrm

    fo = ravel_pytree(first_order_hypergradient(v, inner_grad, theta, phi, alpha, (prob,)))[0]
    cos = jnp.dot(fo, exact) / (jnp.linalg.norm(fo) * nrm)
    return jax.lax.map(err, K_grid), jnp.linalg.norm(fo - exact) / nrm, cos


def neumann_profile(prob: Problem, phi, alpha_scale: float = 1.0):
    """``(errors over K_GRID, first-order error, first-order cosine, Analysis)`` at
    ``α = alpha_scale / λ_max(H)``."""
    a = _solved(prob, phi)
    alpha = alpha_scale / a.lam_max
    errs, fo, cos = _neumann_errors(a.theta, phi, prob, a.ift, jnp.asarray(K_GRID), alpha)
    return np.asarray(errs), float(fo), float(cos), a


def _neumann_error(errs: np.ndarray) -> float:
    errs = np.where(np.isfinite(errs), errs, np.inf)
    with np.errstate(invalid="ignore"):
        rises = errs[1:] - (1 + MONO_SLACK) * errs[:-1] - 1e-12
    rises = np.where(np.isnan(rises), np.inf, rises)  # inf - inf: diverged
    return max(float(errs[-1]), float(np.max(rises, initial=0.0)))


def _neumann_case(case) -> float:
    phi = _random_phi(case.seed, case.n_states, case.gamma)
    errs, _, _, a = neumann_profile(_problem(case, C_NEUMANN), phi)
    assume(_converged(a))
    return _neumann_error(errs)


def neumann_counterexamples() -> dict[str, float]:
    """``{"alpha=3/lambda_max": error, "first_order": error, "first_order_cosine": cos}``."""
    mdp = numpy_mdp(seed=21, n_states=6, n_actions=3, gamma=0.9)
    prob = _problem(mdp, C_NEUMANN, r_aux=np.random.default_rng(22).standard_normal((6, 3, 6)))
    phi = _random_phi(23, 6, 0.9)
    errs_div, _, _, _ = neumann_profile(prob, phi, alpha_scale=3.0)
    _, fo, cos, _ = neumann_profile(prob, phi, alpha_scale=1.0)
    return {
        "alpha=3/lambda_max": _neumann_error(errs_div),
        "first_order": fo,
        "first_order_cosine": cos,
    }


def _neumann_counter() -> float:
    ce = neumann_counterexamples()
    return min(ce["alpha=3/lambda_max"], ce["first_order"])


NEUMANN = Check(
    name="7 BARFI Neumann series converges to the IFT hypergradient",
    strategy=_cases,
    error=_neumann_case,
    tolerance=1e-6,
    counterexample=_neumann_counter,
    examples=12,
    description="alpha = 1/lambda_max(H): error non-increasing in K (1% slack), <= 1e-6 at "
    "K = 4096. Counterexample: min(error at alpha = 3/lambda_max, first-order error).",
)


# ----------------------------------------------------------------------------- 8
def misleading_problem(mdp: TabularMDP) -> Problem:
    """``R_aux = M·1[a = argmin_a Q*_p(s, a)]`` with ``M = 2(1 + max|R_p|)``."""
    _, V = policy_iteration(mdp)
    Q = np.asarray(q_values(mdp, V))
    S, A = Q.shape
    bad = np.argmin(Q, axis=-1)
    M = 2.0 * (1.0 + float(np.max(np.abs(np.asarray(mdp.R)))))
    r_aux = np.zeros((S, A, S))
    r_aux[np.arange(S), bad, :] = M
    return _problem(mdp, C_IFT, r_aux=r_aux)


def outer_ascent(prob: Problem, gamma: float, sign: float = 1.0, n_steps: int = N_OUTER):
    """``(J_p naive, J_p learned, φ_learned)``: ``n_steps`` outer steps of length OUTER_STEP
    along ``sign`` × the normalised exact hypergradient from φ_naive (inner warm-started)."""
    S = prob.P.shape[0]
    phi = init_blend_params(S, gamma_init=gamma, dtype=jnp.float64)
    _, unravel = ravel_pytree(phi)
    a = _solved(prob, phi)
    J0 = float(a.J_p)
    for _ in range(n_steps):
        hg = np.asarray(a.ift)
        step = OUTER_STEP * hg / max(np.linalg.norm(hg), 1e-300)
        phi = unravel(ravel_pytree(phi)[0] + sign * jnp.asarray(step))
        a = analyse(a.theta, phi, prob, N_NEWTON)
    return J0, float(a.J_p), phi


def _feasibility_error(prob, gamma, sign=1.0) -> float:
    J0, J1, _ = outer_ascent(prob, gamma, sign)
    err = max(0.0, J0 - J1) / (1.0 + abs(J0))
    return err if math.isfinite(err) else math.inf


def _feasibility_case(case) -> float:
    return _feasibility_error(misleading_problem(case.mdp), case.gamma)


def _feasibility_counter() -> float:
    mdp = numpy_mdp(seed=31, n_states=6, n_actions=3, gamma=0.9)
    return _feasibility_error(misleading_problem(mdp), 0.9, sign=-1.0)


FEASIBILITY = Check(
    name="8 BARFI learned blend no worse than naive blend (misleading aux)",
    strategy=mdp_cases(shapes=_SHAPES, gamma=_GAMMA, sparse=False),
    error=_feasibility_case,
    tolerance=1e-8,
    counterexample=_feasibility_counter,
    examples=8,
    description="J_p(theta*(phi_learned)) >= J_p(theta*(phi_naive)) after fixed-length exact "
    "hypergradient ascent steps. Counterexample (design): outer step sign flipped (descent).",
)


test_ift_vs_fd_property, test_ift_vs_fd_counterexample = as_pytest(IFT_VS_FD)
test_neumann_property, test_neumann_counterexample = as_pytest(NEUMANN)
test_feasibility_property, test_feasibility_counterexample = as_pytest(FEASIBILITY)


def test_neumann_each_counterexample_fails():
    """Both counterexamples of check 7 fail on their own; first order is still a fair direction."""
    with jax.enable_x64(True):
        ce = neumann_counterexamples()
    assert ce["alpha=3/lambda_max"] > 1e3, ce
    assert ce["first_order"] > 1e-2, ce
