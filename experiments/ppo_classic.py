"""PPO on classic control (CartPole-v1, Pendulum-v1): learning curves over many seeds.

    python experiments/ppo_classic.py --profile quick            # ~minutes on a 2-core CPU
    python experiments/ppo_classic.py --profile paper            # GPU-sized budget
    python experiments/ppo_classic.py --profile quick --resume   # continue an interrupted run

Writes one results directory per environment under ``results/ppo_classic/`` (config.json,
provenance.json, metrics.npz with a leading seed axis, DONE); ``paper_figures/ppo_classic.py``
draws the figure from the finished runs.
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp

from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import make
from jaxrl.experiment import Config, ResultsStore, cli, enable_compilation_cache, run_chunked
from jaxrl.shaping import scale

EXPERIMENT = "ppo_classic"


@dataclasses.dataclass(frozen=True)
class PPOClassic(Config):
    seeds: int = 8
    """independent training seeds (one vmapped axis)"""
    seed: int = 0
    """base PRNG seed (give each shard job of a multi-machine sweep its own)"""
    envs: tuple[str, ...] = ("CartPole-v1", "Pendulum-v1")
    """environments to run, each into its own results directory"""
    cartpole_steps: int = 131_072
    """environment steps per seed on CartPole-v1"""
    pendulum_steps: int = 245_760
    """environment steps per seed on Pendulum-v1"""
    num_chunks: int = 16
    """evaluation/checkpoint points per run"""
    results: str = "results"
    """results root directory"""
    resume: bool = False
    """continue the newest unfinished run with the same config from its last checkpoint"""
    shard: bool = False
    """shard the seed axis over all local devices"""

    def check(self) -> None:
        self.require(self.seeds > 0, "seeds", "must be positive")
        known = {"CartPole-v1", "Pendulum-v1"}
        self.require(set(self.envs) <= known, "envs", f"must be a subset of {sorted(known)}")


PRESETS = {
    "quick": PPOClassic(),
    "paper": PPOClassic(seeds=64, cartpole_steps=524_288, pendulum_steps=1_228_800, num_chunks=40),
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
    recorded = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("resume", "results")}
    run_config = {
        "experiment": recorded,
        "env": env_id,
        "static": dataclasses.asdict(static),
        "hparams": jax.tree.map(lambda x: jnp.asarray(x)[0].tolist(), hp._asdict()),
    }
    run = store.create(EXPERIMENT, run_config, resume=cfg.resume)
    keys = jax.random.split(jax.random.key(cfg.seed), cfg.seeds)
    init = jax.jit(jax.vmap(trainer.init))
    chunk = jax.jit(jax.vmap(trainer.chunk))
    print(
        f"[{EXPERIMENT}] {env_id}: {cfg.seeds} seeds x {static.total_timesteps} steps -> {run.path}"
    )
    metrics = run_chunked(
        init,
        chunk,
        keys,
        hp,
        num_chunks=static.num_chunks,
        run=run,
        resume=cfg.resume,
        shard=cfg.shard,
        postfix_metric="eval_return",
    )
    run.mark_done()
    final = metrics["eval_return"][:, -1]
    print(
        f"[{EXPERIMENT}] {env_id}: final eval return mean {final.mean():.1f} "
        f"(min {final.min():.1f}, max {final.max():.1f})"
    )
    return run


def main(argv=None):
    cfg = cli(PRESETS, __doc__, args=argv)
    enable_compilation_cache()
    store = ResultsStore(cfg.results)
    return [run_env(env_id, cfg, store) for env_id in cfg.envs]


if __name__ == "__main__":
    main(sys.argv[1:])
