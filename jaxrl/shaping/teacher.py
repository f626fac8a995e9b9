"""Teacher-driven potentials (Devidze, "Reward Design for Reinforcement Learning Agents", 2025).

The thesis's first two parts, in potential-based form (Ng, Harada & Russell 1999):

* **teacher-driven** design: an expert that knows the optimal policy and its value function
  designs the reward. Here that is the expert potential ``Φ = V*`` (:func:`expert_potential`):
  the shaped reward ``r + γΦ(s') − Φ(s)`` has shaped optimal values ``Q'* = Q* − V*`` (Ng et al.
  1999, Thm 1, Eq. 3 with Φ = V*), i.e. the optimal *advantage*: 0 on optimal actions, < 0 on the
  others, so a one-step greedy learner is already optimal. A **noisy teacher**
  (:func:`noisy_potential`) knows V* only up to Gaussian noise ``Φ = V* + σ·ε``, ``ε ~ N(0, I)``
  (fixed by a key); PBRS keeps the optimal action sets for *any* Φ, so noise changes the speed
  of learning, never the optimum.
* **learner-adaptive** design: the expert tailors the reward to the learner's current policy
  π_t. Our reading of the abstract (the thesis's own adaptive design selects reward functions by
  an informativeness criterion; this module keeps its potential-based core): the teacher uses
  ``Φ_t = β·V* + (1 − β)·V^{π_t}`` (:func:`adaptive_potential`). With β = 0 the expected shaped
  one-step reward of (s, a) is ``r(s, a) + γE[V^{π_t}(s')] − V^{π_t}(s) = A^{π_t}(s, a)``: the
  learner's own advantage, so greedy one-step improvement on it is a policy-iteration step from
  π_t; β > 0 mixes in the expert's advantage. Every *fixed* Φ_t keeps the optimal action sets;
  recomputing Φ_t as π_t changes is a potential that moves with learning (Devlin & Kudenko 2012's
  dynamic PBRS guarantees invariance for time-indexed potentials, not for learner-indexed ones),
  so the exact claim here is per snapshot, and convergence of the learner is measured.

Every potential is a ``[S]`` table with ``Φ(terminal) = 0`` (terminal states are absorbing and
rewardless; F never collects Φ at a terminal anyway:
:func:`jaxrl.shaping.potential.potential_shaping`)
and goes to the learner through :func:`jaxrl.shaping.potential.potential_based` +
:func:`~jaxrl.shaping.potential.potential_from_table` (:func:`teacher_transform`), or to the exact
layer through :func:`~jaxrl.shaping.potential.shaped_reward_table` (:func:`shaped_mdp`).
:func:`table_potential_transform` takes the potential table as the transform's (vmappable)
*params*, so seeds x teacher conditions run in one ``vmap``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.mdp import TabularMDP, policy_evaluation, value_iteration
from jaxrl.shaping.potential import potential_based, potential_from_table, shaped_reward_table
from jaxrl.shaping.transform import RewardTransform

Array = Any


def _live(mdp: TabularMDP) -> Array:
    return (~jnp.asarray(mdp.terminal_mask)).astype(mdp.P.dtype)


def expert_potential(mdp: TabularMDP) -> Array:
    """``Φ = V* [S]`` by value iteration (0 on terminal states): the teacher-driven potential."""
    return value_iteration(mdp).V * _live(mdp)


def noisy_potential(mdp: TabularMDP, key: Array, scale: float | Array) -> Array:
    """``Φ = V* + scale·ε [S]``, ``ε ~ N(0, I)`` from ``key``, 0 on terminal states.

    ``scale`` is an absolute standard deviation (traced: vmappable); ``scale = 0`` gives
    :func:`expert_potential` exactly.
    """
    v = expert_potential(mdp)
    eps = jax.random.normal(key, v.shape, v.dtype)
    return (v + jnp.asarray(scale, v.dtype) * eps) * _live(mdp)


def adaptive_potential(mdp: TabularMDP, pi: Array, beta: float | Array, v_star=None) -> Array:
    """Learner-adaptive ``Φ_t = β·V* + (1 − β)·V^{π_t} [S]`` (0 on terminals).

    Args:
      mdp: the task (its true reward: the teacher evaluates the learner's policy on it).
      pi: ``[S, A]`` the learner's current policy π_t (e.g. greedy in its Q-table).
      beta: weight of the expert's V* in ``[0, 1]``; 0 = the learner's own value (shaped one-step
        reward = the advantage A^{π_t}), 1 = :func:`expert_potential`.
      v_star: optional precomputed V* (saves a value iteration inside a training loop).
    """
    v_star = expert_potential(mdp) if v_star is None else v_star
    beta = jnp.asarray(beta, v_star.dtype)
    v_pi = policy_evaluation(mdp, pi)
    return (beta * v_star + (1.0 - beta) * v_pi) * _live(mdp)


def teacher_transform(phi: Array, gamma: float, coefficient: float = 1.0) -> RewardTransform:
    """PBRS with a fixed teacher potential: ``potential_based(potential_from_table(phi), γ)``.

    ``phi [S]``; observations are state indices or one-hots (``potential_from_table``).
    """
    phi = jnp.asarray(phi)
    return potential_based(potential_from_table(phi, int(phi.shape[0])), gamma, coefficient)


def table_potential_transform(n_states: int, gamma: float) -> RewardTransform:
    """PBRS whose potential table is the transform's *params*: ``params = Φ [S]`` (vmappable).

    ``apply`` builds ``potential_based(potential_from_table(Φ), γ)`` on the traced table, so each
    run of a ``vmap`` over seeds x conditions carries its own teacher (zeros = no shaping), and a
    learner-adaptive teacher swaps the table between chunks of training.
    """
    zeros = jnp.zeros((n_states,))

    def init(params):
        del params
        return ()

    def apply(params, state, tr):
        inner = potential_based(potential_from_table(params, n_states), gamma)
        return inner.apply(inner.default_params, state, tr)

    return RewardTransform(init, apply, zeros, gamma)


def shaped_mdp(mdp: TabularMDP, phi: Array) -> TabularMDP:
    """The MDP with reward ``R + γ·Φ(s')·(1 − terminal(s')) − Φ(s)`` (terminal rows zeroed)."""
    R = shaped_reward_table(mdp.R, jnp.asarray(phi, mdp.R.dtype), mdp.gamma, mdp.terminal_mask)
    return mdp.replace(R=R)
