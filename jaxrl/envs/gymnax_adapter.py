"""Adapter for gymnax's built-in environments (classic control)."""

from __future__ import annotations

import dataclasses

import gymnax

from jaxrl.envs.core import Array, PyTree, terminated_wins
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
    """

    @_jit_method
    def step(
        self, key: Array, state: PyTree, action: Array, params: PyTree | None = None
    ) -> StepOut:
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
      ValueError: on a field that the env's params do not have.
    """
    env, params = gymnax.make(env_id)
    fields = [f.name for f in dataclasses.fields(params)]
    unknown = sorted(set(param_overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"make({env_id!r}): unknown keyword(s) {unknown}; {env_id} accepts overrides of its "
            f"params fields: {fields}"
        )
    return GymnaxEnv(env), params.replace(**param_overrides)
