"""Check 4: look-ahead potential-based advice (Wiewiora, Cottrell & Elkan 2003), theory.md §1d.

Property, on random MDPs (every shape S ∈ [2, 12] × A ∈ [2, 5], padded to 12 states, 0–1 absorbing
terminals, sparse/dense/deterministic P, γ ∈ [0, 0.95]) with state-action potentials
Φ(s, a) ~ N(0, 5²): a tabular learner is *trained* with look-ahead advice and its learned table is
compared with the exact solution of the unshaped MDP.

The learner is the library's TD update (:func:`jaxrl.agents.td_updates.sarsa_update`) with the
advice reward :func:`lookahead_advice_reward` ``F = γ(1 − terminated)Φ(s', a') − Φ(s, a)``, where
``a'`` is the action taken next:

* **Q-learning with advice**: ``a' = biased_greedy(Q_adv(s'), Φ(s'))`` (the agent's greedy action
  under biased selection; the bootstrap and F use the same a'); learned ``Q_adv = Q* − Φ``;
* **SARSA with advice** on a fixed Dirichlet policy π: ``a' ~ π(s')``; learned ``Q^π − Φ``.

Updates are *synchronous expected* sweeps: one batched ``sarsa_update`` over every sample
(s, a, s', a') with per-sample step ``α·P(s'|s, a)·p(a'|s')`` (its scatter-add sums them into
``α·(E[target] − Q(s, a))``), α ∈ {0.5, 1}, until a sweep moves no entry by more than
1e-13·(1 + ‖Q‖∞) (at most twice the sweeps the contraction needs; a mutated learner may cycle), in
float64. Expected updates make the learned table exact up to round-off, so the comparison is
tight; γ ≤ 0.95 bounds the sweeps (≤ ~2400) for speed.

Exact references: ``Q*`` by policy iteration, ``Q^π`` by :func:`jaxrl.mdp.q_pi` (linear solves).
Error = the larger of ``max_{live s, a} |Q_learned − (Q_ref − Φ)| / (1 + ‖Q_ref‖∞ + ‖Φ‖∞)`` and
1 if the action chosen by :func:`biased_greedy` (``argmax Q_adv + Φ``) is not in Q_ref's optimal
set at some live state (near-ties of Q_ref excluded by ``assume``). Tolerance 1e-9.

Mutations (same error, same cases, one piece of the learner changed):

* **unbiased greedy**: the agent bootstraps and acts with ``argmax Q_adv`` (no +Φ bias);
* **advice with current action**: F uses ``Φ(s', a)`` (the action just taken) instead of the next
  action ``a'``;
* **state-only next potential**: F uses a state potential ``mean_a Φ(s', a)`` for the next state
  instead of ``Φ(s', a')``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.agents.td_updates import sarsa_update
from jaxrl.mdp import q_pi
from jaxrl.shaping.potential import biased_greedy, lookahead_advice_reward
from theory_checks.check_pbrs import GAP_MIN, _solve, _sup, min_action_gap, optimal_sets
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, mdp_cases

SWEEP_TOL = 1e-13


def sweep_budget(gamma: float, alpha: float) -> int:
    """Twice the sweeps a contraction of modulus ``1 − α(1 − γ)`` needs to shrink by 1e-14."""
    rho = 1.0 - alpha * (1.0 - gamma)
    return int(2 * np.ceil(np.log(1e-14) / np.log(rho))) + 10 if rho > 0 else 10


#: What the advice term F uses as the next state's potential.
ADVICE = ("next action", "current action", "state mean")


class AdviceCase(NamedTuple):
    """A random MDP, state-action potentials ``phi_sa [S, A]`` and the learner's configuration."""

    base: MDPCase
    phi_sa: np.ndarray
    alpha: float
    sarsa: bool  # SARSA on a fixed policy (else Q-learning with the agent's greedy a')
    biased: bool = True
    advice: str = "next action"


