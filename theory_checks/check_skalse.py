"""Checks 20a/b: Skalse et al. (ICML 2023) reward invariances (theory.md §10, §11 item 20).

Normalisation (theory.md §0.1): ``J(π, R) = (1 − γ) G(π, R)``, ``G`` the unnormalised return of
:func:`jaxrl.mdp.expected_return`. Shaping goes through the library transform
(``apply_to_table(potential_based(Φ))`` via :func:`theory_checks.check_pbrs.shaped_table`);
optimal policies through :func:`jaxrl.mdp.policy_iteration`. Cases: padded ``mdp_cases``
(every S × A, γ ∈ [0, 0.999], sparse or dense), compared on live states.

* **20a ordering invariance** (the STARC characterisation): for
  ``R₂ = c·(R₁ + γΦ(s') − Φ(s)) + D + c·k`` with ``c > 0`` log-uniform in [0.1, 10],
  ``Φ ~ N(0, 5²)``, an S'-redistribution ``D = (N − E_τ N)·1[τ > 0] + 100·M·1[τ = 0]`` (arbitrary
  values on impossible transitions) and a constant ``k ~ U[−3, 3]`` (a constant is potential
  shaping with ``Φ ≡ −k/(1 − γ)`` in a *continuing* task, so the property's MDPs have no
  terminal states):

      J₂(π) = c·J₁(π) − c(1 − γ)E_{d0}[Φ] + c·k     for every π,

  over 100 random policies (Dirichlet α ∈ {0.3, 1, 5}), and equal optimal-action sets. Error =
  max(residual / (1 + max|J₂|), 1.0 if the sets differ); tolerance 1e-10.
  Mutations: an **uncentred redistribution** (``E_τ D ≠ 0``); **transfer** (the same ``R₂``
  under new dynamics ``P'`` with the same support, Thm 4.2); **negative scale** ``c < 0`` (the
  map stays affine but reverses the ordering: the sets differ); a **state-dependent scale**
  ``c(s)`` with ``Φ = V*₁``, i.e. ``E_τ R₂ = c(s)·A*₁``: optimality-preserving (20b) but not
  ordering-preserving; the **episodic constant shift** (Sutton & Barto's "−1 per step"): the same
  ``+c·k`` on MDPs with absorbing terminal states: it adds ``c·k·(1 − E_π[γ^T])`` (T the
  episode length), which depends on π whenever episode lengths do, so the map is not affine
  (it also misses the predicted constant ``c·k``).
* **20b optimality preservation** (Def. 2.8, Thm 3.2): any ``R₂`` with a certificate Ψ,
  ``E_{S'~τ}[R₂(s, a, S') + γΨ(S')] = Ψ(s) − ξ(s, a)`` with ``ξ ≥ 0`` and ``ξ = 0`` exactly on the
  optimal actions of ``R₁``, has the optimal actions of ``R₁`` and ``V*₂ = Ψ``. Built as
  ``R₂ = shaping_{−Ψ}(−ξ + D)`` with ``Ψ ~ N(0, 5²)`` (0 on terminals),
  ``ξ(s, a) = c(s)(V*₁(s) − Q*₁(s, a))``, ``c(s) ~ U[0.2, 5]``, ``D`` a centred redistribution.
  Error = max(1.0 if the optimal sets differ, ``‖V*₂ − Ψ‖ / (1 + ‖Ψ‖)``); tolerance 1e-9.
  Mutations: **optimal action not tight** (``ξ > 0`` on an optimal action), **bonus on a worse
  action** (``c(s) < 0`` at one state), **transfer** to new dynamics (Thm 4.2).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume

from jaxrl.mdp import TabularMDP, expected_return, policy_iteration, q_values
from theory_checks.check_pbrs import min_action_gap, optimal_sets, shaped_table
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, dirichlet_rows, mdp_cases

N_POLICIES = 100
GAP_MIN = 1e-6

#: ``G`` of a batch of policies ``[N, S, A]`` (one compile per padded shape).
_batch_returns = jax.jit(jax.vmap(expected_return, in_axes=(None, 0)))


def random_policies(case: MDPCase, n: int = N_POLICIES, stream: int = 30) -> np.ndarray:
    """``[n, S, A]`` Dirichlet policies, α cycling through {0.3, 1, 5}."""
    rng = case.rng(stream)
    shape = (case.n_padded, case.n_actions)
    return np.stack([dirichlet_rows(rng, shape, (0.3, 1.0, 5.0)[i % 3]) for i in range(n)])


def normalised_returns(mdp: TabularMDP, R, pis: np.ndarray) -> np.ndarray:
    """``[n]`` ``J(π, R) = (1 − γ) G(π, R)`` for each policy."""
    G = _batch_returns(mdp.replace(R=np.asarray(R)), pis)
    return (1.0 - float(mdp.gamma)) * np.asarray(G)


def optimal_q(mdp: TabularMDP, R) -> np.ndarray:
    """``Q* [S, A]`` of reward ``R`` on ``mdp``'s dynamics (policy iteration)."""
    m = mdp.replace(R=np.asarray(R))
    V = policy_iteration(m).V
    return np.asarray(q_values(m, V))


