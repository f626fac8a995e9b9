"""A finite MDP (:class:`jaxrl.mdp.TabularMDP`) as a sampled, auto-resetting environment."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs.core import Array, Environment
from jaxrl.mdp.core import check_mdp

OBS_TYPES = ("one_hot", "index")


@struct.dataclass
class TabularEnvParams:
    """Params of :class:`TabularEnv`.

    Attributes:
      mdp: a ``TabularMDP`` (fields ``P [S, A, S']``, ``R [S, A, S']``, ``gamma``,
        ``init_dist [S]``, ``terminal_mask [S]`` bool). Traced, so one compiled env can be
        ``vmap``-ed over a batch of MDPs with the same ``S`` and ``A``.
      max_steps_in_episode: time limit (truncation).
    """

    mdp: Any
    max_steps_in_episode: int = 100


@struct.dataclass
class TabularEnvState:
    """State of :class:`TabularEnv`: ``state`` int32 ``[]`` and step count ``time`` int32 ``[]``."""

    state: Array
    time: Array


class TabularEnv(Environment):
    """Samples a finite MDP: ``s0 ~ init_dist``, ``s' ~ P[s, a]``, reward ``R[s, a, s']``.

    * obs: ``one_hot(s)`` float32 ``[S]`` (default), or with ``obs_type="index"`` the int32
      index ``[]``;
    * actions: ``Discrete(A)``;
    * terminated: ``terminal_mask[s']``; truncated at ``params.max_steps_in_episode``;
    * info: ``"state"`` (s, int32), ``"next_state"`` (s', the arrival state before any reset,
      like ``final_observation``), ``"true_reward"`` (= reward) and ``"discount"`` (0 at a
      terminal), plus gymnax's ``"terminated"``, ``"truncated"``, ``"final_observation"``.

    Args:
      mdp: the ``TabularMDP``; its shapes fix S and A, and it is the default params' MDP. Any MDP
        with the same S and A can be passed in ``params`` instead.
      max_steps: default ``params.max_steps_in_episode``.
      obs_type: ``"one_hot"`` or ``"index"``.
    """

    def __init__(self, mdp: Any, max_steps: int = 100, obs_type: str = "one_hot"):
        super().__init__()
        missing = [f for f in ("P", "R", "init_dist", "terminal_mask") if not hasattr(mdp, f)]
        if missing:
            raise ValueError(f"TabularEnv: mdp lacks field(s) {missing}; pass a TabularMDP")
        if obs_type not in OBS_TYPES:
            raise ValueError(f"TabularEnv: obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
        if int(max_steps) < 1:
            raise ValueError(f"TabularEnv: max_steps must be >= 1, got {max_steps}")
        # Concrete, unvalidated MDPs are checked here (shapes, stochastic P, a distribution d0):
        # the sampler would silently renormalise a row summing to 0.8.
        if hasattr(mdp, "gamma"):
            check_mdp(mdp, "TabularEnv", uses_init=True, gamma_one=False)
        self.num_states, self._num_actions = int(mdp.P.shape[0]), int(mdp.P.shape[1])
        self.obs_type = obs_type
        self._default_params = TabularEnvParams(mdp=mdp, max_steps_in_episode=int(max_steps))

    @property
    def name(self) -> str:
        return "tabular"

    @property
    def num_actions(self) -> int:
        return self._num_actions

    @property
    def default_params(self) -> TabularEnvParams:
        return self._default_params

    def observation_space(self, params: TabularEnvParams | None = None) -> spaces.Space:
        if self.obs_type == "index":
            return spaces.Discrete(self.num_states)
        return spaces.Box(0.0, 1.0, (self.num_states,), jnp.float32)

    def action_space(self, params: TabularEnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self._num_actions)

    def get_obs(self, state: TabularEnvState, params=None, key=None) -> Array:
        if self.obs_type == "index":
            return state.state
        return jax.nn.one_hot(state.state, self.num_states, dtype=jnp.float32)

    def reset_env(self, key: Array, params: TabularEnvParams) -> tuple[Array, TabularEnvState]:
        s0 = _sample(key, params.mdp.init_dist)
        state = TabularEnvState(state=s0, time=jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(
        self, key: Array, state: TabularEnvState, action: Array, params: TabularEnvParams
    ) -> tuple[Array, TabularEnvState, Array, Array, dict[str, Array]]:
        mdp = params.mdp
        s, a = state.state, jnp.asarray(action, jnp.int32)
        s_next = _sample(key, mdp.P[s, a])
        reward = mdp.R[s, a, s_next]
        terminated = jnp.asarray(mdp.terminal_mask[s_next], bool)
        new_state = TabularEnvState(state=s_next, time=state.time + 1)
        info = {
            "state": s,
            "next_state": s_next,
            "true_reward": reward,
            "discount": 1.0 - terminated.astype(reward.dtype),
        }
        return self.get_obs(new_state), new_state, reward, terminated, info

    def is_terminated(self, state: TabularEnvState, params: TabularEnvParams) -> Array:
        return jnp.asarray(params.mdp.terminal_mask[state.state], bool)


def _sample(key: Array, probs: Array) -> Array:
    """Draws an index from ``probs [n]`` (zeros allowed) as int32 ``[]``."""
    # log(0) = -inf is exactly "never" for categorical; the where silences the log warning path.
    logits = jnp.where(probs > 0, jnp.log(jnp.where(probs > 0, probs, 1.0)), -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def make_tabular(
    mdp: Any, max_steps: int = 100, obs_type: str = "one_hot"
) -> tuple[TabularEnv, TabularEnvParams]:
    """Makes a :class:`TabularEnv` for ``mdp``.

    Args:
      mdp: a ``jaxrl.mdp.TabularMDP`` (or anything with its fields).
      max_steps: time limit, stored as ``params.max_steps_in_episode``.
      obs_type: ``"one_hot"`` (float32 ``[S]``) or ``"index"`` (int32 ``[]``).

    Returns:
      ``(env, env_params)``.
    """
    env = TabularEnv(mdp, max_steps=max_steps, obs_type=obs_type)
    return env, env.default_params
