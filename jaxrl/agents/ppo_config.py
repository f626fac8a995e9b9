"""PPO configuration: a hashable static part and a vmappable hyperparameter pytree (rejax split)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

import jax.numpy as jnp


@dataclass(frozen=True)
class PPOStatic:
    """Shapes and counts, closed over by ``make_train`` (changing one recompiles)."""

    num_envs: int = 4
    """parallel environments per seed"""
    num_steps: int = 128
    """rollout length per update"""
    total_timesteps: int = 500_000
    """environment steps per seed"""
    update_epochs: int = 4
    num_minibatches: int = 4
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: Literal["tanh", "relu", "gelu"] = "tanh"
    anneal_lr: bool = True
    """linear decay of the learning rate to 0 over the run"""
    clip_value_loss: bool = True
    continuous_squash: Literal["clip", "tanh"] = "clip"
    normalize_obs: bool = False
    """running mean/std observation normalisation (useful for Brax)"""
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

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    @property
    def updates_per_chunk(self) -> int:
        return self.num_updates // self.num_chunks

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"PPOStatic.{f.name} must be an int, got {value!r}")
            if f.type in ("bool", bool) and not isinstance(value, bool):
                raise TypeError(f"PPOStatic.{f.name} must be a bool, got {value!r}")
        for name in ("num_envs", "num_steps", "total_timesteps", "update_epochs",
                     "num_minibatches", "num_chunks", "num_eval_envs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"PPOStatic.{name} must be positive, got {getattr(self, name)}")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"PPOStatic.num_minibatches={self.num_minibatches} does not divide the batch "
                f"num_envs*num_steps={self.batch_size}"
            )
        if self.num_updates < self.num_chunks or self.num_updates % self.num_chunks:
            raise ValueError(
                f"PPOStatic.num_chunks={self.num_chunks} must divide the number of updates "
                f"{self.num_updates} (= total_timesteps // (num_envs*num_steps))"
            )
        if self.continuous_squash not in ("clip", "tanh"):
            raise ValueError(f"PPOStatic.continuous_squash={self.continuous_squash!r}")
        if self.activation not in ("tanh", "relu", "gelu"):
            raise ValueError(f"PPOStatic.activation={self.activation!r}")


class PPOHParams(NamedTuple):
    """Traced hyperparameters: every leaf may carry a leading vmap axis."""

    learning_rate: Any = 2.5e-4
    gamma: Any = 0.99
    gae_lambda: Any = 0.95
    clip_eps: Any = 0.2
    ent_coef: Any = 0.01
    vf_coef: Any = 0.5
    max_grad_norm: Any = 0.5
    transform: Any = ()
    """the reward transform's params pytree (e.g. a shaping coefficient)"""

    def check(self) -> PPOHParams:
        """Raise ``ValueError`` naming a bad value; call on concrete values before ``jit``."""
        bounds = {
            "learning_rate": (0.0, None), "gamma": (0.0, 1.0), "gae_lambda": (0.0, 1.0),
            "clip_eps": (0.0, None), "ent_coef": (None, None), "vf_coef": (0.0, None),
            "max_grad_norm": (0.0, None),
        }
        for name, (lo, hi) in bounds.items():
            value = jnp.asarray(getattr(self, name))
            if not bool(jnp.all(jnp.isfinite(value))):
                raise ValueError(f"PPOHParams.{name} is not finite: {value}")
            if lo is not None and bool(jnp.any(value < lo)):
                raise ValueError(f"PPOHParams.{name} must be >= {lo}, got {value}")
            if hi is not None and bool(jnp.any(value > hi)):
                raise ValueError(f"PPOHParams.{name} must be <= {hi}, got {value}")
        if bool(jnp.any(jnp.asarray(self.learning_rate) <= 0)):
            raise ValueError(f"PPOHParams.learning_rate must be > 0, got {self.learning_rate}")
        return self
