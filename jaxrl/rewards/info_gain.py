"""Information-gain turn rewards (IGPO; "Dialogue as Discovery") as a reward transform.

IGPO (Information Gain-based Policy Optimization, Ant Group 2025) rewards each turn of a
multi-turn agent by "the marginal increase in the policy's probability of producing the correct
answer", added to the outcome reward:

    r_t = outcome_t + β · (p(y* | h_{t+1}) − p(y* | h_t))                      (IGPO, turn reward)

Nous ("Dialogue as Discovery") uses the reduction of Shannon entropy over the task space, which
for a uniform posterior over ``k`` consistent candidates is ``log`` of the same ratio.

The small-scale form (twenty questions, :mod:`jaxrl.envs.twenty_questions`) replaces the LLM's
belief by the **exact Bayesian posterior** over items given the answers so far: uniform prior over
the ``N`` rows of the attribute table, truthful answers, so the posterior is uniform over the
items consistent with the observed answers. The target's identity is not needed: the target is
always consistent, so ``p(y* | h) = 1 / |C(h)|`` (``C(h)`` the consistent set). Per episode the
turn rewards telescope: ``Σ_t (p(y*|h_{t+1}) − p(y*|h_t)) = p(y*|h_T) − 1/N``.

Layer 3: the table comes in as an array; the observation layout is the env's
``[asked (M), yes (M)]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any


class InfoGainParams(NamedTuple):
    """Vmappable coefficients (each ``[]``, or ``[n]`` in a sweep)."""

    info_coef: Any = 1.0
    """β, the weight of the information-gain turn reward (0: outcome only)"""
    outcome_coef: Any = 1.0
    """weight of the env (outcome) reward"""


def consistent(table: Array, obs: Array) -> Array:
    """``[*B, N]`` bool: items whose attributes agree with every answer in ``obs [*B, 2M]``
    (``table [N, M]`` in {0, 1})."""
    table = jnp.asarray(table)
    m = table.shape[1]
    asked, yes = obs[..., None, :m] > 0.5, obs[..., None, m:] > 0.5  # [*B, 1, M]
    agree = (table > 0) == yes
    return jnp.all(agree | ~asked, axis=-1)


def posterior(table: Array, obs: Array, dtype=None) -> Array:
    """``[*B, N]`` the exact Bayesian posterior over items (uniform prior, truthful answers):
    uniform over the consistent items. An observation no item explains gives all zeros."""
    c = consistent(table, obs).astype(dtype or jnp.result_type(float))
    return c / jnp.maximum(c.sum(-1, keepdims=True), 1.0)


def target_posterior(table: Array, obs: Array, dtype=None) -> Array:
    """``[*B]`` ``p(y* | h) = 1 / |C(h)|`` (the target is always consistent; see the module
    docstring)."""
    c = consistent(table, obs).astype(dtype or jnp.result_type(float)).sum(-1)
    return 1.0 / jnp.maximum(c, 1.0)


def info_gain_reward(table: Array, info_coef: float = 1.0, outcome_coef: float = 1.0):
    """The IGPO turn reward as a :class:`RewardTransform`.

    ``apply`` returns ``outcome_coef · r + info_coef · (p(y*|s') − p(y*|s))`` ``[*B]`` with
    ``s = transition.obs``, ``s' = transition.next_obs`` (the final observation at an episode's
    end). No state; no γ (the turn rewards telescope undiscounted, IGPO sums them with γ = 1).

    Args:
      table: ``[N, M]`` the attribute table in {0, 1}.
      info_coef, outcome_coef: default :class:`InfoGainParams`.
    """
    table = jnp.asarray(table)
    if table.ndim != 2:
        raise ValueError(f"table must be [N, M], got shape {table.shape}")

    def init(params):
        del params
        return ()

    def apply(params: InfoGainParams, state, tr: Transition):
        dtype = jnp.result_type(tr.reward, float)
        gain = target_posterior(table, tr.next_obs, dtype) - target_posterior(table, tr.obs, dtype)
        reward = params.outcome_coef * tr.reward + params.info_coef * gain
        return reward.astype(dtype), state

    return RewardTransform(init, apply, InfoGainParams(info_coef, outcome_coef))
