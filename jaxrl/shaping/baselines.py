"""Shaping pitfalls as reward transforms: the baselines that PBRS is compared against.

Both look like potential-based shaping and neither is, so both can change the optimal policy:

* :func:`progress_bonus`: ``r + c·1[progress(s') > progress(s)]`` pays for every step of
  progress and charges nothing for undoing it; a "toward, back, toward, ..." loop earns ``c``
  every other step forever, which beats finishing under γ for large enough ``c`` (Randløv &
  Alstrøm 1998's bicycle; ``jaxrl.envs.gridworld.approach_bonus_table`` is its exact table).
* :func:`naive_potential`: ``r + c·(γΦ(s') − Φ(s))`` on *every* step, ignoring ``terminated``
  (Φ(terminal) ≠ 0). Its return telescopes to ``G − Φ(s₀) + γ^N Φ(s_N)`` on an episode that
  terminates in ``s_N`` (Grześ 2017), a terminal bonus that favours short (or long) episodes.
  The correct version is :func:`jaxrl.shaping.potential_based`.

Both are stateless and batch-polymorphic; ``c`` is the (vmappable) params.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition, _no_state

Array = Any
ObsFn = Callable[[Array], Array]


def progress_bonus(progress_fn: ObsFn, coefficient: float = 1.0) -> RewardTransform:
    """The non-potential "bicycle" bonus ``r + c·1[progress(s') > progress(s)]``.

    Pays for every step that makes progress (closer to the goal, higher up the hill) and charges
    nothing for undoing it, so it is not potential-based: going back and forth earns ``c`` every
    other step.

    Args:
      progress_fn: ``progress(obs [*B, *obs_shape]) -> [*B]``, larger = closer to the goal (e.g.
        minus the distance to the goal, or the height on the track).
      coefficient: default bonus ``c`` (``default_params``).
    """

    def apply(params, state, tr: Transition):
        gain = progress_fn(tr.next_obs) > progress_fn(tr.obs)
        return tr.reward + params * gain.astype(jnp.result_type(tr.reward, float)), state

    return RewardTransform(_no_state, apply, jnp.asarray(coefficient))


def naive_potential(phi_fn: ObsFn, gamma: float, coefficient: float = 1.0) -> RewardTransform:
    """The *buggy* PBRS ``r + c·(γΦ(s') − Φ(s))`` that ignores ``terminated`` (Φ(terminal) ≠ 0).

    Its return telescopes to ``G − Φ(s₀) + γ^N Φ(s_N)`` on an episode that terminates in s_N
    (Grześ 2017), so a positive Φ at the goal pays a bonus that shrinks with episode length.

    Args:
      phi_fn: ``Φ(obs [*B, *obs_shape]) -> [*B]``.
      gamma: the γ of F, also recorded in ``RewardTransform.gamma`` (trainers check it).
      coefficient: default shaping coefficient ``c`` (``default_params``).
    """

    def apply(params, state, tr: Transition):
        F = gamma * phi_fn(tr.next_obs) - phi_fn(tr.obs)
        return tr.reward + params * F, state

    return RewardTransform(_no_state, apply, jnp.asarray(coefficient), gamma)
