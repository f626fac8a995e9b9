"""The static config of the off-policy agents (TD3, SAC, SAM): shapes, counts, time structure.

See :mod:`jaxrl.agents.offpolicy_common` for what a round, a row and a chunk are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jaxrl.agents.eval_config import EvalConfig


@dataclass(frozen=True)
class OffPolicyStatic(EvalConfig):
    """Shapes and counts shared by TD3 and SAC (closed over; changing one recompiles)."""

    num_envs: int = 1
    """parallel environments per seed"""
    total_timesteps: int = 100_000
    """environment steps per seed (all envs together)"""
    buffer_capacity: int = 100_000
    """replay capacity in transitions per seed; explicit, never derived from total_timesteps"""
    batch_size: int = 256
    """minibatch size of each gradient update"""
    learning_starts: int = 1_000
    """warm-up: env steps (per seed) of uniform random actions before the first update"""
    train_every: int = 1
    """vector-env steps collected per training round"""
    updates_per_step: int = 1
    """gradient updates per training round (replay ratio = this / (num_envs·train_every))"""
    log_interval: int = 1_000
    """env steps per metrics row (rounded down to whole rounds)"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: Literal["tanh", "relu", "gelu"] = "relu"
    store_channels: tuple[str, ...] = ()
    """``info`` reward channels also stored in the buffer (``ReplayTransition.channels``)"""
    layer_norm: bool = False
    """LayerNorm after every hidden Dense of the actor and the critics (SAM paper's networks)"""
    n_step: int = 1
    """critic targets are n-step returns (SAM: 10), cut at episode ends
    (:mod:`jaxrl.agents.nstep`); 1 is the one-step target"""
    absorbing: bool = False
    """DAC absorbing states (Kostrikov et al. 2019): a true terminal bootstraps from a learned
    absorbing self-loop instead of 0 (:mod:`jaxrl.agents.absorbing`); truncation is unaffected"""
    # EvalConfig fields re-declared for their help text (their position stays EvalConfig's)
    num_chunks: int = 1
    """evaluation (and checkpoint) points: the run is ``num_chunks`` equal chunks of rows"""
    deterministic_eval: bool = True
    """evaluate the policy's mode (True) or sample from it (False; TD3 is always deterministic)"""

    @property
    def steps_per_round(self) -> int:
        return self.num_envs * self.train_every

    @property
    def rounds_per_row(self) -> int:
        return self.log_interval // self.steps_per_round

    @property
    def num_rows(self) -> int:
        """Metric rows ("updates" in the runner's vocabulary) in the whole run."""
        return self.total_timesteps // (self.rounds_per_row * self.steps_per_round)

    @property
    def rows_per_chunk(self) -> int:
        return self.num_rows // self.num_chunks

    @property
    def env_steps_per_seed(self) -> int:
        """Env steps actually executed per seed (``total_timesteps`` rounded down)."""
        return self.num_rows * self.rounds_per_row * self.steps_per_round

    def check(self) -> None:
        self.require_positive(
            "num_envs",
            "total_timesteps",
            "buffer_capacity",
            "batch_size",
            "train_every",
            "updates_per_step",
            "log_interval",
        )
        super().check()  # num_chunks, num_eval_envs, eval_steps
        self.require_sizes("hidden_sizes")
        self.require(self.n_step >= 1, "n_step", "must be >= 1 (1: one-step targets)")
        self.require(self.learning_starts >= 0, "learning_starts", "must be >= 0")
        self.require(
            self.buffer_capacity >= self.num_envs,
            "buffer_capacity",
            f"must hold at least one vector step (num_envs={self.num_envs})",
        )
        self.require(
            self.log_interval >= self.steps_per_round,
            "log_interval",
            f"must be >= num_envs*train_every = {self.steps_per_round}",
        )
        rows = self.total_timesteps // (max(self.rounds_per_row, 1) * self.steps_per_round)
        self.require(
            rows >= self.num_chunks and rows % self.num_chunks == 0,
            "num_chunks",
            f"must divide the number of metric rows {rows} "
            "(= total_timesteps // (log_interval rounded to whole rounds))",
        )
