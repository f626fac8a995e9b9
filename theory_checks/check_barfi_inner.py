"""Shared machinery of the BARFI checks (theory.md §2): cases, exact inner solves, FD, IFT.

A :class:`BilevelCase` is a random MDP plus everything the theorem's assumptions are about
(regulariser, inner map, outer sign, how far the inner solve ran, Neumann step, ...), so each
mutation swaps one field and the *same* error function judges it. Every quantity comes from
:mod:`jaxrl.bilevel` (``ift_hypergradient``, ``neumann_*``, the exact tabular problem of
:mod:`jaxrl.bilevel.tabular`) and :mod:`jaxrl.shaping.blend`; this module only glues them.

Shapes: S ∈ [2, 8], A = 3, padded to 8 states (:func:`pad_mdp`, exact). The dense ``[SA, SA]``
Hessian is built inside every Newton step, so one compile per jitted function is all the
budget allows (a second A would double the ~2 s of compiles). γ ∈ [0, 0.95]: κ(H) grows like
(1 − γ)⁻², and the finite differences and Neumann sums need a moderate κ.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxrl.bilevel import dense_jacobian, ift_hypergradient
from jaxrl.bilevel.tabular import (
    biased_inner_grad,
    inner_grad,
    make_problem,
    newton_solve,
    outer_objective,
)
from jaxrl.mdp import policy_iteration, q_values
from jaxrl.shaping.blend import BlendParams, init_blend_params
from theory_checks.harness import mdp_cases, pad_mdp

Array = Any

N_STATES = 8
N_ACTIONS = 3
SHAPES = tuple((S, N_ACTIONS) for S in range(2, N_STATES + 1))
GAMMA = (0.0, 0.95)
L2 = 0.05
N_NEWTON = 60
N_WARM = 8
GRAD_TOL = 1e-10
FD_H = 1e-5
CAP = 1e12  # report cap for a diverging (finite) error; NaN/inf stay harness errors
MAPS = {"gradient": inner_grad, "biased": biased_inner_grad}


class BilevelCase(NamedTuple):
    """One bi-level problem and the variant of the method applied to it.

    Attributes:
      base: the drawn MDP (``base.mdp`` padded to ``N_STATES``).
      reg: ``"l2"`` (λ = ``L2``) or ``"entropy"`` (τ = 1/(1 − γ), anchor ρ = 1, λ = 0).
      l2, anchor: the coefficients actually used (a mutation zeroes them).
      field: inner map solved, ``"gradient"`` (−∇J_in) or ``"biased"`` (γ^t dropped).
      ift_field: inner map whose Jacobian the IFT uses (normally = ``field``).
      outer_sign: +1 uses ∇_θ J_p; −1 is the outer-*loss* convention bug.
      inner_iters: Newton steps before the IFT is taken (``N_NEWTON`` = converged).
      aux: ``"random"`` N(0, 1) or ``"misleading"`` (check 8).
      alpha_scale, k_final, map_sign: Neumann step α·|λ|max, its final K (None: from κ), and
        the sign of the inner map handed to the series (−1: reward convention).
      frozen: outer loop moves only γ_φ (blend weights frozen).
      outer_reward: ``"primary"`` (J_p) or ``"blended"`` (the outer gradient of J(π; r_φ, γ_φ)).
    """

    base: Any
    reg: str = "l2"
    l2: float = L2
    anchor: float = 0.0
    field: str = "gradient"
    ift_field: str | None = None
    outer_sign: float = 1.0
    inner_iters: int = N_NEWTON
    aux: str = "random"
    alpha_scale: float = 1.0
    k_final: int | None = None
    map_sign: float = 1.0
    frozen: bool = False
    outer_reward: str = "primary"

    @property
    def key(self) -> tuple:
        b = self.base
        return (b.seed, b.n_states, b.gamma, b.sparsity_k, b.n_terminal, self.reg, self.l2,
                self.anchor, self.aux)  # fmt: skip

    @property
    def well_posed(self) -> bool:
        return self.l2 > 0 or self.anchor > 0


def bilevel_cases(reg: str = "l2", **kw):
    """Strategy of :class:`BilevelCase` (``reg="mixed"`` draws both regularisers)."""
    kw = {"shapes": SHAPES, "gamma": GAMMA, "pad": False, **kw}

    def build(base, r):
        base = dataclasses.replace(base, mdp=pad_mdp(base.mdp, N_STATES))
        if r == "entropy":
            return BilevelCase(base, reg="entropy", l2=0.0, anchor=1.0)
        return BilevelCase(base)

    from hypothesis import strategies as st

    regs = ("l2", "entropy") if reg == "mixed" else (reg,)
    return st.tuples(mdp_cases(**kw), st.sampled_from(regs)).map(lambda t: build(*t))


def misleading_aux(mdp) -> np.ndarray:
    """``r_aux = M·1[a = argmin_a Q*_p(s, a)]``, ``M = 2(1 + max|R_p|)`` (theory.md check 2.3)."""
    V = policy_iteration(mdp).V
    Q = np.asarray(q_values(mdp, V))
    S, A = Q.shape
    r_aux = np.zeros((S, A, S))
    r_aux[np.arange(S), Q.argmin(-1), :] = 2.0 * (1.0 + float(np.max(np.abs(mdp.R))))
    return r_aux


_PROBLEMS: dict = {}


def problem(case: BilevelCase):
    """The :class:`jaxrl.bilevel.tabular.TabularBilevel` of a case (memoised)."""
    if case.key not in _PROBLEMS:
        mdp = case.base.mdp
        if case.aux == "misleading":
            r_aux = misleading_aux(mdp)
        else:
            r_aux = case.base.rng(7).standard_normal(np.shape(mdp.R))
        tau = 1.0 / (1.0 - case.base.gamma) if case.reg == "entropy" else 0.0
        _PROBLEMS[case.key] = make_problem(mdp, r_aux, case.l2, tau, case.anchor)
    return _PROBLEMS[case.key]


def gamma_phi_init(gamma: float) -> float:
    """γ_φ of the naive blend: the MDP's γ, clipped into (0, 1) for the sigmoid."""
    return float(np.clip(gamma, 0.01, 0.99))