def _tie(Q) -> float:
    return 1e-9 * (1.0 + float(np.max(np.abs(Q))))


def _sets_differ(Q1, Q2, live) -> bool:
    return bool(np.any((optimal_sets(Q1, _tie(Q1)) != optimal_sets(Q2, _tie(Q2)))[live]))


def redistribution(P, N, M, centred: bool = True) -> np.ndarray:
    """``D = (N − E_τ N)·1[τ > 0] + 100·M·1[τ = 0]`` (``centred=False`` drops ``− E_τ N``)."""
    mean = np.sum(P * N, axis=-1, keepdims=True) if centred else 0.0
    return np.where(P > 0, N - mean, 100.0 * M)


def new_dynamics(case: MDPCase) -> np.ndarray:
    """``P'``: the same support as ``P``, fresh Dirichlet weights (Thm 4.2's transfer)."""
    P = np.asarray(case.mdp.P)
    P_new = np.where(P > 0, dirichlet_rows(case.rng(33), P.shape), 0.0)
    return P_new / P_new.sum(-1, keepdims=True)


def _shape(mdp: TabularMDP, R, phi) -> np.ndarray:
    return np.asarray(shaped_table("pbrs", R, mdp.gamma, mdp.terminal_mask, phi, jnp.asarray(0.0)))


# ----------------------------------------------------------------------------- 20a
class OrderingCase(NamedTuple):
    """``R₂ = c(s)·shaping_Φ(R₁) + D + c̄·k``, evaluated on ``eval_P`` (default: ``P``)."""

    base: MDPCase
    c_s: np.ndarray  # [S] scale per state (constant c in the class)
    phi: np.ndarray  # [S]
    k: float
    centred: bool = True
    eval_P: np.ndarray | None = None


def _ordering_case(base: MDPCase) -> OrderingCase:
    rng = base.rng(31)
    c = 10.0 ** rng.uniform(-1, 1)
    k = rng.uniform(-3, 3)
    return OrderingCase(base, np.full(base.n_padded, c), base.potential(stream=32), k)


def _ordering_error(case: OrderingCase) -> float:
    base, mdp = case.base, case.base.mdp
    P = np.asarray(mdp.P)
    rng = base.rng(34)
    N, M = rng.standard_normal(P.shape), rng.standard_normal(P.shape)
    c = float(np.mean(case.c_s[base.live]))
    R2 = case.c_s[:, None, None] * _shape(mdp, mdp.R, case.phi)
    R2 = R2 + redistribution(P, N, M, case.centred) + c * case.k
    target = mdp if case.eval_P is None else mdp.replace(P=case.eval_P)
    g = float(mdp.gamma)
    pis = random_policies(base)
    J1, J2 = normalised_returns(target, mdp.R, pis), normalised_returns(target, R2, pis)
    const = -c * (1 - g) * float(np.dot(np.asarray(mdp.init_dist), case.phi)) + c * case.k
    residual = float(np.max(np.abs(J2 - (c * J1 + const)))) / (1.0 + float(np.max(np.abs(J2))))
    Q1 = optimal_q(target, mdp.R)
    assume(min_action_gap(Q1, base.live, _tie(Q1)) > GAP_MIN)
    return max(residual, 1.0 if _sets_differ(Q1, optimal_q(target, R2), base.live) else 0.0)


def _state_scale(case: OrderingCase) -> OrderingCase:
    """``Φ = V*₁``, ``c(s) = c·U[0.2, 5]``: ``E_τ R₂ = c(s)·A*₁(s, a)`` (OPT-preserving only)."""
    V1 = policy_iteration(case.base.mdp).V
    c_s = case.c_s * case.base.rng(35).uniform(0.2, 5.0, case.base.n_padded)
    return case._replace(phi=np.asarray(V1), c_s=c_s, k=0.0)


