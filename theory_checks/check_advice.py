"""Check family 1d: potential-based advice (Wiewiora, Cottrell & Elkan 2003), item 4.

**4 Look-ahead advice** (theory.md §1d, check 1.4). With state-action potentials Φ(s, a) ~ N(0, 5²)
and shaping ``F = γΦ(s', a') − Φ(s, a)``, the learned values are the fixed point

    Q_adv = r − Φ + γ P max_{a'} (Q_adv + Φ)(s', a'),

iterated to 1e-13 by :func:`jaxrl.shaping.potential.lookahead_advice_fixed_point`. The theorem:
``Q_adv = Q* − Φ`` and the *biased* greedy choice ``argmax_a [Q_adv + Φ]``
(:func:`jaxrl.shaping.potential.biased_greedy`) is optimal. Error = the larger of
``max_{s non-terminal, a} |Q_adv − (Q* − Φ)|`` (Q* by value iteration to 1e-13) and the number of
non-terminal states where ``{a : Q_adv + Φ ≥ max − 1e-9}`` differs from Q*'s optimal set or the
biased-greedy action is not in it. Cases with a Q* action gap in (0, 1e-6] are discarded
(``assume``). Random MDPs from ``mdp_cases`` (sparse, 0–1 terminal states). Tolerance 1e-10
(theory.md reference: 8.7e-13).

**Counterexample**: act greedily on Q_adv *without* the +Φ(s, a) bias. Constructive, so it fails
every time: Φ(s, a) = c·1[a = a*(s)] with ``c = 1 + 2·(max Q* − min Q*)`` on the optimal action
a*(s) of each state, so ``Q_adv(s, a*) = Q*(s, a*) − c`` is below every other action and the
unbiased greedy action is never optimal. Error = the number of states (out of S = 5) where the
unbiased optimal set differs from Q*'s; Q_adv still comes from the fixed-point iteration.

The empirical look-back advice check (Q-learning with look-back advice reaches the optimal greedy
policy) is a learning test: ``tests/test_q_learning.py``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume

from jaxrl.mdp import optimal_action_sets, value_iteration
from jaxrl.shaping.potential import biased_greedy, lookahead_advice_fixed_point
from theory_checks.harness import Check, as_pytest, mdp_cases, numpy_mdp

TOL = 1e-13


def _min_gap(Q: np.ndarray) -> float:
    """Smallest non-zero gap between an action value and its state's maximum (inf if none)."""
    gaps = Q.max(-1, keepdims=True) - Q
    nz = gaps[gaps > 0]
    return float(nz.min()) if nz.size else float("inf")


def _advice_error(mdp, phi_sa: np.ndarray, biased: bool = True) -> float:
    _, Q_star = value_iteration(mdp, tol=TOL)
    Q_adv = np.asarray(lookahead_advice_fixed_point(mdp, phi_sa, tol=TOL))
    Q_star = np.asarray(Q_star)
    live = ~np.asarray(mdp.terminal_mask)
    deviation = float(np.max(np.abs(Q_adv - (Q_star - phi_sa))[live]))
    choice = Q_adv + phi_sa if biased else Q_adv
    sets_star = np.asarray(optimal_action_sets(Q_star))
    sets = np.asarray(optimal_action_sets(choice))
    differ = np.any(sets != sets_star, axis=-1)
    if biased:  # the biased greedy action is optimal
        a = np.asarray(biased_greedy(Q_adv, phi_sa))
        differ |= ~sets_star[np.arange(len(a)), a]
    return max(deviation if biased else 0.0, float(np.sum(differ & live)))


def _error(case) -> float:
    _, Q_star = value_iteration(case.mdp, tol=TOL)
    assume(_min_gap(np.asarray(Q_star)[~np.asarray(case.mdp.terminal_mask)]) > 1e-6)
    phi_sa = 5.0 * case.rng(2).standard_normal((case.n_states, case.n_actions))
    return _advice_error(case.mdp, phi_sa)


def _counter() -> float:
    mdp = numpy_mdp(seed=4, n_states=5, n_actions=3, gamma=0.9)
    _, Q_star = value_iteration(mdp, tol=TOL)
    Q_star = np.asarray(Q_star)
    c = 1.0 + 2.0 * float(Q_star.max() - Q_star.min())
    phi_sa = c * np.eye(Q_star.shape[1])[Q_star.argmax(-1)]  # c on each state's optimal action
    return _advice_error(mdp, phi_sa, biased=False)


LOOKAHEAD_ADVICE = Check(
    name="4 look-ahead advice Q_adv = Q* - Phi(s,a)",
    strategy=mdp_cases(n_terminal=(0, 1)),
    error=_error,
    tolerance=1e-10,
    counterexample=_counter,
    examples=40,
    description="Fixed point of the advice backup equals Q* - Phi; argmax(Q_adv + Phi) sets = Q* "
    "sets. Counterexample: greedy on Q_adv without the +Phi bias.",
)

test_lookahead_advice_property, test_lookahead_advice_counterexample = as_pytest(LOOKAHEAD_ADVICE)
