"""PPO configuration: a hashable static part and a vmappable hyperparameter pytree (rejax split)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from jaxrl.agents.eval_config import EvalConfig
from jaxrl.agents.hparams import (
    BASE_BOUNDS,
    NONNEGATIVE,
    PROBABILITY,
    broadcast_hparams,
    check_hparams,
)


@dataclass(frozen=True)
class PPOStatic(EvalConfig):
    """Shapes and counts, closed over by ``make_train`` (changing one recompiles); the chunking
    and evaluation fields come from :class:`~jaxrl.agents.eval_config.EvalConfig`."""

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
        self.require_positive(
            "num_envs", "num_steps", "total_timesteps", "update_epochs", "num_minibatches"
        )
        super().check()  # num_chunks, num_eval_envs, eval_steps
        self.require_sizes("hidden_sizes")
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

    broadcast = broadcast_hparams

    def check(self) -> PPOHParams:
        """Raise ``ValueError`` naming a bad value; call on concrete values before ``jit``."""
        bounds = {
            **BASE_BOUNDS,
            "gae_lambda": PROBABILITY,
            "clip_eps": PROBABILITY,
            "ent_coef": NONNEGATIVE,
            "vf_coef": NONNEGATIVE,
            "max_grad_norm": (0.0, None),
            "aux_coef": NONNEGATIVE,  # ORPO's λ, the action-divergence β, RLHF's KL coefficients
        }
        return check_hparams(self, bounds, positive=("learning_rate", "max_grad_norm"))