def naive_phi(case: BilevelCase) -> BlendParams:
    g = gamma_phi_init(case.base.gamma)
    return init_blend_params(N_STATES, gamma_init=g, dtype=jnp.float64)


def random_phi(case: BilevelCase) -> BlendParams:
    """φ around the naive blend: W ~ N(0, 0.5²), γ_φ logit + N(0, 0.3²)."""
    rng = case.base.rng(8)
    phi = naive_phi(case)
    return phi._replace(
        weight=jnp.asarray(0.5 * rng.standard_normal((N_STATES, 2))),
        gamma_logit=phi.gamma_logit + 0.3 * rng.standard_normal(),
    )


class Solved(NamedTuple):
    theta: np.ndarray  # [S, A] θ after the solve
    grad_norm: float  # ‖g(θ)‖∞
    H: np.ndarray  # [n, n] ∂_θ g(θ)
    v: np.ndarray  # [n] ∇_θ J_p(θ)
    J_p: float

    @property
    def converged(self) -> bool:
        """Stationary, and a strict optimum / non-singular root (Re λ(H) > 0)."""
        lam = np.linalg.eigvals(self.H).real
        return bool(self.grad_norm < GRAD_TOL and lam.min() > 1e-9 * max(1.0, lam.max()))


@partial(jax.jit, static_argnames="field")
def _solve_jit(theta0, phi, prob, n_iter, field):
    g = MAPS[field]
    theta = newton_solve(g, theta0, phi, (prob,), n_iter, symmetric=field == "gradient")
    H = dense_jacobian(g, theta, phi, (prob,))
    v = jax.grad(outer_objective)(theta, prob)
    return theta, jnp.max(jnp.abs(g(theta, phi, prob))), H, v.ravel(), outer_objective(theta, prob)


def solve(theta0, phi, prob, n_iter: int, field: str = "gradient") -> Solved:
    th, gn, H, v, J = _solve_jit(jnp.asarray(theta0), phi, prob, n_iter, field)
    return Solved(np.asarray(th), float(gn), np.asarray(H), np.asarray(v), float(J))


_SOLVES: dict = {}


def solve_from_zero(case: BilevelCase, phi, tag, n_iter: int, field: str) -> Solved:
    """Memoised cold solve (mutations that keep the inner problem reuse it)."""
    key = (case.key, tag, n_iter, field)
    if key not in _SOLVES:
        _SOLVES[key] = solve(np.zeros((N_STATES, N_ACTIONS)), phi, problem(case), n_iter, field)
    return _SOLVES[key]


def flat(tree) -> np.ndarray:
    return np.asarray(ravel_pytree(tree)[0])


def ift(case: BilevelCase, phi, s: Solved, field: str) -> np.ndarray:
    """Raveled :func:`ift_hypergradient` of ``outer_sign·J_p`` through map ``field`` at ``s``."""
    v = case.outer_sign * s.v.reshape(N_STATES, N_ACTIONS)
    hg = ift_hypergradient(jnp.asarray(v), MAPS[field], jnp.asarray(s.theta), phi, (problem(case),))
    return flat(hg)


def fd_directional(case, phi, theta_star, u: np.ndarray, field: str) -> float:
    """Central difference of φ ↦ J_p(θ*(φ)) along ``u`` (re-solves warm-started at θ*), with one
    Richardson step, ``(4 D(h/2) − D(h))/3``: the O(h²) truncation of a plain central difference
    reached 6e-5 relative on ill-conditioned cases (seen under ``--thorough``)."""
    f0, unravel = ravel_pytree(phi)
    prob = problem(case)

    def central(h):
        J = [solve(theta_star, unravel(f0 + s * h * jnp.asarray(u)), prob, N_WARM, field).J_p
             for s in (1.0, -1.0)]  # fmt: skip
        return (J[0] - J[1]) / (2 * h)

    return (4 * central(FD_H / 2) - central(FD_H)) / 3


def capped(x: float) -> float:
    """A finite error above ``CAP`` (a diverging series) is reported as ``CAP``; a non-finite one
    is left as it is, so the harness reports it as an error rather than a kill."""
    return min(float(x), CAP)
