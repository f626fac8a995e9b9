"""The environment contract shared by every env in ``jaxrl`` (gymnax 1.0's, plus two rules).

Every environment (a gymnax env, an adapter, or a wrapper) exposes::

    reset(key, params) -> (obs, state)
    step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)
    observation_space(params) -> gymnax.environments.spaces.Box | Discrete
    action_space(params) -> gymnax.environments.spaces.Box | Discrete
    default_params  # a pytree; always has a ``max_steps_in_episode`` field for envs from ``make``

``step`` auto-resets: when ``terminated | truncated`` the returned ``obs``/``state`` are those of a
fresh episode and ``info["final_observation"]`` is the observation of the arrival state *before*
the reset (equal to ``obs`` when the episode did not end). ``info`` always carries
``"terminated"``, ``"truncated"`` and ``"final_observation"``; every info leaf is a ``jnp`` array
with a fixed shape so that ``step`` can be ``vmap``-ed and ``scan``-ned.

Two rules on top of gymnax 1.0:

* **Terminated wins.** If an episode reaches a terminal state on the very step that it hits its
  time limit, ``terminated=True`` and ``truncated=False`` (gymnax itself reports both as True).
  A true terminal has value 0 regardless of the clock, so the learner must not bootstrap.
* **Reward channels.** Info keys ending in ``"_reward"`` are reward channels (DESIGN.md): every env
  made by :func:`jaxrl.envs.make` provides at least ``info["true_reward"]``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from gymnax.environments import environment

Array = jax.Array
PyTree = Any

#: Suffix that marks an ``info`` entry as a reward channel.
REWARD_CHANNEL_SUFFIX = "_reward"
#: The channel every env made by ``make`` provides: the task's real reward.
TRUE_REWARD = "true_reward"


class Env(Protocol):
    """Structural type of an environment (gymnax 1.0 interface); see the module docstring."""

    @property
    def default_params(self) -> PyTree: ...

    def reset(self, key: Array, params: PyTree | None = None) -> tuple[PyTree, PyTree]: ...

    def step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> tuple[PyTree, PyTree, Array, Array, Array, dict[str, Array]]: ...

    def observation_space(self, params: PyTree) -> Any: ...

    def action_space(self, params: PyTree) -> Any: ...


def reward_channels(info: dict[str, Any]) -> dict[str, Array]:
    """Selects the reward channels of an ``info`` dict.

    Args:
      info: the ``info`` dict returned by ``step``.

    Returns:
      The entries whose key ends in ``"_reward"`` (e.g. ``"true_reward"``), same shapes.
    """
    return {k: v for k, v in info.items() if k.endswith(REWARD_CHANNEL_SUFFIX)}


def terminated_wins(terminated: Array, truncated: Array) -> Array:
    """Returns ``truncated & ~terminated``: a step ending in a terminal state is no truncation.

    Args:
      terminated: ``[*B]`` bool.
      truncated: ``[*B]`` bool, as a time limit computed it.

    Returns:
      ``[*B]`` bool, the truncation flag to report.
    """
    return jnp.logical_and(jnp.asarray(truncated, bool), jnp.logical_not(terminated))


def clip_action(action: Array, space: Any) -> Array:
    """Clips a discrete action to ``[0, space.n - 1]`` (dtype kept; identity on valid actions);
    other action spaces pass through unchanged (their envs clip to their own bounds)."""
    n = getattr(space, "n", None)
    return action if n is None else jnp.clip(action, 0, int(n) - 1)


def debug_check(env: Any, action: Any, params: PyTree | None) -> None:
    """In debug mode (:func:`jaxrl.envs.checks.actions_checked`): checks ``action`` against the
    env's action space and concrete ``params``; does nothing otherwise."""
    from jaxrl.envs import checks

    if not checks.actions_checked():
        return
    params = env.default_params if params is None else params
    checks.check_params(env, params)
    checks.check_action(getattr(env, "name", type(env).__name__), action, env.action_space(params))


def select_tree(pred: Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    """Leafwise ``where(pred, on_true, on_false)`` for a scalar ``pred`` (the auto-reset select)."""
    return jax.tree.map(lambda a, b: jax.lax.select(pred, a, b), on_true, on_false)


class Environment(environment.Environment):
    """Base class for ``jaxrl``'s own environments: gymnax's, with "terminated wins".

    Subclasses implement ``step_env``, ``reset_env``, ``default_params`` (with a
    ``max_steps_in_episode`` field), ``observation_space``, ``action_space`` and keep a ``time``
    field in their state; gymnax's machinery supplies the time limit and the auto-reset.
    ``step_env`` must return ``(obs, state, reward, terminated, info)`` with ``state.time`` already
    incremented.
    """

    def step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> tuple[PyTree, PyTree, Array, Array, Array, dict[str, Array]]:
        """Steps, applies the time limit and auto-resets (gymnax 1.0 semantics).

        Args:
          key: PRNG key; split into a step key and a reset key.
          state: the env state.
          action: an element of ``action_space(params)``. A discrete action outside ``[0, n)`` is
            clipped to that range; in debug mode (:func:`jaxrl.envs.debug_actions`,
            ``JAXRL_CHECK_ACTIONS=1``) it raises instead, and params are checked too.
          params: env params; ``None`` means ``default_params``.

        Returns:
          ``(obs, state, reward, terminated, truncated, info)``; see the module docstring.
        """
        debug_check(self, action, params)
        return self._step(key, state, action, params)

    @partial(jax.jit, static_argnames=("self",))
    def _step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> tuple[PyTree, PyTree, Array, Array, Array, dict[str, Array]]:
        if params is None:
            params = self.default_params
        action = clip_action(action, self.action_space(params))
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, reward, terminated, info = self.step_env(key_step, state, action, params)
        terminated = jnp.asarray(terminated, bool)
        truncated = terminated_wins(terminated, self.is_truncated(state_st, params))
        done = jnp.logical_or(terminated, truncated)
        obs_re, state_re = self.reset_env(key_reset, params)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        obs = select_tree(done, obs_re, obs_st)
        state = select_tree(done, state_re, state_st)
        return obs, state, reward, terminated, truncated, info
