"""The preference testbed as a one-step contextual bandit on the env contract (gymnax 1.0).

Each episode is one (prompt, user) context and one response (:mod:`jaxrl.envs.preference_testbed`
builds the tables). The env's own reward is the episode user's **gold** utility; a learner that
optimises a learned reward model receives it through a reward transform
(:func:`jaxrl.rewards.reward_model.bandit_table_reward`), so the gold reward stays logged beside.

* reset: prompt ``p`` uniform, user type ``u`` by population fraction (``params.user_logits``);
* observation ``[one_hot(p) (P), one_hot(u) (U), context[u] (D)]`` float32: ``context [U, D]``
  is a traced param (default ``D = 0``); VPL puts each user's inferred latent ``z`` there, so the
  policy is ``π(a | p, z)``;
* action: a response id in ``[K]``; ``terminated`` on every step, never ``truncated``;
* info reward channels: ``gold_reward`` = ``true_reward`` = ``G[u, p, a]``, and one
  ``attr_<name>`` channel per gold attribute.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs.core import Array, Environment
from jaxrl.envs.preference_testbed import (
    ATTRIBUTES,
    PreferenceTestbed,
    PreferenceTestbedConfig,
    build_preference_testbed,
)
from jaxrl.envs.registry import register, registered_names


@struct.dataclass
class PreferenceBanditParams:
    """Traced env params (swap users, contexts or tables without recompiling)."""

    gold: Array  # [U, P, K]
    attributes: Array  # [P, K, M]
    user_logits: Array  # [U] log population fractions
    context: Array  # [U, D] per-user context appended to the observation
    max_steps_in_episode: int = 1


@struct.dataclass
class PreferenceBanditState:
    prompt: Array  # [] int32
    user: Array  # [] int32
    time: Array  # [] int32


class PreferenceBandit(Environment):
    """One-step bandit over a :class:`PreferenceTestbed` (see the module docstring)."""

    def __init__(self, testbed: PreferenceTestbed, context_dim: int = 0):
        super().__init__()
        self.testbed = testbed
        self.num_users, self.num_prompts, self.num_responses = testbed.shape
        self.context_dim = int(context_dim)

    @property
    def name(self) -> str:
        return "preference_bandit"

    @property
    def num_actions(self) -> int:
        return self.num_responses

    @property
    def default_params(self) -> PreferenceBanditParams:
        tb = self.testbed
        return PreferenceBanditParams(
            gold=tb.gold,
            attributes=tb.attributes,
            user_logits=jnp.log(tb.user_fractions),
            context=jnp.zeros((self.num_users, self.context_dim), jnp.float32),
        )

    def _obs(self, state, params):
        return jnp.concatenate(
            [
                jax.nn.one_hot(state.prompt, self.num_prompts, dtype=jnp.float32),
                jax.nn.one_hot(state.user, self.num_users, dtype=jnp.float32),
                jnp.asarray(params.context, jnp.float32)[state.user],
            ]
        )

    def reset_env(self, key, params):
        k_p, k_u = jax.random.split(key)
        state = PreferenceBanditState(
            prompt=jax.random.randint(k_p, (), 0, self.num_prompts),
            user=jax.random.categorical(k_u, params.user_logits).astype(jnp.int32),
            time=jnp.zeros((), jnp.int32),
        )
        return self._obs(state, params), state

    def step_env(self, key, state, action, params):
        p, u, a = state.prompt, state.user, jnp.asarray(action, jnp.int32)
        gold = params.gold[u, p, a]
        info = {"gold_reward": gold, "true_reward": gold}
        for m, name in enumerate(ATTRIBUTES):
            info[f"attr_{name}"] = params.attributes[p, a, m]
        new_state = state.replace(time=state.time + 1)
        return self._obs(new_state, params), new_state, gold, jnp.asarray(True), info

    def observation_space(self, params):
        n = self.num_prompts + self.num_users + self.context_dim
        return spaces.Box(-jnp.inf, jnp.inf, (n,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(self.num_responses)

    def check_params(self, params: PreferenceBanditParams) -> None:
        """Raises if a table's shape does not match this env or the episode is not 1 step."""
        U, P, K = self.num_users, self.num_prompts, self.num_responses
        want = {
            "gold": (U, P, K),
            "attributes": (P, K, len(ATTRIBUTES)),
            "user_logits": (U,),
            "context": (U, self.context_dim),
        }
        for field, shape in want.items():
            got = tuple(np.shape(getattr(params, field)))
            if got != shape:
                raise ValueError(f"preference_bandit: params.{field} has shape {got}, want {shape}")
        mx = params.max_steps_in_episode
        if isinstance(mx, (int, np.integer)) and (isinstance(mx, bool) or mx != 1):
            raise ValueError(f"preference_bandit: max_steps_in_episode must be 1, got {mx!r}")


def make_preference_bandit(
    context_dim: int = 0, **config: Any
) -> tuple[PreferenceBandit, PreferenceBanditParams]:
    """``make("preference_bandit", context_dim=0, **PreferenceTestbedConfig fields)``."""
    fields = list(PreferenceTestbedConfig.__dataclass_fields__)
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise ValueError(f"make('preference_bandit'): unknown keyword(s) {unknown}; {fields}")
    if isinstance(context_dim, bool) or not isinstance(context_dim, int) or context_dim < 0:
        raise ValueError(f"make('preference_bandit'): context_dim={context_dim!r} must be >= 0")
    env = PreferenceBandit(build_preference_testbed(PreferenceTestbedConfig(**config)), context_dim)
    return env, env.default_params


if "preference_bandit" not in registered_names():
    register("preference_bandit", make_preference_bandit)
