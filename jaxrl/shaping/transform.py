"""Reward transforms: composable pure functions on the reward stream.

A reward transform is a pair of pure functions, in the spirit of ``optax.GradientTransformation``:

    init(params) -> state
    apply(params, state, transition) -> (reward, state)

``params`` is a pytree of (vmappable) hyperparameters of the transform, e.g. a shaping
coefficient; ``state`` carries whatever the transform needs between steps (running statistics,
the previous potential, a step counter). Transforms are *batch-polymorphic*: every field of the
``Transition`` has the same leading batch shape ``[*B]`` (one vector-env step ``[N]``, a rollout
``[T, N]``, or a whole ``[S, A, S']`` table in the exact layer) and ``apply`` returns a reward of
shape ``[*B]``. State is shared across the batch.

Transforms never see a ``done`` flag: ``terminated`` and ``truncated`` are kept apart, and
``discount`` is the learner's ``γ·(1 − terminated)`` (rlax's ``discount_t``), so a transform that
needs γ uses the learner's own by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

Array = Any
Params = Any
State = Any


class Transition(NamedTuple):
    """One step of experience as a reward transform sees it; leading batch shape ``[*B]``.

    Attributes:
      obs: ``[*B, *obs_shape]`` observation s_t.
      action: ``[*B, *action_shape]`` action a_t.
      reward: ``[*B]`` the environment's reward r_{t+1} (after any earlier transform in a chain).
      next_obs: ``[*B, *obs_shape]`` s_{t+1}; on the last step of an episode this is
        ``info["final_observation"]``, never the reset observation.
      terminated: ``[*B]`` bool, s_{t+1} is a true terminal (absorbing) state.
      truncated: ``[*B]`` bool, the episode was cut by a time limit (s_{t+1} is not terminal).
      discount: ``[*B]`` float, the learner's ``γ·(1 − terminated)``.
      channels: mapping name -> ``[*B]`` reward channels from ``info`` (e.g. ``"true_reward"``).
      time: ``[*B]`` int, the step index t within the episode (for dynamic potentials Φ(s, t)).
    """

    obs: Array
    action: Array
    reward: Array
    next_obs: Array
    terminated: Array
    truncated: Array
    discount: Array
    channels: Mapping[str, Array]
    time: Array


class RewardTransform(NamedTuple):
    """A pair of pure functions ``init(params) -> state`` and
    ``apply(params, state, transition) -> (reward, state)``, plus the default ``params``.

    ``gamma`` is the discount the transform was built for, if it has one (potential-based shaping
    is only policy-invariant when its γ equals the learner's; Ng et al. 1999). Trainers call
    ``check_gamma`` before compiling and raise on a mismatch.
    """

    init: Callable[[Params], State]
    apply: Callable[[Params, State, Transition], tuple[Array, State]]
    default_params: Params = ()
    gamma: float | None = None


def check_gamma(transform: RewardTransform, learner_gamma, allow_mismatch: bool = False) -> None:
    """Raise ``ValueError`` if the transform's γ differs from the learner's (all sweep values),
    naming the first differing value (and its sweep index)."""
    if transform.gamma is None or allow_mismatch:
        return
    learner = np.asarray(learner_gamma, dtype=np.float64)
    bad = ~np.isclose(learner, transform.gamma, rtol=0, atol=1e-6)  # float32 γ
    if np.any(bad):
        index = np.unravel_index(int(np.argmax(bad)), learner.shape) if learner.ndim else ()
        at = f"[{', '.join(str(int(i)) for i in index)}] (of a sweep)" if index else ""
        raise ValueError(
            f"reward transform was built for gamma={transform.gamma} but the learner's "
            f"hparams.gamma{at} = {float(learner[index]):.7g}; potential-based shaping is only "
            "policy-invariant with the learner's gamma (to mismatch deliberately, build the "
            "trainer with allow_gamma_mismatch=True, e.g. "
            "dataclasses.replace(trainer, allow_gamma_mismatch=True))"
        )


def _no_state(params: Params) -> State:
    del params
    return ()


def _float(x) -> Array:
    """``x`` as an array of the default float dtype unless it is already floating."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def identity() -> RewardTransform:
    """The environment reward, unchanged (costs nothing: no state, no arithmetic)."""

    def apply(params, state, transition):
        del params
        return transition.reward, state

    return RewardTransform(_no_state, apply, ())


def from_channel(name: str) -> RewardTransform:
    """Replace the reward by the named ``info`` reward channel (e.g. ``"proxy_reward"``)."""

    def apply(params, state, transition):
        del params
        if name not in transition.channels:
            available = sorted(transition.channels)
            raise KeyError(f"reward channel {name!r} not in transition; available: {available}")
        return jnp.asarray(transition.channels[name], jnp.result_type(float)), state

    return RewardTransform(_no_state, apply, ())


def scale(coefficient: float = 1.0) -> RewardTransform:
    """r -> c·r, with ``c`` a vmappable parameter."""

    def apply(params, state, transition):
        return params * transition.reward, state

    return RewardTransform(_no_state, apply, jnp.asarray(coefficient))


def chain(*transforms: RewardTransform) -> RewardTransform:
    """Compose transforms in order: the reward produced by one is the ``reward`` seen by the next.

    ``params`` and ``state`` of the chain are tuples with one entry per transform, like
    ``optax.chain``.
    """

    def init(params):
        return tuple(t.init(p) for t, p in zip(transforms, params, strict=True))

    def apply(params, state, transition):
        new_state = []
        for t, p, s in zip(transforms, params, state, strict=True):
            reward, s = t.apply(p, s, transition)
            transition = transition._replace(reward=reward)
            new_state.append(s)
        return transition.reward, tuple(new_state)

    gammas = {t.gamma for t in transforms if t.gamma is not None}
    if len(gammas) > 1:
        raise ValueError(f"chained transforms were built for different gammas: {sorted(gammas)}")
    return RewardTransform(
        init, apply, tuple(t.default_params for t in transforms), gammas.pop() if gammas else None
    )
