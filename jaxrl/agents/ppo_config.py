"""PPO configuration: a hashable static part and a vmappable hyperparameter pytree (rejax split)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.experiment.config import Config


@dataclass(frozen=True)
class PPOStatic(Config):
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

    def check(self) -> None:
        for name in (
            "num_envs",
            "num_steps",
            "total_timesteps",
            "update_epochs",
            "num_minibatches",
            "num_chunks",
            "num_eval_envs",
        ):
            self.require(getattr(self, name) > 0, name, "must be positive")
        self.require(self.eval_steps >= 0, "eval_steps", "must be >= 0")
        self.require(
            self.batch_size % self.num_minibatches == 0,
            "num_minibatches",
            f"does not divide the batch num_envs*num_steps={self.batch_size}",
        )
        self.require(
            self.num_updates >= self.num_chunks and self.num_updates % self.num_chunks == 0,
            "num_chunks",
            f"must divide the number of updates {self.num_updates} "
            "(= total_timesteps // (num_envs*num_steps))",
        )


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
    aux_coef: Any = 0.0
    """coefficient of an agent's extra term (ORPO's occupancy λ, the action-divergence β)"""

    def broadcast(self, n: int) -> PPOHParams:
        """Give every leaf a leading axis of size ``n`` (leaves already ``[n, ...]`` are kept), so
        ``jax.vmap(train)(keys, hp.broadcast(n))`` sweeps whichever leaves differ."""

        def lead(x):
            x = jnp.asarray(x)
            return x if x.ndim and x.shape[0] == n else jnp.broadcast_to(x, (n, *x.shape))

        return jax.tree.map(lead, self)

    def check(self) -> PPOHParams:
        """Raise ``ValueError`` naming a bad value; call on concrete values before ``jit``."""
        bounds = {
            "learning_rate": (0.0, None),
            "gamma": (0.0, 1.0),
            "gae_lambda": (0.0, 1.0),
            "clip_eps": (0.0, None),
            "ent_coef": (None, None),
            "vf_coef": (0.0, None),
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
