"""Composite rewards over named channels: Lucy-SKG's KRC, hybrid rule + model − length, CaRL.

Every composite is a :class:`~jaxrl.shaping.transform.RewardTransform` over the named reward
channels of a :class:`~jaxrl.shaping.transform.Transition` (``tr.channels[name]`` of shape
``[*B]``; the name ``"reward"`` is the incoming reward when no channel has that name, as in
:mod:`jaxrl.shaping.gating`). Conditions (weights, exponents, penalties) are vmappable params.

* **KRC** (Moschopoulos et al. 2023, "Lucy-SKG: Learning to Play Rocket League Efficiently Using
  Deep RL"; the abstract names "parameterizable reward shape functions" combined by the
  "Kinesthetic Reward Combination (KRC) technique"; the formula below is OUR READING, from
  memory of the paper body, not checked against it). Each component ``c_i`` first goes through a
  parameterised shape ``f_i(c) = sign(c)·|c|^{κ_i}`` (κ < 1 raises small values, κ > 1 flattens
  them); the components are then combined multiplicatively, as a signed geometric mean::

      KRC(c) = σ(c) · (Π_i |f_i(c_i)|)^{1/n},   σ = +1 if every f_i(c_i) > 0 else −1

  so the combined reward is positive only when every aspect is satisfied at once (the "kinesthetic"
  coupling of e.g. approaching the ball AND facing it), and any zero component zeroes it.
  :func:`shape_power`, :func:`krc`, :func:`krc_reward`.
* **Hybrid rule + model − length** ("Beyond Monolithic Rewards", hybrid and multi-aspect reward
  optimisation for MLLM alignment; the ToolRL and job-application rewards are sums of the same
  kind): rule-based verifiable rewards plus model-based scores plus a generalised length penalty,
  summed::

      r = Σ_j w_rule,j·rule_j + Σ_k w_model,k·model_k − λ·length_t

  with ``length_t`` a per-step length channel (default: 1 per step, i.e. ``−λ·T`` per episode).
  :func:`hybrid_reward`.
* **CaRL** (Jaeger et al. 2025, "CaRL: Learning Scalable Planning Policies with Simple Rewards";
  abstract: optimise "a single intuitive reward term: route completion. Infractions are penalized
  by terminating the episode or multiplicatively reducing route completion")::

      r_t = RC_t · Π_i f_i,t      (soft infractions f_i ∈ [0, 1]; multiplicative_penalties)
      a severe infraction ends the episode: r = −p at that step and 0 for the rest of the episode

  A reward transform cannot end an environment's episode, so :func:`terminate_on` emulates the
  termination in the return: from the severe step on, the episode pays nothing (its return equals
  that of the terminated episode; the environment still runs, so the samples are spent).
  :func:`carl_reward` = :func:`terminate_on` ∘ ``gating.multiplicative_penalties``.
* :func:`with_channels` adds derived channels (e.g. proxy rule/model rewards computed from the
  observation) before an inner transform.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp

from jaxrl.shaping.gating import _channel, _stack, multiplicative_penalties
from jaxrl.shaping.transform import RewardTransform, Transition, _no_state

Array = Any


def _names(names: Sequence[str], what: str) -> tuple[str, ...]:
    names = tuple(names)
    if not names:
        raise ValueError(f"{what} needs at least one channel")
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: duplicate channel names {names}")
    return names


def _vector(x, n: int, what: str) -> Array:
    x = jnp.atleast_1d(jnp.asarray(x, jnp.result_type(float)))
    if x.shape != (n,):
        raise ValueError(f"{what}: need {n} values (one per channel), got shape {x.shape}")
    return x


# ----------------------------------------------------------------------------- KRC (Lucy-SKG)
def shape_power(x, exponent):
    """Parameterised reward shape ``sign(x)·|x|^κ`` elementwise (broadcasting ``x`` and κ)."""
    x = jnp.asarray(x)
    return jnp.sign(x) * jnp.abs(x) ** exponent


def krc(values, exponents):
    """Kinesthetic Reward Combination of ``values [*B, n]`` with shape exponents ``κ [n]``:
    ``σ·(Π_i |f_i|)^{1/n}``, ``f_i = shape_power(values_i, κ_i)``, ``σ = +1`` iff every
    ``f_i > 0`` else −1. Returns ``[*B]``."""
    values = jnp.asarray(values)
    f = shape_power(values, exponents)
    # geometric mean via logs of |f| (a zero component gives exactly 0: exp(-inf) = 0)
    mag = jnp.exp(jnp.mean(jnp.log(jnp.abs(f)), axis=-1))
    sign = jnp.where(jnp.all(f > 0, axis=-1), 1.0, -1.0).astype(mag.dtype)
    return sign * mag


def krc_reward(channels: Sequence[str], exponents) -> RewardTransform:
    """Per-step KRC over ``channels``; params ``exponents [n]`` (the shape functions' κ_i).
    No state."""
    channels = _names(channels, "krc_reward")
    exponents = _vector(exponents, len(channels), "krc_reward exponents")

    def apply(params, state, tr: Transition):
        return krc(_stack(tr, channels), params), state

    return RewardTransform(_no_state, apply, exponents)


# ----------------------------------------------------------------------------- hybrid
def hybrid_reward(
    rule: Sequence[str],
    model: Sequence[str],
    rule_weights,
    model_weights,
    length_penalty: float = 0.0,
    length_channel: str | None = None,
) -> RewardTransform:
    """``Σ w_rule·rule + Σ w_model·model − λ·length`` (Beyond Monolithic Rewards' hybrid reward).

    Args:
      rule, model: channel names of the rule-based (verifiable) and model-based rewards.
      rule_weights, model_weights: one weight per channel (``[n_rule]``, ``[n_model]``).
      length_penalty: λ ≥ 0.
      length_channel: a per-step length channel; ``None`` charges 1 per step.
    Params ``{"rule": [n_rule], "model": [n_model], "length_penalty": []}``; no state.
    """
    rule, model = tuple(rule), tuple(model)
    if not rule and not model:
        raise ValueError("hybrid_reward needs at least one rule or model channel")
    if float(length_penalty) < 0:
        raise ValueError(f"hybrid_reward: length_penalty={length_penalty} must be >= 0")
    params = {
        "rule": _vector(rule_weights, len(rule), "hybrid_reward rule_weights")
        if rule
        else jnp.zeros((0,)),
        "model": _vector(model_weights, len(model), "hybrid_reward model_weights")
        if model
        else jnp.zeros((0,)),
        "length_penalty": jnp.asarray(length_penalty, jnp.result_type(float)),
    }

    def apply(params, state, tr: Transition):
        total = jnp.zeros(jnp.shape(tr.reward), jnp.result_type(float))
        for i, name in enumerate(rule):
            total = total + params["rule"][i] * _channel(tr, name)
        for i, name in enumerate(model):
            total = total + params["model"][i] * _channel(tr, name)
        length = 1.0 if length_channel is None else _channel(tr, length_channel)
        return total - params["length_penalty"] * length, state

    return RewardTransform(_no_state, apply, params)


# ----------------------------------------------------------------------------- CaRL
class TerminateState(NamedTuple):
    """``inner`` state and a per-environment flag ``[*batch_shape]`` bool: a severe infraction
    already happened in this episode."""

    inner: Any
    ended: Array


def terminate_on(
    inner: RewardTransform, severe: str, batch_shape=(), penalty: float = 0.0
) -> RewardTransform:
    """Emulated termination on a severe infraction (CaRL): where channel ``severe`` is > 0 the
    step pays ``−penalty`` instead of the inner reward, and every later step of the episode pays
    0; the flag resets after the episode's last step (``terminated | truncated``). Params
    ``{"inner": inner params, "penalty": []}``; state :class:`TerminateState` per environment
    (``batch_shape``: each call is one time step of a ``[*batch_shape]`` batch)."""
    batch_shape = tuple(batch_shape)

    def init(params):
        return TerminateState(inner.init(params["inner"]), jnp.zeros(batch_shape, bool))

    def apply(params, state: TerminateState, tr: Transition):
        r, inner_state = inner.apply(params["inner"], state.inner, tr)
        hit = _channel(tr, severe) > 0
        if hit.shape != batch_shape:
            raise ValueError(f"terminate_on built for batch_shape {batch_shape}, got {hit.shape}")
        out = jnp.where(state.ended, 0.0, jnp.where(hit, -params["penalty"], r))
        last = jnp.asarray(tr.terminated, bool) | jnp.asarray(tr.truncated, bool)
        ended = (state.ended | hit) & ~last
        return out.astype(jnp.result_type(r)), TerminateState(inner_state, ended)

    params = {
        "inner": inner.default_params,
        "penalty": jnp.asarray(penalty, jnp.result_type(float)),
    }
    return RewardTransform(init, apply, params)


def carl_reward(
    completion: str,
    factors: Sequence[str],
    severe: str | None = None,
    batch_shape=(),
    penalty: float = 0.0,
) -> RewardTransform:
    """CaRL: ``completion · Π factors`` (reusing
    :func:`~jaxrl.shaping.gating.multiplicative_penalties`), wrapped in :func:`terminate_on`
    when a ``severe`` infraction channel is given."""
    base = multiplicative_penalties(tuple(factors), base=completion)
    return base if severe is None else terminate_on(base, severe, batch_shape, penalty)


# ----------------------------------------------------------------------------- helpers
def with_channels(
    inner: RewardTransform, derive: Callable[[Transition], Mapping[str, Array]]
) -> RewardTransform:
    """``inner`` applied to the transition with extra channels ``derive(tr)`` (name -> ``[*B]``),
    e.g. proxy rule / model rewards computed from the observation. Same params and state."""

    def apply(params, state, tr: Transition):
        return inner.apply(params, state, tr._replace(channels={**tr.channels, **derive(tr)}))

    return RewardTransform(inner.init, apply, inner.default_params, inner.gamma)
