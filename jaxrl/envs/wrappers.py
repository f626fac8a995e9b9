"""Thin wrappers with the env interface of :mod:`jaxrl.envs.core`, each delegating to an inner env.

Order matters for the two that own episode boundaries: ``TimeLimit`` must sit *inside*
``AutoReset`` (``AutoReset(TimeLimit(raw_env, n))``), because a wrapper outside an auto-resetting
env cannot make the inner env reset. ``RewardChannels`` and ``EpisodeStatistics`` go outside
(they only read ``step``'s outputs). Wrappers that add state wrap the inner state in their own
``flax.struct.dataclass``; params are always the inner env's params, unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.envs.checks import actions_checked
from jaxrl.envs.core import (
    TRUE_REWARD,
    Array,
    Env,
    PyTree,
    debug_check,
    reward_channels,
    select_tree,
    terminated_wins,
)

StepOut = tuple[PyTree, PyTree, Array, Array, Array, dict[str, Array]]


def _jit_method(fn: Callable) -> Callable:
    """``jax.jit`` for an env method (``self`` static). The debug-mode flag
    (:func:`jaxrl.envs.debug_actions`) is part of the cache key, so toggling it retraces; in debug
    mode a ``step`` checks a concrete action and params eagerly, before tracing."""
    jitted = jax.jit(
        lambda self, _debug, *args, **kwargs: fn(self, *args, **kwargs), static_argnums=(0, 1)
    )

    @functools.wraps(fn)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        debug = actions_checked()
        if debug and fn.__name__ in ("step", "_step"):
            bound = inspect.signature(fn).bind(self, *args, **kwargs)
            bound.apply_defaults()
            debug_check(self, bound.arguments["action"], bound.arguments["params"])
        return jitted(self, debug, *args, **kwargs)

    return method


class Wrapper:
    """Delegates everything to ``env``; subclasses override ``reset`` and/or ``step``.

    Attributes not found on the wrapper (``num_actions``, ``obs_shape``, ...) come from ``env``.
    """

    def __init__(self, env: Env):
        self._env = env

    @property
    def env(self) -> Env:
        """The wrapped environment."""
        return self._env

    @property
    def unwrapped(self) -> Env:
        """The innermost environment."""
        return getattr(self._env, "unwrapped", self._env)

    @property
    def default_params(self) -> PyTree:
        return self._env.default_params

    @property
    def name(self) -> str:
        return getattr(self._env, "name", type(self._env).__name__)

    def observation_space(self, params: PyTree | None = None) -> Any:
        return self._env.observation_space(self._params(params))

    def action_space(self, params: PyTree | None = None) -> Any:
        return self._env.action_space(self._params(params))

    def reset(self, key: Array, params: PyTree | None = None) -> tuple[PyTree, PyTree]:
        return self._env.reset(key, params)

    def step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> StepOut:
        return self._env.step(key, state, action, params)

    def _params(self, params: PyTree | None) -> PyTree:
        return self.default_params if params is None else params

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; guard "_env" against recursion during unpickling.
        if name == "_env":
            raise AttributeError(name)
        return getattr(self._env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._env!r})"


class AutoReset(Wrapper):
    """Resets the inner env when ``terminated | truncated``, keeping ``info["final_observation"]``.

    For envs whose ``step`` does not reset itself (e.g. :class:`jaxrl.envs.BraxEnv`). The key is
    split into a step key and a reset key; the reset is computed every step and selected, as in
    gymnax (under ``vmap`` a ``lax.cond`` would run both branches anyway).
    """

    @_jit_method
    def step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> StepOut:
        params = self._params(params)
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, reward, terminated, truncated, info = self._env.step(
            key_step, state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        obs_re, state_re = self._env.reset(key_reset, params)
        info = {**info, "final_observation": obs_st}
        obs = select_tree(done, obs_re, obs_st)
        state = select_tree(done, state_re, state_st)
        return obs, state, reward, terminated, truncated, info


@struct.dataclass
class TimeLimitState:
    """State of :class:`TimeLimit`: the inner state and the step count ``time`` (int32 ``[]``)."""

    env_state: PyTree
    time: Array


class TimeLimit(Wrapper):
    """Sets ``truncated`` once ``max_steps`` steps have been taken; never touches ``terminated``.

    If the episode terminates on the same step that it hits the limit, terminated wins:
    ``terminated=True, truncated=False`` (a terminal state's value is 0 whatever the clock says).
    The inner env's own ``truncated`` is kept (OR-ed). The inner env must not auto-reset: wrap as
    ``AutoReset(TimeLimit(env, max_steps))``.

    Args:
      env: the inner env (not auto-resetting).
      max_steps: episode length limit, a static Python int.
    """

    def __init__(self, env: Env, max_steps: int):
        super().__init__(env)
        if int(max_steps) < 1:
            raise ValueError(f"TimeLimit: max_steps must be >= 1, got {max_steps}")
        self.max_steps = int(max_steps)

    @_jit_method
    def reset(self, key: Array, params: PyTree | None = None) -> tuple[PyTree, TimeLimitState]:
        obs, env_state = self._env.reset(key, self._params(params))
        return obs, TimeLimitState(env_state=env_state, time=jnp.zeros((), jnp.int32))

    @_jit_method
    def step(
        self, key: Array, state: TimeLimitState, action: Array, params: PyTree | None = None
    ) -> StepOut:
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        time = state.time + 1
        truncated = terminated_wins(terminated, jnp.logical_or(truncated, time >= self.max_steps))
        info = {**info, "terminated": terminated, "truncated": truncated}
        return obs, TimeLimitState(env_state, time), reward, terminated, truncated, info


class RewardChannels(Wrapper):
    """Adds reward channels to ``info``: ``"true_reward"`` (= reward unless set) and extras.

    Args:
      env: the inner env.
      channels: optional extra channels, name -> ``fn(obs, reward, info) -> Array`` evaluated on
        each step's outputs (``obs`` is ``info["final_observation"]``, the arrival state). Names
        should end in ``"_reward"``. Existing info entries are never overwritten.
    """

    def __init__(
        self, env: Env, channels: dict[str, Callable[[PyTree, Array, dict], Array]] | None = None
    ):
        super().__init__(env)
        self.channels = dict(channels or {})

    @_jit_method
    def step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> StepOut:
        obs, state, reward, terminated, truncated, info = self._env.step(
            key, state, action, self._params(params)
        )
        # The info dict's keys are static, so "unless the env provides it" is a trace-time check.
        extra = {TRUE_REWARD: lambda o, r, i: r, **self.channels}
        new = {
            k: jnp.asarray(fn(info["final_observation"], reward, info))
            for k, fn in extra.items()
            if k not in info
        }
        return obs, state, reward, terminated, truncated, {**info, **new}


@struct.dataclass
class EpisodeStatisticsState:
    """State of :class:`EpisodeStatistics`.

    Attributes:
      env_state: inner env state.
      episode_return: ``[]`` running return of the env reward in the current episode.
      episode_length: ``[]`` int32, steps taken in the current episode.
      channel_returns: name -> running return of each reward channel (channel's shape).
    """

    env_state: PyTree
    episode_return: Array
    episode_length: Array
    channel_returns: dict[str, Array]


class EpisodeStatistics(Wrapper):
    """Tracks undiscounted per-episode returns (env reward and every reward channel) and lengths.

    Adds to ``info``:

    * ``"episode_return"``: ``[]`` return of the current episode up to and including this step;
      on the final step (``episode_done``) it is the finished episode's return.
    * ``"episode_length"``: ``[]`` int32, steps so far including this one (final: the length).
    * ``"episode_channel_returns"``: dict name -> return of each ``*_reward`` channel, likewise.
    * ``"episode_done"``: ``[]`` bool, ``terminated | truncated``.

    Average over finished episodes with ``episode_done`` as a mask. Place it outside
    ``RewardChannels`` so that the channels exist, and on an auto-resetting env.
    """

    @_jit_method
    def reset(
        self, key: Array, params: PyTree | None = None
    ) -> tuple[PyTree, EpisodeStatisticsState]:
        params = self._params(params)
        obs, env_state = self._env.reset(key, params)
        # The set of channels is only visible in step's info: trace one step abstractly.
        action = self._env.action_space(params).sample(key)
        out = jax.eval_shape(self._env.step, key, env_state, action, params)
        reward, info = out[2], out[5]
        zeros = lambda s: jnp.zeros(s.shape, s.dtype)
        state = EpisodeStatisticsState(
            env_state=env_state,
            episode_return=zeros(reward),
            episode_length=jnp.zeros((), jnp.int32),
            channel_returns={k: zeros(v) for k, v in reward_channels(info).items()},
        )
        return obs, state

    @_jit_method
    def step(
        self, key: Array, state: EpisodeStatisticsState, action: Array, params: PyTree | None = None
    ) -> StepOut:
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        done = jnp.logical_or(terminated, truncated)
        ret = state.episode_return + reward
        length = state.episode_length + 1
        channels = reward_channels(info)
        ch_ret = {k: state.channel_returns[k] + channels[k] for k in state.channel_returns}
        info = {
            **info,
            "episode_return": ret,
            "episode_length": length,
            "episode_channel_returns": ch_ret,
            "episode_done": done,
        }
        # Counters restart after the final step, in step with the inner auto-reset.
        new_state = EpisodeStatisticsState(
            env_state=env_state,
            episode_return=jnp.where(done, jnp.zeros_like(ret), ret),
            episode_length=jnp.where(done, 0, length),
            channel_returns=jax.tree.map(lambda x: jnp.where(done, jnp.zeros_like(x), x), ch_ret),
        )
        return obs, new_state, reward, terminated, truncated, info