SKALSE_ORDERING = Check(
    name="20a Skalse shaping + scaling + redistribution: J2 = c J1 + const",
    theorem="Skalse et al. 2023 (ordering class: shaping, c > 0, S'-redistribution)",
    strategy=mdp_cases(n_terminal=(0, 0)).map(_ordering_case),
    error=_ordering_error,
    tolerance=1e-10,
    mutations=(
        Mutation("uncentred redistribution", "E_tau D = 0", lambda c: c._replace(centred=False)),
        Mutation(
            "transfer",
            "same dynamics tau (Thm 4.2)",
            lambda c: c._replace(eval_P=new_dynamics(c.base)),
        ),
        Mutation("negative scale", "c > 0", lambda c: c._replace(c_s=-c.c_s)),
        Mutation("state-dependent scale c(s) A*", "c constant over states", _state_scale),
        Mutation(
            "episodic constant shift",
            "no terminal states (a constant is shaping only in continuing tasks)",
            strategy=mdp_cases(n_terminal=(1, 2)).map(_ordering_case),
        ),
    ),
    description="100 random policies, normalised J; sets on live states; continuing MDPs.",
)


# ----------------------------------------------------------------------------- 20b
class OptCase(NamedTuple):
    """Certificate ``psi [S]``, per-state slack scale ``c_s [S]``, optional ``eval_P`` and an
    ``untight`` state whose optimal action gets slack (mutation; ``-1`` = none)."""

    base: MDPCase
    psi: np.ndarray
    c_s: np.ndarray
    untight: int = -1
    eval_P: np.ndarray | None = None


def _opt_case(base: MDPCase) -> OptCase:
    psi = base.potential(stream=36) * base.live
    return OptCase(base, psi, base.rng(37).uniform(0.2, 5.0, base.n_padded))


def _opt_error(case: OptCase) -> float:
    base, mdp = case.base, case.base.mdp
    live = base.live
    Q1 = optimal_q(mdp, mdp.R)
    assume(min_action_gap(Q1, live, _tie(Q1)) > GAP_MIN)
    xi = case.c_s[:, None] * (Q1.max(-1, keepdims=True) - Q1)  # 0 exactly on optimal actions
    if case.untight >= 0:
        xi[case.untight, np.argmax(Q1[case.untight])] = 2.0 * np.max(np.abs(xi)) + 1.0
    P = np.asarray(mdp.P)
    rng = base.rng(38)
    D = redistribution(P, rng.standard_normal(P.shape), rng.standard_normal(P.shape))
    R2 = _shape(mdp, D - xi[:, :, None], -case.psi)  # + Ψ(s) − γΨ(s')(1 − term(s'))
    target = mdp if case.eval_P is None else mdp.replace(P=case.eval_P)
    V2 = policy_iteration(target.replace(R=R2)).V
    Q2 = np.asarray(q_values(target.replace(R=R2), V2))
    v_err = float(np.max(np.abs(np.asarray(V2) - case.psi)[live])) / (1 + np.max(np.abs(case.psi)))
    return max(v_err, 1.0 if _sets_differ(Q1, Q2, live) else 0.0)


def _live_state(case: OptCase, stream: int) -> int:
    return int(case.base.rng(stream).choice(np.flatnonzero(case.base.live)))


def _negative_slack_scale(case: OptCase) -> OptCase:
    c_s = case.c_s.copy()
    c_s[_live_state(case, 39)] *= -1.0
    return case._replace(c_s=c_s)


SKALSE_OPT = Check(
    name="20b Skalse optimality-preserving R2 keeps the optimal actions, V*2 = Psi",
    theorem="Skalse et al. 2023, Def. 2.8 / Thm 3.2",
    strategy=mdp_cases().map(_opt_case),
    error=_opt_error,
    tolerance=1e-9,
    mutations=(
        Mutation(
            "optimal action not tight",
            "xi = 0 on the optimal actions",
            lambda c: c._replace(untight=_live_state(c, 39)),
        ),
        Mutation("bonus on a worse action", "xi >= 0 (c(s) > 0)", _negative_slack_scale),
        Mutation(
            "transfer",
            "same dynamics tau (Thm 4.2)",
            lambda c: c._replace(eval_P=new_dynamics(c.base)),
        ),
    ),
    description="R2 = Psi(s) - gamma Psi(s') - c(s)(V*1 - Q*1) + D; PI on R2 vs R1's sets.",
)

test_skalse_ordering = as_pytest(SKALSE_ORDERING)
test_skalse_opt = as_pytest(SKALSE_OPT)
