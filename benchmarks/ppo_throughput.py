"""PPO throughput on gymnax CartPole-v1: ours (identity and PBRS transforms) vs rejax.

PureJaxRL's default CartPole hyperparameters: 4 envs x 128 steps, 4 epochs x 4 minibatches,
lr 2.5e-4 (annealed in ours), tanh MLP 64x64 (separate actor and critic), gamma 0.99, lambda 0.95,
clip 0.2, ent 0.01, vf 0.5, grad norm 0.5, 5e5 env steps per seed. Seeds are ``jax.vmap``-ed inside
one ``jax.jit``.

Each (impl, seeds) configuration runs in a fresh subprocess of this script so that its peak memory
(CPU: ``ru_maxrss``, which is process-wide and monotone; GPU: ``peak_bytes_in_use``) is its own.

    .venv/bin/python benchmarks/ppo_throughput.py --seeds 1 8 32 --total-timesteps 500000 \
        --repeats 1
    .venv/bin/python benchmarks/ppo_throughput.py --seeds 256 2048  # on a GPU
    .venv/bin/python benchmarks/ppo_throughput.py --single impl=ours seeds=8  # one config

Measured per configuration: compile time (``jit(...).lower(...).compile()`` wall time), run time of
the compiled call (``block_until_ready``; best of ``--repeats``), env-steps/s
(= seeds x executed env steps per seed / run time) and peak memory.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _harness, _rejax_compat
import _harness  # noqa: E402  (it puts the repository root on sys.path, for jaxrl)

IMPLS = ("ours", "ours_pbrs", "rejax")

# PureJaxRL defaults for CartPole-v1.
NUM_ENVS, NUM_STEPS, EPOCHS, MINIBATCHES = 4, 128, 4, 4
HP = dict(
    learning_rate=2.5e-4,
    gamma=0.99,
    gae_lambda=0.95,
    clip_eps=0.2,
    ent_coef=0.01,
    vf_coef=0.5,
    max_grad_norm=0.5,
)

# Reference figures measured on a 2-core CPU of the kind this project develops on.
REFERENCE = {
    "purejaxrl": {"1": 250e3, "32": 288e3, "compile_s": 4.0},
    "rejax": {"1": 231e3, "32": 239e3},
    "targets": (
        "ours >= 1.2x rejax throughput at 32 seeds; compile <= 5 s; PBRS <= 1.3x identity time"
    ),
}


# --------------------------------------------------------------------------------------------
# the implementations (built inside each configuration's subprocess, see _harness.py)
# --------------------------------------------------------------------------------------------


def pole_angle_pbrs():
    """Potential-based shaping with Phi(s) = -|pole angle|: r + discount*Phi(s') - Phi(s).

    ``discount`` is already gamma*(1 - terminated), so Phi of a terminal state counts as 0.
    """
    import jax.numpy as jnp

    from jaxrl.shaping.transform import RewardTransform

    phi = lambda obs: -jnp.abs(obs[..., 2])

    def apply(params, state, tr):
        del params
        return tr.reward + tr.discount * phi(tr.next_obs) - phi(tr.obs), state

    return RewardTransform(lambda params: (), apply, ())


def _num_updates(total_timesteps: int) -> int:
    n = total_timesteps // (NUM_ENVS * NUM_STEPS)
    if n < 1:
        raise SystemExit(f"--total-timesteps must be >= {NUM_ENVS * NUM_STEPS}")
    return n


def _steps_per_seed(total_timesteps: int) -> int:
    return _num_updates(total_timesteps) * NUM_ENVS * NUM_STEPS


def _ours(impl: str, env, env_params, total_timesteps: int):
    """Our PPO with the identity (``ours``) or the PBRS (``ours_pbrs``) transform:
    ``(train, hparams)``."""
    from jaxrl.agents.ppo import make_train
    from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
    from jaxrl.shaping.transform import identity

    static = PPOStatic(
        num_envs=NUM_ENVS,
        num_steps=NUM_STEPS,
        total_timesteps=total_timesteps,
        update_epochs=EPOCHS,
        num_minibatches=MINIBATCHES,
        hidden_sizes=(64, 64),
        activation="tanh",
        anneal_lr=True,
        num_chunks=1,
        eval_channel="env_reward",
    )
    transform = identity() if impl == "ours" else pole_angle_pbrs()
    train = make_train(static, env, transform=transform, env_params=env_params)
    return train, PPOHParams(**HP, transform=transform.default_params)


def _rejax():
    """rejax's PPO with the same settings; the harness runs exactly num_updates iterations."""
    from rejax import PPO

    agent = {"activation": "tanh", "hidden_layer_sizes": (64, 64)}
    return PPO, dict(
        num_envs=NUM_ENVS,
        num_steps=NUM_STEPS,
        num_epochs=EPOCHS,
        num_minibatches=MINIBATCHES,
        agent_kwargs=agent,
        **HP,
    )


def _footer(rows, args) -> str:
    lines = []
    for r in rows:
        if r["pbrs_overhead"] is not None:
            lines.append(
                f"PBRS overhead at {r['seeds']} seeds: pbrs run / identity run = "
                f"{r['pbrs_overhead']:.2f}x (target <= 1.3x)"
            )
    steps = rows[0]["env_steps_per_seed"] if rows else _num_updates(args.total_timesteps) * 512
    lines += [
        f"env-steps/s = seeds x {steps:,} executed env steps per seed "
        f"({steps // (NUM_ENVS * NUM_STEPS)} updates x {NUM_ENVS} envs x {NUM_STEPS} steps)"
        " / run s;"
        f" run s = best of {args.repeats} call(s) of the compiled function; compile s = "
        "jit(...).lower(...).compile() wall time.",
        "ours / ours_pbrs: num_chunks=1, one evaluation at the end (8 envs x 500 steps).",
        "rejax 0.1.3: eval_freq = total_timesteps and skip_initial_evaluation=True, so it "
        "evaluates once, at the end (128 episodes, <= 500 steps each); gymnax-1.0 env via a "
        "5-tuple shim "
        "(done = terminated | truncated). rejax has no LR annealing and clips gradients "
        "element-wise (optax.clip), not by global norm.",
        "peak MB: CPU = ru_maxrss of the configuration's own subprocess (includes JAX/XLA runtime "
        "and compilation); GPU = peak_bytes_in_use.",
        "Reference, 2-core CPU of this kind: PureJaxRL 250k env-steps/s at 1 seed, 288k at 32 "
        "seeds (compile ~4 s); rejax 231k and 239k.",
        "Targets: ours >= 1.2x rejax at 32 seeds; compile <= 5 s; PBRS <= 1.3x identity time.",
    ]
    return "\n".join(lines)


def _pbrs_overhead(row, by) -> dict:
    base = by.get(("ours", row["seeds"]))
    overhead = row["run_s"] / base["run_s"] if row["impl"] == "ours_pbrs" and base else None
    return {"pbrs_overhead": overhead}


BENCH = _harness.Bench(
    name="ppo_throughput",
    script=__file__,
    impls=IMPLS,
    ours=_ours,
    rejax=_rejax,
    steps_per_seed=_steps_per_seed,
    config={
        "num_envs": NUM_ENVS,
        "num_steps": NUM_STEPS,
        "update_epochs": EPOCHS,
        "num_minibatches": MINIBATCHES,
        "hidden_sizes": [64, 64],
        "activation": "tanh",
    },
    hparams=HP,
    reference=REFERENCE,
    annotate=_pbrs_overhead,
)


def main(argv=None) -> int:
    args = _harness.arg_parser(
        BENCH,
        __doc__,
        seeds=[1, 8, 32],
        total_timesteps=500_000,
        timesteps_help="env steps per seed (rounded down to whole 512-step updates)",
        single_help="run one configuration in this process and print its JSON row",
    ).parse_args(argv)
    return _harness.main(BENCH, args, lambda rows: _footer(rows, args))


if __name__ == "__main__":
    sys.exit(main())
