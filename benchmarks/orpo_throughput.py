"""Throughput of ORPO (method "om": two rollouts + discriminator) relative to plain PPO on tomato.

    python benchmarks/orpo_throughput.py [--seeds 4] [--steps 32768] [--repeats 2]

Same static settings for both (the quick profile of experiments/orpo_tomato.py), a few seeds
vmapped in one jit; the compile is excluded (one warm-up call), then the best of ``repeats``
timed calls. Env steps count the learner's steps only (ORPO also rolls out the reference policy
for as many steps), so the ratio is ORPO's cost per learner step. Target: ≤ 2.5×.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxrl.agents.orpo import ORPOStatic, make_orpo
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import make


def bench(method: str, seeds: int, steps: int, repeats: int) -> float:
    env, params = make("tomato", level=4, reward_factor=0.02)
    static = PPOStatic(
        num_envs=16,
        num_steps=128,
        total_timesteps=steps,
        update_epochs=8,
        num_minibatches=8,
        hidden_sizes=(64, 64),
        num_chunks=1,
        num_eval_envs=4,
    )
    orpo = ORPOStatic(method=method, divergence="sqrt_chi2", disc_hidden=(64, 64), disc_epochs=8)
    from jaxrl.agents.ppo import make_train

    ref = make_train(static, env, None, params).network.init(jax.random.key(1), jnp.zeros(36))
    trainer = make_orpo(static, orpo, env, ref, None, params)
    hp = PPOHParams(learning_rate=1e-3, clip_eps=0.05, aux_coef=0.01).broadcast(seeds)
    keys = jax.random.split(jax.random.key(0), seeds)
    init, chunk = jax.jit(jax.vmap(trainer.init)), jax.jit(jax.vmap(trainer.chunk))
    state = init(keys, hp)
    jax.block_until_ready(chunk(state, hp))  # compile
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(chunk(state, hp))
        best = min(best, time.perf_counter() - t)
    return seeds * static.num_updates * static.batch_size / best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=32768)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    rates = {m: bench(m, args.seeds, args.steps, args.repeats) for m in ("none", "om")}
    print(
        f"tomato level 4, {args.seeds} seeds vmapped, {args.steps} learner steps per seed, "
        f"backend {jax.default_backend()}"
    )
    print("| method | learner env-steps/s | time per step (µs) |")
    print("|---|---|---|")
    for m, r in rates.items():
        print(f"| {m} | {r:,.0f} | {1e6 / r:.2f} |")
    ratio = rates["none"] / rates["om"]
    print(
        f"ORPO (om) time per step = {ratio:.2f}× plain PPO (target ≤ 2.5×): "
        f"{'OK' if ratio <= 2.5 else 'ABOVE TARGET'}"
    )
    return rates, ratio


if __name__ == "__main__":
    main()
