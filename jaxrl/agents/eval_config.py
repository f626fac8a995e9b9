"""Chunking and evaluation settings shared by the deep-RL agents' static configs (PPO, TD3, SAC)."""

from __future__ import annotations

from dataclasses import dataclass

import jax

from jaxrl.config import Config


@dataclass(frozen=True)
class EvalConfig(Config):
    """The run is ``num_chunks`` equal chunks, each followed by one evaluation: the mean
    first-episode return of ``eval_channel`` over ``num_eval_envs`` environments whose keys are
    fixed by ``eval_seed``.

    Subclasses add their own fields (after these, in ``dataclasses.fields`` order) and extend
    :meth:`check` with ``super().check()``.
    """

    num_chunks: int = 1
    """evaluation (and checkpoint) points: the run is ``num_chunks`` equal chunks of updates"""
    num_eval_envs: int = 8
    eval_steps: int = 0
    """steps per evaluation rollout; 0 means the environment's ``max_steps_in_episode``"""
    deterministic_eval: bool = True
    """evaluate the policy's mode (True) or sample from it (False)"""
    eval_channel: str = "true_reward"
    """reward channel whose first-episode return the evaluation reports"""
    eval_seed: int = 12345
    """fixed evaluation keys, shared across training seeds (common random numbers)"""

    def require_positive(self, *names: str) -> None:
        """:meth:`require` ``> 0`` of each named field, in order."""
        for name in names:
            self.require(getattr(self, name) > 0, name, "must be positive")

    def require_sizes(self, *names: str) -> None:
        """:meth:`require` every layer width of each named ``tuple[int, ...]`` field ``> 0``."""
        for name in names:
            self.require(all(h > 0 for h in getattr(self, name)), name, "layer sizes must be > 0")

    def check(self) -> None:
        self.require_positive("num_chunks", "num_eval_envs")
        self.require(self.eval_steps >= 0, "eval_steps", "must be >= 0")

    def eval_length(self, env_params) -> int:
        """Steps per evaluation rollout (``eval_steps``, or the episode limit when 0)."""
        return self.eval_steps or int(env_params.max_steps_in_episode)

    def eval_keys(self) -> jax.Array:
        """``[num_eval_envs]`` fixed evaluation keys."""
        return jax.random.split(jax.random.key(self.eval_seed), self.num_eval_envs)
