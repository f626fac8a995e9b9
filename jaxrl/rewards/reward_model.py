"""A learned reward model as the learner's reward: the one reward path for preference RMs.

Every preference system of issue 18 ends the same way: a reward model ``r_θ`` replaces the
environment's reward, and the policy receives it through a :class:`RewardTransform` whose params
carry the model, so seeds × reward models are one vmapped axis of the trainer.

* :func:`learned_reward`: ``r = reward_fn(params, transition)`` for any model (e.g. an MLP on
  ``(s, a)``; HERON's trajectory-factor model).
* :func:`bandit_table_reward`: on the preference bandit (:mod:`jaxrl.envs.preference_bandit`)
  the RM is evaluated once on every (user, prompt, response), and the transform looks the reward
  up in that table ``[U, P, K]`` (its params), reading ``p`` and ``u`` from the observation's
  one-hot blocks. Exact and cheap; one table per run is a vmapped params leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any


def learned_reward(
    reward_fn: Callable[[Any, Transition], Array], default_params: Any = ()
) -> RewardTransform:
    """The transform ``r_t = reward_fn(params, transition)`` (stateless).

    ``reward_fn`` must be batch-polymorphic: fields ``[*B, ...]`` in, reward ``[*B]`` out."""
    return RewardTransform(
        init=lambda params: (),
        apply=lambda params, state, tr: (jnp.asarray(reward_fn(params, tr)), state),
        default_params=default_params,
    )


def bandit_table_reward(num_prompts: int, num_users: int, table: Array | None = None):
    """The preference bandit's reward from a table ``params [U, P, K]``: ``r = T[u, p, a]``.

    The observation's first ``P`` entries are ``one_hot(p)``, the next ``U`` are ``one_hot(u)``.
    ``table`` is the default params (e.g. an RM evaluated on ``testbed.features``; broadcast a
    user-independent RM ``[P, K]`` to ``[U, P, K]``)."""
    P, U = int(num_prompts), int(num_users)
    if P < 1 or U < 1:
        raise ValueError(f"bandit_table_reward: num_prompts={P}, num_users={U} must be >= 1")
    if table is not None and jnp.shape(table)[:2] != (U, P):
        shape = jnp.shape(table)
        raise ValueError(f"bandit_table_reward: table shape {shape}, want (U={U}, P={P}, K)")

    def reward(params, tr: Transition):
        p = jnp.argmax(tr.obs[..., :P], axis=-1)
        u = jnp.argmax(tr.obs[..., P : P + U], axis=-1)
        return jnp.asarray(params)[u, p, jnp.asarray(tr.action, jnp.int32)]

    return learned_reward(reward, () if table is None else jnp.asarray(table, jnp.float32))