@jax.jit
def learn_with_advice(mdp, phi_sa, pi, sarsa, biased, advice, alpha, max_sweeps):
    """``Q_adv [S, A]`` learned by synchronous expected ``sarsa_update`` sweeps with advice.

    Args:
      mdp: the (padded) MDP; terminal states keep ``Q = 0`` and are never updated.
      phi_sa: ``[S, A]`` potentials.
      pi: ``[S, A]`` SARSA's fixed policy (used when ``sarsa``).
      sarsa, biased: bool scalars; ``advice``: index into ``ADVICE``; ``alpha``: step size.
      max_sweeps: sweep budget (a mutated learner may cycle instead of converging).
    """
    S, A = phi_sa.shape
    live = (~mdp.terminal_mask).astype(phi_sa.dtype)
    discount = mdp.gamma * live  # [S'] γ(1 − terminated(s'))
    phi_next = jnp.stack(  # [S, A, S', A'] next potential used by F
        [
            jnp.broadcast_to(phi_sa[None, None], (S, A, S, A)),
            jnp.broadcast_to(phi_sa.T[None, :, :, None], (S, A, S, A)),
            jnp.broadcast_to(phi_sa.mean(-1)[None, None, :, None], (S, A, S, A)),
        ]
    )[advice]
    F = lookahead_advice_reward(phi_sa[:, :, None, None], phi_next, discount[None, None, :, None])
    r = mdp.R[..., None] + F  # [S, A, S', A']

    s, a, s2, a2 = (x.ravel() for x in jnp.meshgrid(*map(jnp.arange, (S, A, S, A)), indexing="ij"))
    r, d = r.ravel(), discount[s2]

    def next_probs(q):  # [S', A'] distribution of a'
        bias = jnp.where(biased, phi_sa, 0.0)
        greedy = jax.nn.one_hot(biased_greedy(q, bias), A, dtype=q.dtype)
        return jnp.where(sarsa, pi, greedy)

    def sweep(q):
        # One batched sarsa_update over every sample, each with step α·P(s'|s, a)·p(a'|s'):
        # the scatter-add sums them into α·(E[target] − Q(s, a)), the expected update.
        w = (mdp.P[..., None] * next_probs(q)[None, None]).ravel()
        return sarsa_update(q, s, a, r, d, s2, a2, alpha * w) * live[:, None]

    def cond(c):
        i, q, diff = c
        return (i < max_sweeps) & (diff > SWEEP_TOL * (1 + jnp.max(jnp.abs(q))))

    def body(c):
        i, q, _ = c
        q_new = sweep(q)
        return i + 1, q_new, jnp.max(jnp.abs(q_new - q))

    q0 = jnp.zeros_like(phi_sa)
    return jax.lax.while_loop(cond, body, (0, q0, jnp.asarray(jnp.inf, q0.dtype)))[1]


def _policy(case: AdviceCase) -> np.ndarray:
    pi = case.base.policy(alpha=1.0, stream=5)
    return pi


def _advice_error(case: AdviceCase) -> float:
    mdp = case.base.mdp
    live = case.base.live
    pi = _policy(case)
    Q_ref = np.asarray(q_pi(mdp, pi)) if case.sarsa else _solve(mdp)
    phi = case.phi_sa * live[:, None]
    scale = _sup(Q_ref) + _sup(phi)
    tie = 1e-9 * (1 + scale)
    assume(min_action_gap(Q_ref, live, tie) > GAP_MIN)
    Q_adv = np.asarray(
        learn_with_advice(
            mdp,
            jnp.asarray(phi),
            jnp.asarray(pi),
            jnp.asarray(case.sarsa),
            jnp.asarray(case.biased),
            jnp.asarray(ADVICE.index(case.advice)),
            jnp.asarray(case.alpha),
            sweep_budget(case.base.gamma, case.alpha),
        )
    )
    dev = _sup((Q_adv - (Q_ref - phi))[live]) / (1 + scale)
    act = np.asarray(biased_greedy(Q_adv, phi if case.biased else np.zeros_like(phi)))
    chosen_ok = optimal_sets(Q_ref, tie)[np.arange(len(act)), act]
    return max(dev, 0.0 if np.all(chosen_ok[live]) else 1.0)


@st.composite
def _cases(draw):
    base = draw(mdp_cases(gamma=(0.0, 0.95), n_terminal=(0, 1)))
    phi_sa = 5.0 * base.rng(2).standard_normal((base.n_padded, base.n_actions))
    return AdviceCase(base, phi_sa, draw(st.sampled_from([0.5, 1.0])), draw(st.booleans()))


def _unbiased(case: AdviceCase) -> AdviceCase:
    return case._replace(biased=False)


def _advice(kind: str):
    return lambda case: case._replace(advice=kind)


LOOKAHEAD_ADVICE = Check(
    name="4 look-ahead advice learned Q_adv = Q* - Phi(s,a)",
    theorem="Wiewiora, Cottrell & Elkan 2003: look-ahead advice, biased action selection",
    strategy=_cases(),
    error=_advice_error,
    tolerance=1e-9,
    mutations=(
        Mutation("unbiased greedy", "act/bootstrap with argmax(Q_adv + Phi)", _unbiased),
        Mutation(
            "advice with current action", "F uses the next action a'", _advice("current action")
        ),
        Mutation("state-only next potential", "F uses Phi(s', a')", _advice("state mean")),
    ),
    description="Q-learning / SARSA (expected synchronous sarsa_update sweeps) with "
    "lookahead_advice_reward vs exact Q* / Q^pi minus Phi; biased_greedy picks optimal actions.",
)

test_lookahead_advice = as_pytest(LOOKAHEAD_ADVICE)
