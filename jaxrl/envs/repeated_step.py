"""A repeated-step MDP for process-reward-model (PRM) hacking (Gao et al. 2024, arXiv 2410.15115).

A caricature of multi-step reasoning: a task needs ``n_required`` useful steps and then a final
answer; a process reward model scores every *correct* step, including correct but unnecessary
ones, so the dense return grows with the number of steps and a policy can farm it by repeating a
step instead of finishing (papers.md §5b, theory.md §6).

* **Actions.** ``0 USEFUL``: a new useful step (progress ``k ← k + 1``); ``1 REPEAT``: restate a
  correct step (no progress); ``2 FINISH``: give the final answer and end the episode.
* **Rewards** (channels in ``info``):

  - ``"prm_reward"``: the step score, ``prm_correct`` (0.9) for USEFUL and REPEAT steps; on
    FINISH ``prm_correct`` if the answer is right (``k ≥ n_required``) else ``prm_wrong`` (0.1);
    plus optional Gaussian noise ``prm_noise`` (a learned scorer is not exact);
  - ``"outcome_reward"``: ``success_reward`` (1) on a successful FINISH, else 0;
  - ``"true_reward"``: the outcome (the task's real objective).

  The env's ``reward`` is ``prm_reward + outcome_reward`` ("raw dense" shaping); experiments
  transform the ``prm_reward`` channel (Clip, Delta: ``jaxrl.shaping.prm``) and add the outcome.
* **Episode end.** ``terminated`` on FINISH; ``truncated`` after ``max_steps_in_episode``
  (horizon, 30) steps without FINISH (terminated wins on a FINISH at the horizon).
* **Observation.** float32 ``[n_required + 2]``: ``one_hot(min(k, n_required))`` and ``t / H``.

With raw rewards, REPEAT until the horizon earns ``0.9`` per step, far more than the shortest
successful episode (``n_required`` USEFUL then FINISH: ``0.9·(n + 1) + 1``); under Clip every step
costs and under Delta the PRM part of the return telescopes, so the shortest success is optimal.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs.checks import check_at_least, check_finite
from jaxrl.envs.core import Array, Environment
from jaxrl.envs.registry import register, registered_names

USEFUL, REPEAT, FINISH = 0, 1, 2
ACTION_NAMES = ("useful", "repeat", "finish")


@struct.dataclass
class RepeatedStepParams:
    prm_correct: float = 0.9
    prm_wrong: float = 0.1
    prm_noise: float = 0.0
    success_reward: float = 1.0
    max_steps_in_episode: int = 30


@struct.dataclass
class RepeatedStepState:
    progress: Array  # [] int32 useful steps done
    repeats: Array  # [] int32 unnecessary steps done
    time: Array  # [] int32


class RepeatedStep(Environment):
    """See the module docstring. ``n_required`` is static (it sets the observation size)."""

    def __init__(self, n_required: int = 3):
        super().__init__()
        check_at_least("repeated_step", "n_required", n_required, 1)
        self.n_required = int(n_required)

    @property
    def name(self) -> str:
        return "repeated_step"

    @property
    def num_actions(self) -> int:
        return 3

    @property
    def default_params(self) -> RepeatedStepParams:
        return RepeatedStepParams()

    def get_obs(self, state, params=None, key=None):
        if params is None:
            params = self.default_params
        k = jnp.minimum(state.progress, self.n_required)
        t = state.time.astype(jnp.float32) / params.max_steps_in_episode
        return jnp.concatenate([jax.nn.one_hot(k, self.n_required + 1, dtype=jnp.float32), t[None]])

    def reset_env(self, key, params):
        z = jnp.zeros((), jnp.int32)
        state = RepeatedStepState(progress=z, repeats=z, time=z)
        return self.get_obs(state, params), state

    def step_env(self, key, state, action, params):
        action = jnp.asarray(action, jnp.int32)
        finish = action == FINISH
        success = finish & (state.progress >= self.n_required)
        prm = jnp.where(finish & ~success, params.prm_wrong, params.prm_correct)
        prm = prm + params.prm_noise * jax.random.normal(key, ())
        outcome = jnp.where(success, params.success_reward, 0.0)
        new_state = RepeatedStepState(
            progress=state.progress + (action == USEFUL),
            repeats=state.repeats + (action == REPEAT),
            time=state.time + 1,
        )
        info = {
            "prm_reward": prm.astype(jnp.float32),
            "outcome_reward": outcome.astype(jnp.float32),
            "true_reward": outcome.astype(jnp.float32),
        }
        reward = (prm + outcome).astype(jnp.float32)
        return self.get_obs(new_state, params), new_state, reward, finish, info

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (self.n_required + 2,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(3)

    def check_params(self, params: RepeatedStepParams) -> None:
        """Raises on invalid params: ``prm_noise`` >= 0, finite rewards, ``max_steps_in_episode``
        >= 1. Run by ``make``."""
        for field in ("prm_correct", "prm_wrong", "success_reward"):
            check_finite(self.name, field, getattr(params, field))
        check_at_least(self.name, "prm_noise", params.prm_noise, 0.0, integer=False)
        check_finite(self.name, "prm_noise", params.prm_noise)
        check_at_least(self.name, "max_steps_in_episode", params.max_steps_in_episode, 1)


def make_repeated_step(n_required: int = 3, **params: Any):
    """``make("repeated_step", n_required=3, horizon-and-reward overrides...)``; ``params`` are
    :class:`RepeatedStepParams` fields (e.g. ``max_steps_in_episode=30``, ``prm_noise=0.05``).
    Actions outside ``[0, 3)`` are clipped (debug mode: an error)."""
    fields = list(RepeatedStepParams.__dataclass_fields__)
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(
            f"make('repeated_step'): unknown keyword(s) {unknown}; accepted: n_required and the "
            f"params fields {fields}"
        )
    env = RepeatedStep(n_required)
    return env, env.default_params.replace(**params)


if "repeated_step" not in registered_names():
    register("repeated_step", make_repeated_step)
