"""Adapter for gymnax's built-in environments (classic control)."""

from __future__ import annotations

import dataclasses
import math

import gymnax

from jaxrl.envs.checks import check_at_least, check_finite
from jaxrl.envs.core import Array, PyTree, clip_action, debug_check, terminated_wins
from jaxrl.envs.wrappers import StepOut, Wrapper, _jit_method

#: gymnax classic-control ids that ``jaxrl.envs.make`` registers.
CLASSIC_CONTROL = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
)


class GymnaxEnv(Wrapper):
    """A gymnax 1.0 env with "terminated wins" applied to its ``truncated`` flag.

    gymnax already auto-resets, fills ``info["final_observation"]`` and truncates at
    ``params.max_steps_in_episode``, but reports ``terminated=truncated=True`` when an episode
    terminates on its last allowed step; here ``truncated`` (and ``info["truncated"]``) is False
    then. Observations, rewards and the auto-reset are gymnax's, untouched.

    Actions: a discrete action outside ``[0, n)`` (e.g. 7 for CartPole, whose force gymnax
    computes as ``force_mag·(2a − 1)``) is clipped to that range; in debug mode
    (:func:`jaxrl.envs.debug_actions`) it raises. Continuous actions are clipped by gymnax itself.
    """

    def step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> StepOut:
        debug_check(self, action, params)
        return self._step(key, state, action, params)

    @_jit_method
    def _step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> StepOut:
        action = clip_action(action, self.action_space(params))
        obs, state, reward, terminated, truncated, info = self._env.step(
            key, state, action, self._params(params)
        )
        truncated = terminated_wins(terminated, truncated)
        return obs, state, reward, terminated, truncated, {**info, "truncated": truncated}


def make_gymnax(env_id: str, **param_overrides) -> tuple[GymnaxEnv, PyTree]:
    """Makes a gymnax env, optionally overriding fields of its default params.

    Args:
      env_id: a gymnax id, e.g. ``"CartPole-v1"``.
      **param_overrides: fields of the env's ``EnvParams`` to replace, e.g.
        ``max_steps_in_episode=200`` or ``gravity=9.0``.

    Returns:
      ``(env, env_params)``.

    Raises:
      ValueError: on a field that the env's params do not have, or a non-finite value.
      TypeError: on a value that is not a number (e.g. ``max_steps_in_episode="500"``).
    """
    env, params = gymnax.make(env_id)
    fields = [f.name for f in dataclasses.fields(params)]
    unknown = sorted(set(param_overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"make({env_id!r}): unknown keyword(s) {unknown}; {env_id} accepts overrides of its "
            f"params fields: {fields}"
        )
    for field, value in param_overrides.items():
        default = getattr(params, field)
        if isinstance(default, (bool, str)):
            continue
        if isinstance(default, int):
            low = 1 if field == "max_steps_in_episode" else -math.inf
            check_at_least(f"make({env_id!r})", field, value, low)
        elif isinstance(default, float):
            check_finite(f"make({env_id!r})", field, value)
    return GymnaxEnv(env), params.replace(**param_overrides)
