"""Combining named reward channels: G-RA gating, CaRL-style multiplicative penalties, mixtures.

* **G-RA** (Sun et al. 2025, "Stabilizing Long-term Multi-turn RL with Gated Rewards", arXiv
  2508.10548; papers.md §5a, theory.md §8; no official code, rule from the abstract + a
  third-party summary). Channels are ordered by priority (outcome first, then format/tool use,
  then step critics); a lower-priority reward counts only if every higher-priority reward clears
  its threshold. Episode form (the paper's)::

      R(τ) = r_high(τ) + 1[r_high(τ) ≥ δ]·Σ_t r_low,t        (D-RA, ungated: r_high + Σ_t r_low)

  generalised to channels 0 (highest) … K−1: channel i's episode sum is multiplied by
  ``Π_{j<i} 1[R_j(τ) ≥ δ_j]`` with ``R_j(τ) = Σ_t r_j,t``. :func:`gated_reward_accumulation`
  (streaming: low-priority rewards accumulate in state and are paid at the episode's last step
  if the gates pass), :func:`gra_return` (trajectory level). :func:`gated_channels` is the
  per-step rule ``R^(i)(s, a) ← 0 if R^(j)(s, a) < δ_j for some higher-priority j``.
* **CaRL-style multiplicative penalties** (Jaeger et al. 2025, "CaRL: Learning Scalable Planning
  Policies with Simple Rewards"), checked against the abstract (seed-papers.txt): a single term,
  route completion; soft infractions multiply the step's route-completion gain,
  ``r_t = ΔRC_t · Π_i f_i,t`` with ``f_i ∈ [0, 1]`` (1 = no infraction),
  :func:`multiplicative_penalties`; severe infractions terminate the episode, which a reward
  transform cannot do: :func:`jaxrl.shaping.composite.terminate_on` / ``carl_reward`` pay the
  terminating step and nothing after it.
* **Weighted channels**: ``Σ_i w_i·channel_i``; :func:`weighted_channels`.

Channel values are ``[*B]`` arrays in ``transition.channels``; the name ``"reward"`` (if no channel
has that name) is the transition's incoming reward, so a gate/mixture can follow other transforms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition, _float, _no_state

Array = Any


def _channel(tr: Transition, name: str) -> Array:
    if name in tr.channels:
        return _float(tr.channels[name])
    if name == "reward":
        return _float(tr.reward)
    raise KeyError(f"reward channel {name!r} not in transition; available: {sorted(tr.channels)}")


def _stack(tr: Transition, names: Sequence[str]) -> Array:
    """``[*B, K]`` channels in priority order."""
    return jnp.stack(jnp.broadcast_arrays(*[_channel(tr, n) for n in names]), axis=-1)


def _check_priority(priority, thresholds):
    priority = tuple(priority)
    if len(priority) < 2:
        raise ValueError("gating needs at least two channels (high priority first)")
    thresholds = jnp.atleast_1d(jnp.asarray(thresholds, jnp.result_type(float)))
    if thresholds.shape != (len(priority) - 1,):
        raise ValueError(
            f"need one threshold per gating channel ({len(priority) - 1}), got {thresholds.shape}"
        )
    return priority, thresholds


# ----------------------------------------------------------------------------- pure functions
def gate_weights(values, thresholds):
    """``[*B, K]`` channel values -> ``[*B, K]`` 0/1 gates ``Π_{j<i} 1[values_j ≥ δ_j]``."""
    values = jnp.asarray(values)
    passes = (values[..., :-1] >= thresholds).astype(values.dtype)
    ones = jnp.ones_like(values[..., :1])
    return jnp.concatenate([ones, jnp.cumprod(passes, axis=-1)], axis=-1)


def gated_sum(values, thresholds):
    """``Σ_i values_i·gate_i`` over the last axis; a closed gate gives an exact 0 contribution."""
    values = jnp.asarray(values)
    g = gate_weights(values, thresholds)
    return jnp.sum(jnp.where(g > 0, values, 0.0), axis=-1)


def gra_return(r_high, r_low, threshold):
    """Trajectory-level G-RA: ``r_high + 1[r_high ≥ δ]·Σ_t r_low[t]`` (time on axis 0 of r_low)."""
    r_high = jnp.asarray(r_high)
    return r_high + jnp.where(r_high >= threshold, jnp.sum(jnp.asarray(r_low), axis=0), 0.0)


def dra_return(r_high, r_low):
    """Trajectory-level D-RA (direct, ungated accumulation): ``r_high + Σ_t r_low[t]``."""
    return jnp.asarray(r_high) + jnp.sum(jnp.asarray(r_low), axis=0)


# ----------------------------------------------------------------------------- transforms
def gated_channels(priority: Sequence[str], thresholds) -> RewardTransform:
    """Per-step gating: ``Σ_i r_i·Π_{j<i} 1[r_j ≥ δ_j]`` over channels ``priority`` (highest
    first); params ``thresholds [K − 1]`` (vmappable). No state."""
    priority, thresholds = _check_priority(priority, thresholds)

    def apply(params, state, tr: Transition):
        return gated_sum(_stack(tr, priority), params), state

    return RewardTransform(_no_state, apply, thresholds)


class GRAState(NamedTuple):
    """Per-environment episode sums ``[*B, K]`` of every channel (priority order)."""

    sums: Array


def gated_reward_accumulation(
    priority: Sequence[str], thresholds, batch_shape=()
) -> RewardTransform:
    """Streaming G-RA over channels ``priority`` (highest first); params ``thresholds [K − 1]``.

    The highest-priority channel is paid as it arrives. Lower-priority rewards are summed in the
    state and paid at the episode's last step (``terminated | truncated``) if every
    higher-priority episode sum clears its threshold, else dropped; the sums then reset. The
    episode return is therefore ``R_0(τ) + Σ_{i≥1} R_i(τ)·Π_{j<i} 1[R_j(τ) ≥ δ_j]``, and a
    failing episode returns exactly ``R_0(τ)``. State :class:`GRAState` is per environment, of
    shape ``batch_shape + (K,)``: each call is one time step of a ``[*batch_shape]`` batch.
    """
    priority, thresholds = _check_priority(priority, thresholds)
    batch_shape, K = tuple(batch_shape), len(priority)

    def init(params):
        return GRAState(jnp.zeros((*batch_shape, K), jnp.result_type(float)))

    def apply(params, state: GRAState, tr: Transition):
        values = _stack(tr, priority)
        if values.shape[:-1] != batch_shape:
            raise ValueError(
                f"gated_reward_accumulation built for batch_shape {batch_shape}, "
                f"got {values.shape[:-1]}"
            )
        sums = state.sums.astype(values.dtype) + values
        last = jnp.asarray(tr.terminated, bool) | jnp.asarray(tr.truncated, bool)
        gates = gate_weights(sums, params)[..., 1:]  # channels 1..K-1
        lows = jnp.sum(jnp.where(gates > 0, sums[..., 1:], 0.0), axis=-1)
        out = values[..., 0] + jnp.where(last, lows, 0.0)
        new = jnp.where(last[..., None], 0.0, sums).astype(state.sums.dtype)
        return out, GRAState(new)

    return RewardTransform(init, apply, thresholds)


def multiplicative_penalties(factors: Sequence[str], base: str = "reward") -> RewardTransform:
    """CaRL-style reward ``base · Π_i factor_i`` (factors are channels in [0, 1], not clipped
    here). ``base`` defaults to the incoming reward (CaRL: the step's route-completion gain).
    No params or state."""
    factors = tuple(factors)

    def apply(params, state, tr: Transition):
        r = _channel(tr, base)
        for name in factors:
            r = r * _channel(tr, name)
        return r, state

    return RewardTransform(_no_state, apply, ())


def weighted_channels(weights: Mapping[str, float]) -> RewardTransform:
    """``Σ_name w_name·channel_name``, e.g. ``weighted_channels({"true_reward": 1.0,
    "aux_reward": 0.5})``; params the dict of weights (a vmappable pytree). No state."""
    names = tuple(weights)
    if not names:
        raise ValueError("weighted_channels needs at least one channel")

    def apply(params, state, tr: Transition):
        total = 0.0
        for name in names:
            total = total + params[name] * _channel(tr, name)
        return total, state

    return RewardTransform(
        _no_state, apply, {n: jnp.asarray(w, jnp.result_type(float)) for n, w in weights.items()}
    )
