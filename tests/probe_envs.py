"""Probe environments with a known optimal action or value (after Andy Jones' RL debugging probes).

Each is a gymnax-1.0 ``Environment``: observations are ``[1]`` floats, one or two discrete actions,
and an info ``true_reward`` channel equal to the reward.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class ProbeState(environment.EnvState):
    obs: jnp.ndarray


@struct.dataclass
class ProbeParams(environment.EnvParams):
    max_steps_in_episode: int = 1


class Probe(environment.Environment):
    """Base probe: ``kind`` selects the reward and termination rule.

    - ``"value"``: one action, obs 0, reward +1, episodes of one step (V = 1).
    - ``"obs_value"``: obs ±1 at random, reward = obs, one step (V(s) = s).
    - ``"action"``: two actions, reward +1 for action 1 and −1 for action 0 (π(1) → 1).
    - ``"obs_action"``: obs ±1, reward +1 iff action matches the sign of obs (π depends on obs).
    - ``"continuous"``: a Box(−1, 1) action, reward −(a − 0.5)², one step (mean → 0.5).
    - ``"truncated_value"``: reward +1 per step, never terminates, truncated by the time limit;
      with correct bootstrapping on truncation V = 1/(1 − γ) (treating the time limit as a
      terminal would give a smaller, time-dependent value).
    """

    def __init__(self, kind: str, num_actions: int = 2):
        self.kind = kind
        self._num_actions = 1 if kind in ("value", "obs_value", "truncated_value") else num_actions
        self.continuous = kind == "continuous"

    @property
    def default_params(self):
        return ProbeParams(max_steps_in_episode=10 if self.kind == "truncated_value" else 100)

    def _draw_obs(self, key):
        if self.kind in ("obs_value", "obs_action"):
            return jnp.where(jax.random.bernoulli(key), 1.0, -1.0)[None]
        return jnp.zeros((1,))

    def reset_env(self, key, params):
        obs = self._draw_obs(key)
        return obs, ProbeState(time=0, obs=obs)

    def step_env(self, key, state, action, params):
        o = state.obs[0]
        if self.kind in ("value", "truncated_value"):
            reward = jnp.asarray(1.0)
        elif self.kind == "obs_value":
            reward = o
        elif self.kind == "continuous":
            reward = -((action[0] - 0.5) ** 2)
        elif self.kind == "action":
            reward = jnp.where(action == 1, 1.0, -1.0)
        else:
            reward = jnp.where((action == 1) == (o > 0), 1.0, -1.0)
        terminated = jnp.asarray(self.kind != "truncated_value")
        obs = self._draw_obs(key) if self.kind != "truncated_value" else state.obs
        new_state = ProbeState(time=state.time + 1, obs=obs)
        return obs, new_state, reward, terminated, {"true_reward": reward}

    def is_terminated(self, state, params):
        return jnp.asarray(self.kind != "truncated_value")

    def action_space(self, params=None):
        if self.continuous:
            return spaces.Box(-1.0, 1.0, (1,), jnp.float32)
        return spaces.Discrete(self._num_actions)

    def observation_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)
