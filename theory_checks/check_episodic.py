"""Check 1.5: PBRS in episodic tasks, terminal states and time limits (Grześ 2017), theory.md §1e.

Property, on random episodic MDPs with 1–2 absorbing terminal states (γ = 1 with dense P, so every
policy is proper, or γ ∈ [0, 0.999] with sparse/dense/deterministic P; every shape, padded to 12
states), Φ ~ N(0, 5²) on *every* state, terminals included (the shaping must drop Φ there):

* **terminals**: the learner's rewards are :func:`potential_based` run by :func:`apply_to_table` on
  the ``[S, A, S']`` transitions (``discount = γ·(1 − terminated)``); policy iteration gives
  ``Q*' = Q* − Φ`` on live states and equal optimal-action sets;
* **time limit T = 3, treatment (a)**: the timeout is not terminal. Steps t < T − 1 are shaped as
  above; the last step is a *truncated* transition whose ``next_obs`` is the final observation
  (one-hot, as :class:`jaxrl.envs.tabular.TabularEnv` emits), shaped by the same transform, and the
  recursion bootstraps from the shaped value ``V*' = V* − Φ``. Backward induction
  (:func:`finite_horizon`) must give ``Q'_t = Q_t − Φ`` at every t < T (``Q_t = Q*``), equal sets.

error = worst violation / (1 + ‖Q*‖∞ + ‖Φ‖∞), tolerance 1e-9 (a set mismatch counts as 1).

Mutations (same error, same MDPs; only the transitions the transform sees change):

* **Φ(goal) kept**: the transform is not told that the goal is terminal (``terminated = False``,
  so ``discount = γ``) and collects ``γΦ(terminal) ≠ 0`` on entry: the bonus ``γ^N Φ(goal)``
  depends on the episode length (Grześ 2017). Cases with at least one terminal.
* **truncation as termination** (mixed treatment): the last step's transform sees
  ``terminated = True`` (Φ(s_T) dropped from F) while the recursion still bootstraps from
  ``V*' = V* − Φ``: a state-dependent bias ``−γΦ(s_T)`` in the last target.
* **reset obs on truncation**: the transform's ``next_obs`` on the truncated step is the auto-reset
  observation (distributed as ``init_dist``) instead of ``final_observation``: the last target
  gains ``γ(E_{d0}Φ − Φ(s_T))``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.mdp import TabularMDP, finite_horizon, policy_iteration, q_values
from jaxrl.shaping.potential import (
    apply_to_table,
    potential_based,
    potential_from_table,
    table_transitions,
)
from theory_checks.check_pbrs import GAP_MIN, _sup, min_action_gap, optimal_sets
from theory_checks.harness import Check, MDPCase, Mutation, as_pytest, mdp_cases, pad_mdp

TIME_LIMIT = 3
TRUNCATIONS = ("final obs", "as termination", "reset obs")


class EpisodicCase(NamedTuple):
    """A random episodic MDP, Φ on every state, and how the transform sees terminals/timeouts.

    ``terminal_flag``: whether the transform's transitions carry ``terminated`` at terminals;
    ``truncation``: one of ``TRUNCATIONS`` (what the last, truncated step of the time limit looks
    like to the transform).
    """

    base: MDPCase
    phi: np.ndarray
    terminal_flag: bool = True
    truncation: str = "final obs"


def truncated_transitions(R, gamma, terminal_mask, init_dist, mode):
    """The ``[S, A, S']`` transitions of a step that hits the time limit, one-hot observations.

    ``mode`` (traced index into ``TRUNCATIONS``): 0 ``next_obs`` = final observation s'
    (correct); 1 the timeout also flagged ``terminated``; 2 ``next_obs`` = the reset observation,
    i.e. its distribution ``init_dist`` (a one-hot potential of it is ``E_{d0}Φ``).
    """
    tr = table_transitions(R, gamma, terminal_mask)
    S = R.shape[0]
    eye = jnp.eye(S, dtype=R.dtype)
    trunc = ~tr.terminated
    next_obs = jnp.where((mode == 2) & trunc[..., None], init_dist, eye[tr.next_obs])
    term = tr.terminated | ((mode == 1) & trunc)
    return tr._replace(
        obs=eye[tr.obs],
        next_obs=next_obs,
        terminated=term,
        truncated=trunc & ~term,
        discount=gamma * (1.0 - term.astype(R.dtype)),
    )


@jax.jit
def episodic_rewards(R, gamma, terminal_mask, init_dist, phi, terminal_flag, truncation):
    """``(R' [S, A, S'], R_last [S, A, S'])``: shaped rewards of an ordinary / a truncated step."""
    pbrs = potential_based(potential_from_table(phi))
    mask = jnp.where(terminal_flag, terminal_mask, jnp.zeros_like(terminal_mask))
    R_shaped = apply_to_table(pbrs, R, gamma, mask)
    tr = truncated_transitions(R, gamma, mask, init_dist, truncation)
    R_last, _ = pbrs.apply(pbrs.default_params, (), tr)
    return R_shaped, R_last * (1.0 - terminal_mask.astype(R.dtype))[:, None, None]


def _solve(mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    V = policy_iteration(mdp).V
    return np.asarray(V), np.asarray(q_values(mdp, V))


def _episodic_error(case: EpisodicCase) -> float:
    mdp = case.base.mdp
    live = case.base.live
    phi_live = case.phi * live
    V, Q = _solve(mdp)
    scale = _sup(Q) + _sup(case.phi)
    tie = 1e-9 * (1 + scale)
    assume(min_action_gap(Q, live, tie) > GAP_MIN)

    R_shaped, R_last = episodic_rewards(
        mdp.R,
        mdp.gamma,
        mdp.terminal_mask,
        mdp.init_dist,
        jnp.asarray(case.phi),
        jnp.asarray(case.terminal_flag),
        jnp.asarray(TRUNCATIONS.index(case.truncation)),
    )
    _, Q2 = _solve(mdp.replace(R=R_shaped))
    # Time limit T: R' for t < T − 1, the truncated step's rewards at t = T − 1, bootstrap V* − Φ.
    R_T = jnp.concatenate(
        [jnp.broadcast_to(R_shaped, (TIME_LIMIT - 1, *R_shaped.shape)), R_last[None]]
    )
    R_H = jnp.broadcast_to(mdp.R, R_T.shape)  # same shapes as R_T: one compile
    Qt = np.asarray(
        finite_horizon(
            mdp.P, R_H, gamma=mdp.gamma, terminal_value=V, terminal_mask=mdp.terminal_mask
        ).Q
    )
    Qt2 = np.asarray(
        finite_horizon(
            mdp.P,
            R_T,
            gamma=mdp.gamma,
            terminal_value=V - phi_live,
            terminal_mask=mdp.terminal_mask,
        ).Q
    )
    q_err = max(
        _sup((Q2 - (Q - phi_live[:, None]))[live]),
        _sup((Qt2 - (Qt - phi_live[None, :, None]))[:, live]),
    )
    sets_differ = np.any((optimal_sets(Q, tie) != optimal_sets(Q2, tie))[live]) or any(
        np.any((optimal_sets(Qt[t], tie) != optimal_sets(Qt2[t], tie))[live])
        for t in range(TIME_LIMIT)
    )
    return max(q_err / (1 + scale), 1.0 if sets_differ else 0.0)


# ----------------------------------------------------------------------------- cases
def _with_phi(base: MDPCase) -> EpisodicCase:
    return EpisodicCase(base, base.potential())  # non-zero on terminal states too


def _cases(n_terminal=(1, 2)):
    return st.one_of(
        mdp_cases(gamma=(1.0, 1.0), sparse=False, n_terminal=n_terminal),
        mdp_cases(n_terminal=n_terminal),
    ).map(_with_phi)


def goal_route_mdp(gamma: float = 0.9) -> TabularMDP:
    """theory.md §1e unit case. States s0 = 0, goal = 1 (terminal), m1 = 2, m2 = 3: s0 a0 → goal
    (0), a1 → m1 (0); m1 → m2 (0); m2 → goal (+0.5). The long route is optimal (γ²·0.5 > 0)."""
    P = np.zeros((4, 2, 4))
    P[0, 0, 1] = P[0, 1, 2] = 1.0
    P[1, :, 1] = 1.0
    P[2, :, 3] = 1.0
    P[3, :, 1] = 1.0
    R = np.zeros((4, 2, 4))
    R[3, :, 1] = 0.5
    term = np.array([False, True, False, False])
    return TabularMDP(P=P, R=R, gamma=np.float64(gamma), init_dist=np.eye(4)[0], terminal_mask=term)


@st.composite
def _goal_route_cases(draw):
    """The unit case, Φ(goal) ∈ [5, 20], the goal's terminal flag dropped (flips the route)."""
    gamma = draw(st.floats(0.8, 0.99))
    mdp = pad_mdp(goal_route_mdp(gamma), 12)
    phi = np.zeros(12)
    phi[1] = draw(st.floats(5.0, 20.0))
    base = MDPCase(draw(st.integers(0, 2**32 - 1)), 4, 2, gamma, 1, 1, mdp)
    return EpisodicCase(base, phi, terminal_flag=False)


def _goal_kept(case: EpisodicCase) -> EpisodicCase:
    return case._replace(terminal_flag=False)


def _truncation(mode: str):
    return lambda case: case._replace(truncation=mode)


EPISODIC = Check(
    name="1.5 episodic PBRS, Phi(terminal)=0 and time limits",
    theorem="Grzes 2017: G' = G - Phi(s0) + gamma^N Phi(s_N); invariance iff Phi(terminal) = 0",
    strategy=_cases(),
    error=_episodic_error,
    tolerance=1e-9,
    mutations=(
        Mutation("Phi(goal) kept", "Phi(terminal) = 0 (terminated flag seen)", _goal_kept),
        Mutation(
            "Phi(goal)=+10 unit case",
            "Phi(terminal) = 0 (long -> short route flip)",
            strategy=_goal_route_cases(),
            cases=20,
            min_kill_rate=1.0,
        ),
        Mutation(
            "truncation as termination",
            "timeout keeps gamma Phi(s_T) when bootstrapping from V - Phi",
            _truncation("as termination"),
        ),
        Mutation(
            "reset obs on truncation",
            "F uses final_observation on truncation",
            _truncation("reset obs"),
        ),
    ),
    description="potential_based via apply_to_table with Phi != 0 at terminals: Q*' = Q* - Phi; "
    "time limit T = 3 with a truncated last step and bootstrap V* - Phi: Q'_t = Q_t - Phi.",
)

test_episodic = as_pytest(EPISODIC)
