"""Clip and Delta for process-reward-model (PRM) step rewards (Gao et al. 2024, arXiv 2410.15115).

A PRM scores every reasoning step, ``r_k = PRM(q, steps ≤ k)``; added to a sparse success reward
it can be hacked by repeating correct but useless steps (the raw return grows with the number of
steps). Gao et al.'s two refinements bound the return of every trajectory (papers.md §5b,
theory.md §6; formulas there are "best-known forms", not read in the paper text):

* **Clip** ``r̃_k = min(r_k − η, 0)``: every per-step reward is ≤ 0, so every return-to-go is ≤ 0.
  :func:`clip_rewards` (pure) / :func:`prm_clip` (transform, params ``η``).
* **Delta** ``r̃_k = r_k − r_{k+1}`` for k < K: telescopes, ``Σ_{k≥t} r̃_k = r_t − r_K + r̃_K``.
  **Last-step convention** (``keep_last``): ``r̃_K = 0`` (default: the PRM reward of the last step
  is dropped, its credit comes from the success reward; the paper's figure marks the last step
  with an "X"), or ``r̃_K = r_K`` (``keep_last=True``; some write-ups), giving return-to-go
  ``r_t − r_K`` or ``r_t``. Either is bounded by the PRM's range, whatever K is.
  :func:`delta_rewards` (trajectory level, after a rollout) / :func:`prm_delta` (streaming,
  emitted one step late).
* **Clip-Delta**: Clip, then Delta: ``chain(prm_clip(η), prm_delta(...))`` or
  ``delta_rewards(clip_rewards(r, η))``.

Delta needs the *next* step's score, so the streaming form keeps the previous step's score in its
state and emits the delta one step late (see :func:`prm_delta` for the exact timing).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition, _float, _no_state

Array = Any


# ----------------------------------------------------------------------------- pure functions
def clip_rewards(r, eta=0.0):
    """Gao et al.'s Clip: ``min(r − η, 0)`` elementwise."""
    return jnp.minimum(_float(r) - eta, 0.0)


def delta_rewards(rewards, done=None, mask=None, keep_last=False):
    """Gao et al.'s Delta over trajectories, time on axis 0: ``rewards [T, *B] -> [T, *B]``.

    ``r̃_k = r_k − r_{k+1}`` inside an episode; on an episode's last step ``r̃_K = keep_last·r_K``
    (``keep_last`` False -> 0, True -> r_K; a float in {0, 1} is vmappable). So the return-to-go
    from any step t of an episode is ``r_t − r_K`` (or ``r_t``).

    Args:
      rewards: ``[T, *B]`` PRM step scores.
      done: optional ``[T, *B]`` bool, step k is the last of its episode (``terminated |
        truncated``); the deltas never cross an episode boundary. Step ``T − 1`` is always
        treated as last (a rollout cut at T has no next score).
      mask: optional ``[T, *B]`` bool of valid steps (a valid prefix per column, then padding).
        Padding steps get 0 and the last valid step is a last step, so the result on the valid
        prefix does not depend on how much padding follows.
      keep_last: the last-step convention (see above).
    """
    r = _float(rewards)
    T = r.shape[0]
    last = jnp.zeros(r.shape, bool).at[T - 1].set(True)
    if done is not None:
        last = last | jnp.asarray(done, bool)
    if mask is not None:
        mask = jnp.asarray(mask, bool)
        next_valid = jnp.concatenate([mask[1:], jnp.zeros_like(mask[:1])], axis=0)
        last = last | ~next_valid
    r_next = jnp.concatenate([r[1:], jnp.zeros_like(r[:1])], axis=0)
    keep = jnp.asarray(keep_last, r.dtype)
    out = jnp.where(last, keep * r, r - r_next)
    return out if mask is None else jnp.where(mask, out, 0.0)


def returns_to_go(rewards):
    """Undiscounted return-to-go ``G_t = Σ_{k≥t} r_k`` along axis 0."""
    r = jnp.asarray(rewards)
    return jnp.flip(jnp.cumsum(jnp.flip(r, 0), 0), 0)


# ----------------------------------------------------------------------------- transforms
def prm_clip(eta: float = 0.0) -> RewardTransform:
    """Clip as a transform: ``min(r − η, 0)``; params ``η`` (vmappable). No state."""

    def apply(params, state, tr: Transition):
        return clip_rewards(tr.reward, params), state

    return RewardTransform(_no_state, apply, jnp.asarray(eta))


class DeltaState(NamedTuple):
    """Per-environment ``[*B]`` state of :func:`prm_delta`."""

    prev_reward: Array  # r_{t-1}
    has_prev: Array  # bool: step t-1 belongs to the current episode and its delta is pending


def prm_delta(batch_shape=(), keep_last: bool = False) -> RewardTransform:
    """Streaming Delta, emitted one step late; params ``keep_last`` (float 0/1, vmappable).

    At step t with score r_t (``transition.reward``) of an episode with last step K (the step
    with ``terminated | truncated``) the transform emits

      * t = 0:       0 (nothing pending),
      * 0 < t < K:   ``r_{t−1} − r_t``  (the delta of step t − 1),
      * t = K:       ``r_{K−1} − r_K + keep_last·r_K`` (pending delta, flushed with the last one),

    so step t's reward is ``r̃_{t−1}`` of :func:`delta_rewards` and the episode return, and every
    return-to-go shifted by one step, equal the trajectory form's. Nothing crosses an episode
    boundary. Unlike the other transforms its state is **per environment**: ``DeltaState`` of
    shape ``batch_shape`` (e.g. ``(N,)`` for one vector-env step per call), so each call must be
    one time step of the same ``[*batch_shape]`` batch; for a whole ``[T, N]`` rollout use
    :func:`delta_rewards`.
    """
    batch_shape = tuple(batch_shape)

    def init(params):
        dtype = jnp.result_type(float)
        return DeltaState(jnp.zeros(batch_shape, dtype), jnp.zeros(batch_shape, bool))

    def apply(params, state: DeltaState, tr: Transition):
        r = _float(tr.reward)
        if r.shape != batch_shape:
            raise ValueError(f"prm_delta built for batch_shape {batch_shape}, got {r.shape}")
        last = jnp.asarray(tr.terminated, bool) | jnp.asarray(tr.truncated, bool)
        prev = state.prev_reward.astype(r.dtype)
        out = jnp.where(state.has_prev, prev - r, 0.0) + jnp.where(
            last, jnp.asarray(params, r.dtype) * r, 0.0
        )
        return out, DeltaState(r.astype(state.prev_reward.dtype), ~last)

    return RewardTransform(init, apply, jnp.asarray(float(keep_last)))
