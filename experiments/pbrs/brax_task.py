"""Sparse-reward Brax Hopper for ``experiments.pbrs`` (issue 16 item 6): env, reward, shapings.

The task is Brax ``hopper`` (our adapter, ``jaxrl.envs.make``; default backend ``generalized``)
with the torso's x position kept in the observation (``exclude_current_positions_from_
observation=False``: ``obs[0]`` is the root slide joint ``q[0]``, ≈ 0 at reset), so that a
potential Φ(obs) can read the distance travelled.

Sparse true reward (channel ``"sparse_reward"``, the learner's base reward and the evaluated
return): with milestones at ``x = k·d`` (k = 1, 2, ...),

    m(x) = max(⌊x / d⌋, 0),        r_sparse(s, s') = m(x') − m(x),

i.e. +1 on the step the torso crosses the next milestone forwards, −1 if it crosses one backwards.
The episode's sum telescopes to ``m(x_final)``: the number of whole milestones of net forward
progress when the episode ends (by falling, ``terminated``, or the time limit). It is Markov in
(obs, next_obs), so it is a reward channel of the env (evaluation reads the same channel).

Shapings (chained after ``from_channel("sparse_reward")``; the variant's weights select them):

* PBRS ``F = γ(1 − terminated)Φ(s') − Φ(s)`` with ``Φ(s) = scale·x`` (forward distance);
* the same distance as a non-potential progress bonus ``c·1[x' > x]`` (pays for every forward
  step, charges nothing for going back or falling).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct

from jaxrl.envs import RewardChannels, make
from jaxrl.envs.wrappers import Wrapper
from jaxrl.shaping import RewardTransform, chain, from_channel, potential_based, progress_bonus

BRAX_TASK = "hopper"
BRAX_GAMMA = 0.99
#: index of the torso x position in the observation (``q[0]``, positions kept)
X_INDEX = 0


def torso_x(obs):
    """``obs [*B, obs_size]`` -> ``[*B]`` torso x position (metres from the reset pose)."""
    return obs[..., X_INDEX]


def milestones(x, spacing: float):
    """``m(x) = max(⌊x / spacing⌋, 0)`` (float32 ``[*B]``): milestones passed at position x."""
    return jnp.maximum(jnp.floor(x / spacing), 0.0).astype(jnp.float32)


@struct.dataclass
class MilestoneState:
    """State of :class:`MilestoneReward`: the inner state and ``x`` (``[]``) of the current obs."""

    env_state: object
    x: object


class MilestoneReward(Wrapper):
    """Adds ``info["sparse_reward"] = m(x') − m(x)`` to an auto-resetting env whose ``obs[0]`` is
    the torso x. ``x'`` is read from ``info["final_observation"]`` (the arrival state, never the
    reset observation); the stored ``x`` then moves to the observation returned (after a reset:
    the new episode's start)."""

    def __init__(self, env, spacing: float):
        super().__init__(env)
        if not spacing > 0:
            raise ValueError(f"MilestoneReward: spacing must be > 0 metres, got {spacing}")
        self.spacing = float(spacing)

    def reset(self, key, params=None):
        obs, state = self._env.reset(key, self._params(params))
        return obs, MilestoneState(state, torso_x(obs))

    def step(self, key, state, action, params=None):
        obs, inner, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        x_next = torso_x(info["final_observation"])
        sparse = milestones(x_next, self.spacing) - milestones(state.x, self.spacing)
        info = {**info, "sparse_reward": sparse}
        return obs, MilestoneState(inner, torso_x(obs)), reward, terminated, truncated, info


def make_sparse_hopper(spacing: float, episode_length: int, backend: str | None = None):
    """``(env, params)``: Brax hopper (x in the obs) with the ``sparse_reward`` channel and the
    dense Brax reward kept as ``true_reward`` (for reference only; never the evaluated return)."""
    env, params = make(
        f"brax/{BRAX_TASK}",
        backend=backend,
        episode_length=episode_length,
        exclude_current_positions_from_observation=False,
    )
    return RewardChannels(MilestoneReward(env, spacing)), params


def hopper_transform(phi_scale: float, bonus: float) -> RewardTransform:
    """chain(sparse reward, PBRS Φ = phi_scale·x, progress bonus c·1[x' > x])."""
    return chain(
        from_channel("sparse_reward"),
        potential_based(lambda o: phi_scale * torso_x(o), gamma=BRAX_GAMMA),
        progress_bonus(torso_x, bonus),
    )
