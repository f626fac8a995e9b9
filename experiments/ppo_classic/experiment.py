"""PPO on classic control (CartPole-v1, Pendulum-v1): learning curves over many seeds.

    python -m experiments.ppo_classic --profile quick            # ~minutes on a 2-core CPU
    python -m experiments.ppo_classic --profile paper            # GPU-sized budget
    python -m experiments.ppo_classic --profile quick --resume   # continue an interrupted run

Writes one results directory per environment under ``results/ppo_classic/`` (config.json,
provenance.json, metrics.npz with a leading seed axis, DONE);
``python -m paper_figures.ppo_classic``
draws the figure from the finished runs.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from experiments.ppo_classic.schema import SCHEMA
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import make
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.sweep import (
    SeededSweep,
    grid_keys,
    open_run,
    print_final,
    run_sweep,
    sweep_cli,
)
from jaxrl.shaping import scale

EXPERIMENT = "ppo_classic"


@dataclasses.dataclass(frozen=True)
class PPOClassic(SeededSweep):
    seeds: int = 8
    """independent training seeds (one vmapped axis)"""
    envs: tuple[str, ...] = ("CartPole-v1", "Pendulum-v1")
    """environments to run, each into its own results directory"""
    cartpole_steps: int = 131_072
    """environment steps per seed on CartPole-v1"""
    pendulum_steps: int = 262_144
    """environment steps per seed on Pendulum-v1"""
    num_chunks: int = 16
    """evaluation/checkpoint points per run"""

    def check(self) -> None:
        super().check()
        known = {"CartPole-v1", "Pendulum-v1"}
        self.require(set(self.envs) <= known, "envs", f"must be a subset of {sorted(known)}")
        self.check_positive("cartpole_steps", "pendulum_steps", "num_chunks")


PRESETS = {
    "quick": PPOClassic(),
    "paper": PPOClassic(seeds=64, cartpole_steps=524_288, pendulum_steps=1_310_720, num_chunks=32),
}


def setup(env_id: str, cfg: PPOClassic):
    """(static, hparams, transform) for one environment: PureJaxRL's settings for CartPole; a
    tuned continuous setting for Pendulum (rewards scaled by 0.1 through the transform hook)."""
    if env_id == "CartPole-v1":
        static = PPOStatic(
            num_envs=4, num_steps=128, total_timesteps=cfg.cartpole_steps, num_chunks=cfg.num_chunks
        )
        return static, PPOHParams(), None
    static = PPOStatic(
        num_envs=16,
        num_steps=128,
        total_timesteps=cfg.pendulum_steps,
        update_epochs=10,
        num_minibatches=8,
        num_chunks=cfg.num_chunks,
    )
    hp = PPOHParams(learning_rate=1e-3, gamma=0.95, ent_coef=0.0, transform=jnp.asarray(0.1))
    return static, hp, scale(0.1)


def run_env(env_id: str, cfg: PPOClassic, store: ResultsStore):
    static, hp, transform = setup(env_id, cfg)
    env, env_params = make(env_id)
    trainer = make_train(static, env, transform, env_params)
    hp = trainer.check(hp).broadcast(cfg.seeds)
    # What determines the numbers (not where they go or whether this is a resume).
    run_config = {
        "experiment": cfg.recorded(),
        "env": env_id,
        "static": dataclasses.asdict(static),
        "hparams": jax.tree.map(lambda x: jnp.asarray(x)[0].tolist(), hp._asdict()),
    }
    label = f"{env_id}: {cfg.seeds} seeds x {static.total_timesteps} steps"
    run = open_run(store, EXPERIMENT, run_config, cfg, label)
    keys = grid_keys(cfg.seed, cfg.seeds)
    metrics = run_sweep(cfg, run, trainer, keys, hp, postfix_metric="eval_return", schema=SCHEMA)
    run.mark_done()
    final = metrics["eval_return"][:, -1]
    print_final(f"[{EXPERIMENT}] {env_id}", final, "eval return")
    return run


def main(argv=None):
    cfg, store = sweep_cli(PRESETS, __doc__, argv)
    return [run_env(env_id, cfg, store) for env_id in cfg.envs]
