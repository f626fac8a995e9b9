"""Reward transforms that add an auxiliary reward channel to the primary reward (BARFI's baselines).

BARFI's experiments (Gupta et al. 2023; papers.md §2.2) give the agent a primary reward ``r_p``
and an auxiliary reward ``r_aux`` (a Transition channel, ``"aux"`` by default) and compare ways of
using ``r_aux``; each is a transform here, so the learners receive them like any other shaping:

* :func:`aux_sum`: the naive sum ``r + c·r_aux``.
* :func:`pbrs_aux`: PBRS with the aux reward of each *step* as its potential, ``Φ_t = r_aux,t``
  (BARFI's ``REINFORCEPotential`` / ``ActorCriticPotential``, "returns minus aux").
* :func:`pbrs_arrival`: PBRS with the aux reward as the potential of the *arrival state*,
  ``Φ(s_{t+1}) = r_aux,t``.
* :func:`aux_shaping`: the three chained; ``params = (aux_coef, pbrs_coef, pbrs_arrival_coef)``,
  so ``vmap`` over the params runs primary only (0, 0, 0), naive (1, 0, 0), PBRS (0, 1, 0) and
  state PBRS (0, 0, 1) in one program.

The two PBRS transforms read neighbouring steps, so they are *episode* transforms: the Transition's
leading axis is the time ``t`` of one episode, ``[T, *B]``, padded with zero rewards and channels
after the episode's end (:func:`jaxrl.agents.reinforce.episode_transition`); the potential after
the last step is then 0.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxrl.shaping.potential import potential_shaping
from jaxrl.shaping.transform import RewardTransform, Transition, _no_state, chain

AUX_CHANNEL = "aux"


def aux_sum(coefficient: float = 0.0, channel: str = AUX_CHANNEL) -> RewardTransform:
    """``r + c·r_aux`` (the naive blend); ``c`` is the (vmappable) params."""

    def apply(params, state, tr: Transition):
        return tr.reward + params * tr.channels[channel], state

    return RewardTransform(_no_state, apply, jnp.asarray(coefficient, jnp.float32))


def _episode_pbrs(potentials, coefficient, gamma) -> RewardTransform:
    """``r + c·(discount_t·Φ'_t − Φ_t)`` with ``(Φ_t, Φ'_t) = potentials(r_aux [T, *B])``."""

    def apply(params, state, tr: Transition):
        phi_tm1, phi_t = potentials(tr)
        return tr.reward + params * potential_shaping(phi_tm1, phi_t, tr.discount), state

    return RewardTransform(_no_state, apply, jnp.asarray(coefficient, jnp.float32), gamma)


def pbrs_aux(
    coefficient: float = 0.0, channel: str = AUX_CHANNEL, gamma: float | None = None
) -> RewardTransform:
    """``r + c·F_t``, ``F_t = γ(1 − terminated_t)·Φ_{t+1} − Φ_t`` with ``Φ_t = r_aux,t``.

    The shaped return from ``t`` is ``G_t − c·Φ_t`` (terminal potential 0). ``Φ_t`` depends on
    ``a_t``, so this is not Ng et al.'s state potential: it is BARFI's PBRS baseline. ``gamma`` is
    the γ it was built for (checked against the learner's, ``check_gamma``).
    """

    def potentials(tr):
        aux = tr.channels[channel]
        return aux, jnp.concatenate([aux[1:], jnp.zeros_like(aux[:1])])

    return _episode_pbrs(potentials, coefficient, gamma)


def pbrs_arrival(
    coefficient: float = 0.0, channel: str = AUX_CHANNEL, gamma: float | None = None
) -> RewardTransform:
    """``r + c·F_t``, ``F_t = γ(1 − terminated_t)·r_aux,t − r_aux,t−1`` (``Φ(s_{t+1}) = r_aux,t``).

    ``r_aux,−1 = 0``: the start state's potential is taken as 0, a constant that does not change the
    policy gradient. Exact PBRS when the aux reward is a function of the arrival state; for
    REINFORCE the shaped return is ``G_t − c·r_aux,t−1``, a baseline (contrast :func:`pbrs_aux`).
    """

    def potentials(tr):
        aux = tr.channels[channel]
        return jnp.concatenate([jnp.zeros_like(aux[:1]), aux[:-1]]), aux

    return _episode_pbrs(potentials, coefficient, gamma)


def aux_shaping(
    aux_coef: float = 0.0,
    pbrs_coef: float = 0.0,
    pbrs_arrival_coef: float = 0.0,
    channel: str = AUX_CHANNEL,
    gamma: float | None = None,
) -> RewardTransform:
    """``r + aux_coef·r_aux + pbrs_coef·F + pbrs_arrival_coef·F_arrival`` (in this order).

    ``params = (aux_coef, pbrs_coef, pbrs_arrival_coef)``, one float32 scalar each.
    """
    return chain(
        aux_sum(aux_coef, channel),
        pbrs_aux(pbrs_coef, channel, gamma),
        pbrs_arrival(pbrs_arrival_coef, channel, gamma),
    )
