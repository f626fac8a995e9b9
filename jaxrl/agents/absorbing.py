"""DAC absorbing states in the off-policy loop (Kostrikov et al. 2019, "Discriminator-Actor-
Critic", §4.2; the SAM paper runs use them too).

Without them a true terminal transition's target is ``r`` (no bootstrap), which hands any
learned reward an implicit, unlearned value 0 for every terminal state: a positive learned reward
(SAM's ``softplus(D) ≥ 0``) then favours long episodes, a negative one early termination. DAC
instead sends the terminal transition to an *absorbing state* ``s_abs`` whose reward is learned
(the discriminator scores ``(s_abs, 0)``) and whose value bootstraps through the self-loop
``s_abs → s_abs``:

    Q(s, a)         = r(s, a)      + γ·Q(s_abs, π(s_abs))       (terminal transition)
    Q(s_abs, a_abs) = r(s_abs, 0)  + γ·Q(s_abs, π(s_abs))       (the self-loop)

A time-limit truncation is *not* absorbing: it bootstraps from the final observation as usual.

How it is done here, agent-agnostic:

* :class:`AbsorbingIndicator` wraps the environment: every observation (and
  ``info["final_observation"]``) gains one indicator feature, 0 for real states; the agents'
  networks see ``obs_dim + 1`` inputs. ``s_abs = (0, …, 0, 1)``.
* The buffer stores the environment's transitions unchanged (``terminated`` kept).
* :func:`draw` samples uniformly over the stored transitions *plus* one self-loop per stored
  terminal transition (the DAC buffer holds exactly those), all self-loops being the same tuple
  ``(s_abs, 0, s_abs)`` they are not stored, only counted;
* :func:`to_absorbing` rewrites a sampled batch: terminal next states become ``s_abs``, self-loop
  draws become ``(s_abs, 0, s_abs)`` with reward 0 (a learned reward relabels it), and
  ``terminated`` is cleared, so every target bootstraps with discount ``γ``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from jaxrl.agents.replay_buffer import ReplayBuffer
from jaxrl.envs.wrappers import Wrapper

Array = Any


def absorbing_obs(dim: int, dtype=jnp.float32) -> Array:
    """``s_abs = (0, …, 0, 1)`` of the wrapped size ``dim`` (= raw obs_dim + 1)."""
    return jnp.zeros((dim,), dtype).at[-1].set(1.0)


def _append_zero(obs):
    obs = jnp.asarray(obs, jnp.float32)
    return jnp.concatenate([obs, jnp.zeros((*obs.shape[:-1], 1), obs.dtype)], axis=-1)


class AbsorbingIndicator(Wrapper):
    """Appends the absorbing indicator 0 to flat observations ``[d] -> [d + 1]`` (also to
    ``info["final_observation"]``); needs a 1-D Box observation space."""

    def __init__(self, env, params=None):
        super().__init__(env)
        space = env.observation_space(env.default_params if params is None else params)
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(
                "absorbing=True needs a flat (1-D Box) observation space, got "
                f"{type(space).__name__} of shape {getattr(space, 'shape', None)}"
            )

    def observation_space(self, params=None):
        space = self._env.observation_space(self._params(params))
        (d,) = space.shape
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), (d,))
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), (d,))
        low, high = jnp.append(low, 0.0), jnp.append(high, 1.0)
        return spaces.Box(low, high, (d + 1,), jnp.float32)

    def reset(self, key, params=None):
        obs, state = self._env.reset(key, params)
        return _append_zero(obs), state

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        info = {**info, "final_observation": _append_zero(info["final_observation"])}
        return _append_zero(obs), state, reward, terminated, truncated, info


def num_self_loops(buffer: ReplayBuffer) -> Array:
    """``[]`` int32: stored terminal transitions (one DAC self-loop each; empty slots are 0)."""
    return jnp.sum(buffer.storage.terminated.astype(jnp.int32))


def draw(buffer: ReplayBuffer, key: Array, batch_size: int) -> tuple[Array, Array]:
    """``(slot [B], is_loop [B])``: uniform over ``size`` stored transitions and the
    :func:`num_self_loops` self-loops; a self-loop draw's slot is a valid dummy."""
    high = jnp.maximum(buffer.size + num_self_loops(buffer), 1)
    j = jax.random.randint(key, (batch_size,), 0, high)
    is_loop = j >= buffer.size
    return jnp.where(is_loop, 0, j), is_loop


def to_absorbing(batch, is_loop: Array):
    """A sampled ``ReplayTransition`` (wrapped observations, leaves ``[*B, ...]``) rewritten for
    DAC: terminal next states -> ``s_abs``; ``is_loop [*B]`` entries -> ``(s_abs, 0, s_abs)``
    with reward 0; ``terminated`` all False (the bootstrap discount is ``γ`` everywhere)."""
    terminated = jnp.asarray(batch.terminated, bool)
    s_abs = absorbing_obs(batch.obs.shape[-1], batch.obs.dtype)

    def where(mask, value, x):
        mask = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
        return jnp.where(mask, jnp.asarray(value, x.dtype), x)

    return batch._replace(
        obs=where(is_loop, s_abs, batch.obs),
        action=where(is_loop, 0, batch.action),
        reward=where(is_loop, 0, batch.reward),
        next_obs=where(is_loop | terminated, s_abs, batch.next_obs),
        terminated=jnp.zeros_like(terminated),
        channels={k: where(is_loop, 0, v) for k, v in batch.channels.items()},
        truncated=None if batch.truncated is None else where(is_loop, False, batch.truncated),
    )


def prepare_env(env, absorbing: bool, params=None):
    """``env`` wrapped in :class:`AbsorbingIndicator` when ``absorbing`` (what an agent's
    ``make_train`` does before sizing its networks), else ``env`` itself."""
    return AbsorbingIndicator(env, params) if absorbing else env
