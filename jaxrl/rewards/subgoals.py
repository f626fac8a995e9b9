"""CALM-style subgoal rewards: an annotator's ordered subgoals as a bonus or as PBRS.

CALM (Credit Assignment with Language Models, 2024) asks an LLM to decompose a task into
elementary subgoals and to judge, on each transition, whether a subgoal was achieved; "every time
an option terminates, a subgoal is achieved, and CALM provides an auxiliary reward". Here the LLM
is replaced by an **oracle annotator** with a controllable error rate, and a subgoal is a *set of
tabular states* (the annotator judges achievement from the state alone). Nothing here imports an
environment: the subgoal sets are arrays ``[K, S]`` and the experiment passes ``state_fn`` (e.g.
``jaxrl.envs.key_door.tabular_state``) to map observations to state indices.

**Error model** (:func:`annotate`). Given the true ordered decomposition ``true_sets [K, S]``
and a list of wrong candidate sets ``distractors [D, S]`` (e.g. the noisy-TV cell, a dead-end
cell), each subgoal k is independently replaced, with probability ``error_rate``, by a distractor
drawn uniformly from the D candidates; the draw is fixed per run by a PRNG key (so a run sees one
consistent, possibly wrong, decomposition, as one LLM answer would be). ``error_rate = 0`` is the
accurate annotator, ``1`` replaces every subgoal.

**Progress** (:func:`progress_table`): ``p(s) = 1 + max{k : s ∈ G_k}`` (0 if s is in no set), the
furthest subgoal in the annotated order that state s satisfies: a function of the state only.

**Two reward forms** (both one :func:`subgoal_reward` transform; the coefficients are params):

* plain bonus: ``+c_b`` on each step that completes the next subgoal(s) in order. ``once=True``:
  ``B = c_b·max(0, p(s') − m)``, ``m`` the episode's highest progress so far (each subgoal pays
  once per episode; exact layer: the product MDP of :func:`once_bonus_mdp`). ``once=False``
  ("every time"): ``B = c_b·max(0, p(s') − p(s))``, memoryless, so a subgoal that is left and
  re-entered pays again (exact layer: :func:`shaped_table`). Neither is potential-based; both can
  change the optimal policy (detours to a wrong subgoal; loops through a re-enterable one).
* potential-based shaping (Ng, Harada & Russell 1999, eq. 3): ``Φ(s) = c_p·p(s)``,
  ``F = γ·(1 − terminated)·Φ(s') − Φ(s)``, with Φ(terminal) = 0 through the transition's
  discount, as in :mod:`jaxrl.shaping.potential`. Policy invariant for every annotator.

The learner's reward is ``r + B + F``. The memoryless transform works on rollouts
(``state_fn(obs)``) and on whole ``[S, A, S']`` tables (``state_fn=None``: integer state
observations, as :func:`jaxrl.shaping.potential.apply_to_table` feeds them), so the exact layer
solves the same shaped MDP (:func:`shaped_table`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.mdp.core import TabularMDP
from jaxrl.shaping.potential import apply_to_table, potential_shaping
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
StateFn = Callable[[Array], Array]


def _check_sets(name: str, sets: Array) -> Array:
    sets = jnp.asarray(sets)
    if sets.ndim != 2:
        raise ValueError(f"{name} must have shape [K, S] (subgoals x states), got {sets.shape}")
    return sets


def annotate(key: Array, true_sets: Array, distractors: Array, error_rate: Array) -> Array:
    """The oracle annotator's ordered decomposition ``[K, S]`` float (1.0 = state in the set).

    Args:
      key: PRNG key of the run (fixes the annotator's answer for the whole run).
      true_sets: ``[K, S]`` the correct ordered subgoals (bool or 0/1).
      distractors: ``[D, S]`` wrong candidate sets (D >= 1).
      error_rate: ``[]`` probability that each subgoal is replaced by a uniformly drawn
        distractor, independently per subgoal (traceable: vmap it over conditions).
    """
    true_sets = _check_sets("true_sets", true_sets)
    distractors = _check_sets("distractors", distractors)
    if distractors.shape[0] < 1 or distractors.shape[1] != true_sets.shape[1]:
        raise ValueError(
            f"distractors {distractors.shape} must be [D >= 1, S={true_sets.shape[1]}]"
        )
    if not isinstance(error_rate, jax.core.Tracer):
        e = float(error_rate)
        if not 0.0 <= e <= 1.0:
            raise ValueError(f"error_rate={e} must be in [0, 1]")
    K = true_sets.shape[0]
    k_flip, k_pick = jax.random.split(key)
    wrong = jax.random.uniform(k_flip, (K,)) < error_rate  # [K]
    pick = jax.random.randint(k_pick, (K,), 0, distractors.shape[0])  # [K]
    sets = jnp.where(wrong[:, None], distractors[pick], true_sets)
    return sets.astype(jnp.result_type(float))


def progress_table(sets: Array) -> Array:
    """``p [S]`` float: ``1 + max{k : s ∈ G_k}``, 0 for a state in no subgoal set."""
    sets = _check_sets("sets", sets)
    K = sets.shape[0]
    rank = jnp.arange(1, K + 1, dtype=jnp.result_type(float))[:, None]  # [K, 1]
    return jnp.max(jnp.where(sets > 0.5, rank, 0.0), axis=0)


def subgoal_params(sets: Array, bonus: float | Array = 0.0, potential: float | Array = 0.0):
    """Params of :func:`subgoal_reward`: ``{"sets": [*R, K, S], "bonus": c_b [*R], "potential":
    c_p [*R]}``; a leading run axis ``R`` on every leaf vmaps conditions."""
    sets = jnp.asarray(sets)
    if sets.ndim < 2:
        raise ValueError(f"sets must have shape [*R, K, S] (subgoals x states), got {sets.shape}")
    f = jnp.result_type(float)
    return {
        "sets": sets.astype(f),
        "bonus": jnp.asarray(bonus, f),
        "potential": jnp.asarray(potential, f),
    }


def subgoal_reward(
    state_fn: StateFn | None = None,
    gamma: float | None = None,
    once: bool = False,
    num_envs: int | None = None,
) -> RewardTransform:
    """``r + c_b·B + c_p·(γ(1 − term)·p(s') − p(s))`` as a RewardTransform.

    Args:
      state_fn: ``obs [*B, ...] -> int [*B]`` tabular state of an observation (the oracle's view);
        ``None``: the observations already are integer state indices (the table form).
      gamma: recorded for the trainer's γ check (PBRS is invariant only with the learner's γ; F
        always uses the transition's discount).
      once: the bonus form. ``False`` (memoryless, "every time"): ``B = max(0, p(s') − p(s))``.
        ``True`` (each subgoal pays once per episode, in order): ``B = max(0, p(s') − m)`` with
        ``m`` the highest progress reached so far in the episode (state ``[num_envs]``, reset to 0
        after a terminated or truncated step, and ``m >= p(s)`` always); rollouts only, batch
        ``[num_envs]``; its exact layer is :func:`once_bonus_mdp`.
      num_envs: the batch size N of ``once`` (the transform state is ``m [N]``).

    Params (:func:`subgoal_params`): ``sets [K, S]``, ``bonus`` c_b, ``potential`` c_p; the
    default params have one empty subgoal and zero coefficients (the env reward unchanged).
    """
    if once and (num_envs is None or num_envs < 1):
        raise ValueError(f"once=True needs num_envs >= 1 (the memory's batch), got {num_envs}")

    def states(obs):
        s = jnp.asarray(obs) if state_fn is None else state_fn(obs)
        return s.astype(jnp.int32)

    def init(params):
        return jnp.zeros((num_envs,), jnp.result_type(float)) if once else ()

    def apply(params, state, tr: Transition):
        p = progress_table(params["sets"])  # [S]
        p_s, p_next = p[states(tr.obs)], p[states(tr.next_obs)]  # [*B]
        if once:
            if p_s.shape != state.shape:
                raise ValueError(f"once=True: batch {p_s.shape} != num_envs {state.shape}")
            m = jnp.maximum(state, p_s)  # highest progress of this episode so far
            bonus = jnp.maximum(p_next - m, 0.0)
            ended = jnp.asarray(tr.terminated) | jnp.asarray(tr.truncated)
            state = jnp.where(ended, 0.0, jnp.maximum(m, p_next))
        else:
            bonus = jnp.maximum(p_next - p_s, 0.0)  # completes the next subgoal(s) in order
        F = potential_shaping(p_s, p_next, tr.discount)  # Ng et al. 1999; Φ(terminal) = 0
        r = tr.reward + params["bonus"] * bonus + params["potential"] * F
        return r, state

    default = subgoal_params(jnp.zeros((1, 1)))
    return RewardTransform(init, apply, default, gamma)


def once_bonus_mdp(mdp: TabularMDP, sets: Array, bonus: float) -> TabularMDP:
    """The exact layer of the ``once`` bonus: the product MDP over ``(s, m)``, ``m ∈ {0..K}`` the
    episode's highest progress so far (index ``s + S·m``, ``S(K+1)`` states).

    ``(s, m) --a--> (s', max(m, p(s')))`` with ``P(s'|s, a)``; the reward is ``R(s, a, s') +
    c_b·(max(m, p(s')) − m)``; ``d0(s, p(s)) = d0(s)``; ``(s, m)`` is terminal iff s is. With
    ``bonus = 0`` it is the original task on a bigger state space (same optimal return). Built in
    numpy (concrete ``sets``), same dtype as ``mdp.P``.
    """
    P, R = np.asarray(mdp.P), np.asarray(mdp.R)
    S, A, _ = P.shape
    p = np.asarray(progress_table(sets)).astype(int)  # [S]
    if p.shape[0] != S:
        raise ValueError(f"sets have {p.shape[0]} states, the MDP has {S}")
    K = int(np.asarray(sets).shape[0])
    M = K + 1
    P2, R2 = np.zeros((S * M, A, S * M), P.dtype), np.zeros((S * M, A, S * M), P.dtype)
    for m in range(M):
        m2 = np.maximum(m, p)  # [S'] memory on arrival
        cols = np.arange(S) + S * m2
        P2[m * S : (m + 1) * S][:, :, cols] = P
        R2[m * S : (m + 1) * S][:, :, cols] = R + bonus * (m2 - m)[None, None, :]
    term = np.tile(np.asarray(mdp.terminal_mask, bool), M)
    P2[term], R2[term] = 0.0, 0.0
    t = np.flatnonzero(term)
    P2[t, :, t] = 1.0  # absorbing
    d0 = np.zeros(S * M, P.dtype)
    d0[np.arange(S) + S * p] = np.asarray(mdp.init_dist)
    return TabularMDP.create(
        jnp.asarray(P2), jnp.asarray(R2), mdp.gamma, jnp.asarray(d0), jnp.asarray(term)
    )


def shaped_table(R: Array, gamma: float, terminal_mask: Array | None, params) -> Array:
    """The learner's reward ``[S, A, S']`` of :func:`subgoal_reward` (memoryless bonus) on a whole
    reward table
    (``jaxrl.shaping.potential.apply_to_table``: the same code as on rollouts; rows leaving a
    terminal state are zero). ``params["sets"]`` must have S columns."""
    S = jnp.shape(R)[0]
    if params["sets"].shape[-1] != S:
        raise ValueError(f"sets have {params['sets'].shape[-1]} states, the table has {S}")
    return apply_to_table(subgoal_reward(None), R, gamma, terminal_mask, params)
