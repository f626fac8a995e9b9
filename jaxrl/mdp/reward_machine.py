"""Reward machines and their product MDP (Icarte et al. 2018/2022, "Reward Machines").

A **reward machine** (RM) is a finite automaton over *labels*: states ``U``, an initial state
``u0``, a transition function ``δ(u, l) -> u'`` and an output (reward) function ``ρ(u, l)``. A
**labelling function** ``L: S -> labels`` marks the base MDP's states (``0`` = no event; the
tasks below use ``A = 1``, ``B = 2``, ``C = 3``). On a base transition ``s -a-> s'`` the machine
reads ``l = L(s')`` (the label of the state *entered*; the initial state's label is not read),
pays ``ρ(u, l)`` and moves to ``δ(u, l)``. States in ``rm.terminal`` are zero-reward sinks
(task done or failed): the RM return is ``Σ_t γ^t ρ(u_t, L(s_{t+1}))``.

The **product MDP** (Icarte et al. 2022, Def. 4 "cross-product") over ``S × U`` (index
``s * U + u``)::

    P((s', u') | (s, u), a) = P(s' | s, a) · 1[u' = δ(u, L(s'))]
    R((s, u), a, (s', u'))  = ρ(u, L(s'))

is an ordinary (Markov) TabularMDP whose return equals the RM return on every trajectory, so its
optimal policy is optimal for the (non-Markov on ``S``) task. The expressivity side (Skalse et
al. 2023, "On the Expressivity of Objective-Specification Formalisms in RL"): some RM tasks
order policies in a way no Markov reward ``R(s, a, s')`` on the base MDP does; see
``theory_checks/check_reward_machines.py``. Everything here is layer 1 (numpy/jax only).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxrl.mdp.core import TabularMDP

Array = Any

NONE, A, B, C = 0, 1, 2, 3
NUM_LABELS = 4


class RewardMachine(NamedTuple):
    """A reward machine over ``num_labels`` labels (a pytree of arrays).

    Attributes:
      delta: ``[U, num_labels]`` int, next machine state ``δ(u, l)``.
      rho: ``[U, num_labels]`` float, reward ``ρ(u, l)`` paid on that transition.
      terminal: ``[U]`` bool, absorbing zero-reward machine states (task finished or failed).
      u0: ``[]`` int, initial machine state.
    """

    delta: Array
    rho: Array
    terminal: Array
    u0: Array

    @property
    def num_states(self) -> int:
        return int(np.shape(self.delta)[0])


def _machine(delta, rho, terminal, u0=0) -> RewardMachine:
    return RewardMachine(
        np.asarray(delta, np.int32),
        np.asarray(rho, np.float64),
        np.asarray(terminal, bool),
        np.asarray(u0, np.int32),
    )


def a_then_b() -> RewardMachine:
    """Task "A then B": reward 1 on the first entry into a B state after an A state was entered.

    ``u = 0`` start, ``1`` A seen, ``2`` done (sink). A B before any A pays nothing."""
    delta = [[0, 1, 0, 0], [1, 1, 2, 1], [2, 2, 2, 2]]
    rho = np.zeros((3, NUM_LABELS))
    rho[1, B] = 1.0
    return _machine(delta, rho, [False, False, True])


def never_c_until_b() -> RewardMachine:
    """Task "never C until B": reward 1 on the first entry into B if no C was entered before it;
    an entry into C first is a failure (zero-reward sink). ``u``: 0 start, 1 done, 2 failed."""
    delta = [[0, 0, 1, 2], [1, 1, 1, 1], [2, 2, 2, 2]]
    rho = np.zeros((3, NUM_LABELS))
    rho[0, B] = 1.0
    return _machine(delta, rho, [False, True, True])


TASKS = {"a_then_b": a_then_b, "never_c_until_b": never_c_until_b}


def flatten(rm: RewardMachine) -> RewardMachine:
    """The one-state machine paying ``max_u ρ(u, l)`` on every entry into a label-``l`` state:
    a Markov reward ``R(s, a, s') = r(L(s'))`` on the base MDP (the automaton state dropped)."""
    rho = np.max(np.asarray(rm.rho), axis=0, keepdims=True)
    return _machine(np.zeros_like(rho, np.int32), rho, [False])


def product_mdp(mdp: TabularMDP, rm: RewardMachine, labels: Array) -> TabularMDP:
    """The cross-product MDP over ``S × U`` (index ``s * U + u``), see the module docstring.

    Args:
      mdp: base MDP, ``P, R [S, A, S]`` (its reward ``R`` is ignored: the task's reward is the
        machine's).
      rm: the reward machine (``U`` states).
      labels: ``[S]`` int labelling function ``L(s)`` in ``[0, num_labels)``.

    Returns:
      TabularMDP with ``P, R [S*U, A, S*U]``, ``init_dist[s*U + u0] = d0(s)``, and terminal
      ``(s, u)`` whenever ``s`` is terminal in the base MDP or ``u`` is an RM sink (those rows
      are made absorbing with zero reward). Jittable; validated when its inputs are concrete.
    """
    labels = jnp.asarray(labels)
    delta, rho = jnp.asarray(rm.delta), jnp.asarray(rm.rho)
    S, nA, _ = mdp.P.shape
    U = delta.shape[0]
    dt = mdp.P.dtype
    nxt = jnp.eye(U, dtype=dt)[delta[:, labels]]  # [U, S', U'] = 1[u' = δ(u, L(s'))]
    P = mdp.P[:, None, :, :, None] * nxt[None, :, None, :, :]  # [S, U, A, S', U']
    R = jnp.broadcast_to(rho[:, labels][None, :, None, :, None], P.shape).astype(dt)
    n = S * U
    P, R = P.reshape(n, nA, n), R.reshape(n, nA, n)
    term = (jnp.asarray(mdp.terminal_mask)[:, None] | jnp.asarray(rm.terminal)[None, :]).reshape(n)
    stay = jnp.broadcast_to(jnp.eye(n, dtype=dt)[:, None, :], (n, nA, n))
    P = jnp.where(term[:, None, None], stay, P)
    R = jnp.where(term[:, None, None], jnp.zeros_like(R), R)
    init = jnp.zeros((S, U), dt).at[:, rm.u0].set(mdp.init_dist).reshape(n)
    return TabularMDP(P, R, mdp.gamma, init, term)


def lift_policy(pi_base: Array, num_machine_states: int) -> Array:
    """A base policy ``[S, A]`` (or ``[H, S, A]``) as a product policy ignoring ``u``:
    ``[S*U, A]`` (or ``[H, S*U, A]``)."""
    pi_base = jnp.asarray(pi_base)
    return jnp.repeat(pi_base, num_machine_states, axis=-2)


def machine_return(rm: RewardMachine, label_seq: Array, gamma: float) -> float:
    """RM return ``Σ_t γ^t ρ(u_t, l_{t+1})`` of one sequence of entered labels ``[T]`` (numpy)."""
    u, g, disc = int(rm.u0), 0.0, 1.0
    for lab in np.asarray(label_seq):
        if rm.terminal[u]:
            break
        g += disc * float(rm.rho[u, lab])
        u = int(rm.delta[u, lab])
        disc *= gamma
    return g


def deterministic_trajectories(next_state: np.ndarray, start: int, horizon: int):
    """Every action sequence of a deterministic MDP from ``start`` (numpy, ``A^H`` of them).

    Args:
      next_state: ``[S, A]`` int successor table.
    Returns:
      ``(states [N, H+1] int, actions [N, H] int)``.
    """
    nA = next_state.shape[1]
    acts = np.array(list(itertools.product(range(nA), repeat=horizon)), np.int64).reshape(
        -1, horizon
    )
    states = np.zeros((acts.shape[0], horizon + 1), np.int64)
    states[:, 0] = start
    for t in range(horizon):
        states[:, t + 1] = next_state[states[:, t], acts[:, t]]
    return states, acts


def transition_features(
    states: np.ndarray, actions: np.ndarray, S: int, nA: int, gamma: float
) -> np.ndarray:
    """Discounted ``(s, a, s')`` counts ``φ [N, S*A*S]`` of trajectories (``states [N, H+1]``,
    ``actions [N, H]``): the Markov return of any ``R [S, A, S]`` is ``φ @ R.ravel()`` =
    ``Σ_t γ^t R(s_t, a_t, s_{t+1})``."""
    N, H = actions.shape
    phi = np.zeros((N, S * nA * S))
    idx = (states[:, :-1] * nA + actions) * S + states[:, 1:]
    w = gamma ** np.arange(H)
    for t in range(H):
        np.add.at(phi, (np.arange(N), idx[:, t]), w[t])
    return phi
