"""Adapter from a raw Brax env to the gymnax-style interface (no ``brax.training``).

We take the env from ``brax.envs.get_environment`` (not ``brax.envs.create``, which adds
EpisodeWrapper/AutoResetWrapper), so brax's ``state.done`` means true termination only. The time
limit and the auto-reset are ours: ``BraxEnv`` truncates at ``params.max_steps_in_episode`` but
does not reset; ``make_brax`` wraps it in :class:`jaxrl.envs.wrappers.AutoReset`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs.core import Array, terminated_wins

BACKENDS = ("spring", "positional", "generalized", "mjx")
FALLBACK_BACKEND = "spring"
# Per-task default backend of ``make_brax`` (issue 16): the fastest backend on the 2-core CPU
# that simulates the task faithfully, measured by ``benchmarks/brax_backends.py`` (table and
# reasons: benchmarks/README.md, section ``brax_backends.py``). Tasks not listed keep
# ``FALLBACK_BACKEND`` (so ``brax/inverted_pendulum`` and existing runs are unchanged).
DEFAULT_BACKEND: dict[str, str] = {
    "inverted_double_pendulum": "mjx",
    "hopper": "generalized",
    "walker2d": "generalized",
    "halfcheetah": "generalized",
}


def default_backend(env_name: str) -> str:
    """Returns the backend ``make_brax`` uses for ``env_name`` when none is given."""
    return DEFAULT_BACKEND.get(env_name, FALLBACK_BACKEND)


@struct.dataclass
class BraxParams:
    """Params of :class:`BraxEnv`: the time limit (a traced int, so it can differ per call)."""

    max_steps_in_episode: int = 1000


@struct.dataclass
class BraxEnvState:
    """State of :class:`BraxEnv`: the brax ``State`` and the step count ``time`` (int32 ``[]``)."""

    brax_state: Any
    time: Array


class BraxEnv:
    """A raw Brax env behind the jaxrl/gymnax interface, *without* auto-reset.

    * actions: ``Box(-1, 1, (action_size,), float32)``, clipped to that range before brax
      rescales them to actuator limits;
    * obs: ``state.obs``, ``[obs_size]`` float32;
    * reward: float32 ``[]``; terminated: ``state.done`` as bool;
    * truncated: ``time >= params.max_steps_in_episode`` and not terminated.

    Args:
      env_name: a brax env name, e.g. ``"inverted_pendulum"``.
      backend: physics backend, one of ``BACKENDS``.
      **env_kwargs: forwarded to the brax env constructor.
    """

    def __init__(self, env_name: str, backend: str = "spring", **env_kwargs):
        from brax import envs as brax_envs  # lazy: importing brax costs ~seconds

        if backend not in BACKENDS:
            raise ValueError(f"brax/{env_name}: backend must be one of {BACKENDS}, got {backend!r}")
        known = sorted(brax_envs._envs)
        if env_name not in known:
            raise ValueError(f"Unknown brax env {env_name!r}; brax provides: {known}")
        self.env_name = env_name
        self.backend = backend
        try:
            self._brax = brax_envs.get_environment(env_name, backend=backend, **env_kwargs)
        except TypeError as e:  # a wrong constructor kwarg; say where it came from
            raise ValueError(
                f"brax/{env_name}: bad keyword argument(s) {sorted(env_kwargs)}: {e}"
            ) from None
        if not isinstance(self._brax.observation_size, int):
            raise ValueError(f"brax/{env_name}: dict observations are not supported")
        self.obs_size = int(self._brax.observation_size)
        self.action_size = int(self._brax.action_size)

    @property
    def name(self) -> str:
        return f"brax/{self.env_name}"

    @property
    def unwrapped(self) -> BraxEnv:
        return self

    @property
    def brax_env(self) -> Any:
        """The underlying brax env."""
        return self._brax

    @property
    def default_params(self) -> BraxParams:
        return BraxParams()

    def observation_space(self, params: BraxParams | None = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.obs_size,), jnp.float32)

    def action_space(self, params: BraxParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.action_size,), jnp.float32)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: Array, params: BraxParams | None = None) -> tuple[Array, BraxEnvState]:
        """Resets; returns ``(obs [obs_size], state)``."""
        brax_state = self._brax.reset(key)
        state = BraxEnvState(brax_state=self._canonical(brax_state), time=jnp.zeros((), jnp.int32))
        return state.brax_state.obs, state

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: Array, state: BraxEnvState, action: Array, params: BraxParams | None = None
    ) -> tuple[Array, BraxEnvState, Array, Array, Array, dict[str, Array]]:
        """Steps the physics (deterministic: ``key`` is unused); does not reset.

        Returns:
          ``(obs [obs_size], state, reward [], terminated [], truncated [], info)`` with
          ``info = {"terminated", "truncated", "final_observation", "discount"}``.
        """
        del key  # brax dynamics are deterministic; randomness only enters through reset.
        params = self.default_params if params is None else params
        action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        brax_state = self._canonical(self._brax.step(state.brax_state, action))
        time = state.time + 1
        terminated = brax_state.done.astype(bool)
        truncated = terminated_wins(terminated, time >= params.max_steps_in_episode)
        obs = brax_state.obs
        info = {
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs,
            "discount": 1.0 - terminated.astype(jnp.float32),
        }
        state = BraxEnvState(brax_state=brax_state, time=time)
        return obs, state, brax_state.reward, terminated, truncated, info

    @staticmethod
    def _canonical(s: Any) -> Any:
        # Some brax envs return Python floats for reward/done; fix dtypes so scan/select carries
        # have a stable structure across reset and step.
        return s.replace(
            reward=jnp.asarray(s.reward, jnp.float32),
            done=jnp.asarray(s.done, jnp.float32),
            obs=jnp.asarray(s.obs, jnp.float32),
        )

    def __repr__(self) -> str:
        return f"BraxEnv({self.env_name!r}, backend={self.backend!r})"


def make_brax(
    env_name: str, backend: str | None = None, episode_length: int = 1000, **env_kwargs
) -> tuple[Any, BraxParams]:
    """Makes an auto-resetting Brax env: ``AutoReset(BraxEnv(...))``.

    Args:
      env_name: brax env name (``"inverted_pendulum"``, ``"ant"``, ...).
      backend: ``"spring"``, ``"positional"``, ``"generalized"`` or ``"mjx"``; ``None``:
        :func:`default_backend` (``DEFAULT_BACKEND[env_name]``, else ``"spring"``).
      episode_length: time limit, stored as ``params.max_steps_in_episode``.
      **env_kwargs: forwarded to the brax env constructor.

    Returns:
      ``(env, env_params)``.
    """
    from jaxrl.envs.wrappers import AutoReset

    if int(episode_length) < 1:
        raise ValueError(f"brax/{env_name}: episode_length must be >= 1, got {episode_length}")
    if backend is None:
        backend = default_backend(env_name)
    env = AutoReset(BraxEnv(env_name, backend=backend, **env_kwargs))
    return env, BraxParams(max_steps_in_episode=int(episode_length))
