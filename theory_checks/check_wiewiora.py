"""Check 2: potential-based shaping ≡ Q-value initialisation (Wiewiora 2003), theory.md §1b.

Property. A random MDP (every shape S ∈ [2, 12] × A ∈ [2, 5], padded to 12 states, γ ∈ [0, 0.999],
0–2 absorbing terminals, sparse/dense/deterministic P), Φ ~ N(0, 5²) on every state, and one
experience stream of ``T = 1000`` steps from a fixed Dirichlet behaviour policy (time limit 25:
terminated steps do not bootstrap, truncated ones do; ``next_action`` ~ the behaviour at s').
Two learners replay *the same* stream with the same step size α ∈ {0.05, 0.3, 1}:

* L: shaped reward from the library transform :func:`potential_based` (through
  :func:`apply_to_table`, so ``F = γ(1 − terminated)Φ(s') − Φ(s)``), initial table Q₀;
* L': the true reward, initial table ``Q₀ + Φ(s)``.

Learners (the case's ``algorithm`` × ``learner``): tabular Q-learning or SARSA
(:func:`jaxrl.agents.td_updates.replay`, a ``[12, 5]`` table: actions beyond the MDP's A are never
taken), or the same with *linear* function approximation (:func:`jaxrl.agents.linear_td.
linear_replay`, 7 features shared by all (s, a), one of them ``Φ(s)/‖Φ‖∞``, so Φ is in the span:
``w₀' = w₀ + least-squares(features, Φ)``; then ``δ' = δ`` at every step and the identity holds
exactly, as in the tabular proof). Error = the largest of

* ``max_t max_{live s, a} |Q'_t − Q_t − Φ(s)| / (1 + max_t ‖Q_t‖∞ + ‖Φ‖∞)`` over every step,
* 1 if ``argmax Q_t(s) ≠ argmax Q'_t(s)`` anywhere Q_t's top-two gap exceeds 1e-6,

tolerance 1e-10 (theory.md reference: 5e-15).

Mutations (same error, one assumption broken):

* **Φ(terminal) collected** (cases with ≥ 1 terminal): the transform is not told the step
  terminated (``discount = γ``), so L collects ``γΦ(terminal) ≠ 0`` while terminal values stay 0
  in both learners (theory.md: deviation ≈ 3);
* **Φ outside the feature span** (linear learners): the Φ feature is replaced by a random one, so
  ``Q₀ + Φ`` is not representable and an update of shared features no longer shifts by Φ.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.agents.linear_td import linear_replay
from jaxrl.agents.td_updates import Experience, inverse_cdf, replay
from theory_checks.check_pbrs import _sup, shaped_table
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, mdp_cases

NUM_STEPS = 1000
TIME_LIMIT = 25
A_TABLE = 5  # the learner's action slots (the MDP's A ≤ 5; the others are never taken)
N_FEATURES = 7
TIE_GAP = 1e-6


class WiewioraCase(NamedTuple):
    """A random MDP, Φ, the learners' configuration and what the shaping transform is told."""

    base: MDPCase
    phi: np.ndarray
    algorithm: str  # "q_learning" | "sarsa"
    alpha: float
    linear: bool
    phi_in_span: bool = True
    terminal_flag: bool = True


@jax.jit
def _simulate(P, R, pi, d0, terminal_mask, u):
    """Roll a behaviour policy ``pi [S, A]`` through ``P`` for ``u.shape[0]`` steps (auto-reset).

    ``u [T, 4]`` uniforms: a' at s', s', reset state, its first action (library ``inverse_cdf``).
    """

    def step(carry, u_t):
        s, a, t = carry
        s2 = inverse_cdf(P[s, a], u_t[0])
        a2 = inverse_cdf(pi[s2], u_t[1])
        term = terminal_mask[s2]
        trunc = (t + 1 >= TIME_LIMIT) & ~term
        ended = term | trunc
        s_reset = inverse_cdf(d0, u_t[2])
        a_reset = inverse_cdf(pi[s_reset], u_t[3])
        nxt = (
            jnp.where(ended, s_reset, s2),
            jnp.where(ended, a_reset, a2),
            jnp.where(ended, 0, t + 1),
        )
        return nxt, Experience(s, a, R[s, a, s2], R[s, a, s2], s2, a2, term, trunc)

    s0 = inverse_cdf(d0, u[0, 2])
    init = (s0, inverse_cdf(pi[s0], u[0, 3]), jnp.asarray(0))
    return jax.lax.scan(step, init, u)[1]


def experience_stream(case: MDPCase) -> Experience:
    """``NUM_STEPS`` transitions of a fixed Dirichlet(1) behaviour policy over the MDP's actions."""
    S, A = case.n_padded, case.n_actions
    pad = A_TABLE - A  # never-taken action slots: zero probability, placeholder dynamics
    P = np.concatenate([case.mdp.P, np.repeat(case.mdp.P[:, :1], pad, 1)], 1)
    R = np.concatenate([case.mdp.R, np.zeros((S, pad, S))], 1)
    pi = np.concatenate([case.policy(alpha=1.0, stream=6), np.zeros((S, pad))], 1)
    u = case.rng(7).random((NUM_STEPS, 4))
    return _simulate(P, R, pi, case.mdp.init_dist, case.mdp.terminal_mask, u)


def _features(case: WiewioraCase) -> np.ndarray:
    """``[S, A_TABLE, 7]``: 6 shared random features and Φ(s)/‖Φ‖∞ (or a random 7th)."""
    S = case.base.n_padded
    rng = case.base.rng(8)
    x = rng.standard_normal((S, A_TABLE, N_FEATURES)) / np.sqrt(N_FEATURES)
    if case.phi_in_span:
        x[..., -1] = (case.phi / _sup(case.phi))[:, None]
    return x


def _histories(case: WiewioraCase, exp: Experience, r_shaped) -> tuple[np.ndarray, np.ndarray]:
    """``[T, S, A_TABLE]`` tables of L (shaped, Q₀) and L' (true reward, Q₀ + Φ)."""
    gamma = float(case.base.gamma)
    S = case.base.n_padded
    kw = dict(algorithm=case.algorithm, return_history=True)
    if not case.linear:
        q0 = case.base.rng(3).standard_normal((S, A_TABLE))
        _, h = replay(jnp.asarray(q0), exp, case.alpha, gamma, reward=r_shaped, **kw)
        q0p = q0 + case.phi[:, None]
        _, hp = replay(jnp.asarray(q0p), exp, case.alpha, gamma, reward=exp.reward, **kw)
        return np.asarray(h), np.asarray(hp)
    x = _features(case)
    X = x.reshape(-1, N_FEATURES)
    w0 = case.base.rng(3).standard_normal(N_FEATURES)
    # Q₀' = Q₀ + Φ as well as the features allow (exact when Φ is in their span).
    v = np.linalg.lstsq(X, np.repeat(case.phi, A_TABLE), rcond=None)[0]
    alpha = case.alpha / np.max(np.sum(x**2, -1))  # normalised step: α/max‖x‖² ≤ 1
    x = jnp.asarray(x)
    _, h = linear_replay(jnp.asarray(w0), x, exp, alpha, gamma, reward=r_shaped, **kw)
    _, hp = linear_replay(jnp.asarray(w0 + v), x, exp, alpha, gamma, reward=exp.reward, **kw)
    return np.asarray(h), np.asarray(hp)


def _wiewiora_error(case: WiewioraCase) -> float:
    mdp = case.base.mdp
    exp = experience_stream(case.base)
    kind = "pbrs" if case.terminal_flag else "terminal potential kept"
    R2 = np.asarray(shaped_table(kind, mdp.R, mdp.gamma, mdp.terminal_mask, case.phi, 0.0))
    r_shaped = R2[np.asarray(exp.state), np.asarray(exp.action), np.asarray(exp.next_state)]
    h, hp = _histories(case, exp, jnp.asarray(r_shaped))
    live = case.base.live
    h, hp = h[:, live], hp[:, live]
    scale = _sup(h) + _sup(case.phi)
    assume(np.isfinite(scale) and scale < 1e12)  # a diverging linear learner is no evidence
    dev = _sup(hp - h - case.phi[live][None, :, None]) / (1 + scale)
    top2 = np.sort(h, axis=-1)[..., -2:]
    clear = (top2[..., 1] - top2[..., 0]) > TIE_GAP
    mismatch = np.any(clear & (h.argmax(-1) != hp.argmax(-1)))
    return max(dev, 1.0 if mismatch else 0.0)


@st.composite
def _cases(draw, n_terminal=(0, 2), linear=None):
    base = draw(mdp_cases(n_terminal=n_terminal))
    return WiewioraCase(
        base,
        base.potential(),
        draw(st.sampled_from(["q_learning", "sarsa"])),
        draw(st.sampled_from([0.05, 0.3, 1.0])),
        draw(st.booleans()) if linear is None else linear,
    )


def _terminal_collected(case: WiewioraCase) -> WiewioraCase:
    return case._replace(terminal_flag=False)


def _outside_span(case: WiewioraCase) -> WiewioraCase:
    return case._replace(phi_in_span=False)


WIEWIORA = Check(
    name="2 Wiewiora shaping = Q initialisation",
    theorem="Wiewiora 2003 (JAIR 19): Q'_t = Q_t + Phi(s) on a shared stream, Q-learning/SARSA",
    strategy=_cases(),
    error=_wiewiora_error,
    tolerance=1e-10,
    mutations=(
        Mutation(
            "Phi(terminal) collected",
            "Phi(terminal) = 0 (terminal Q fixed at 0)",
            strategy=_cases(n_terminal=(1, 2)).map(_terminal_collected),
            cases=30,
        ),
        Mutation(
            "Phi outside feature span",
            "tabular (or Phi representable by the features)",
            strategy=_cases(linear=True).map(_outside_span),
            cases=30,
        ),
    ),
    description="Tabular and linear-FA Q-learning/SARSA replayed on one stream: shaped from Q0 vs "
    "unshaped from Q0 + Phi; every step, same greedy actions.",
)

test_wiewiora = as_pytest(WIEWIORA)
