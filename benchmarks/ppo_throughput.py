"""PPO throughput on gymnax CartPole-v1: ours (identity and PBRS transforms), rejax and PureJaxRL.

PureJaxRL's default CartPole hyperparameters, for all four: 4 envs x 128 steps, 4 epochs x 4
minibatches, lr 2.5e-4 (annealed, except rejax, which has no annealing), tanh MLP 64x64 (separate
actor and critic), gamma 0.99, lambda 0.95, clip 0.2, ent 0.01, vf 0.5, grad norm 0.5, 5e5 env
steps per seed. Seeds are ``jax.vmap``-ed inside one ``jax.jit``.

PureJaxRL is its own ``purejaxrl/ppo.py`` (``make_train(config)`` -> ``train(rng)``), imported from
a folder outside this repository: ``--purejaxrl-dir`` or ``$PUREJAXRL_DIR`` (see
``_purejaxrl_compat.py``). Without either it is skipped, with one printed line.

``ours_sharded`` and ``purejaxrl_sharded`` are the same programs with the seeds split over
``--host-devices`` CPU devices of one process (default: the CPU count), the way
``run_chunked(..., shard=True)`` runs an experiment; PureJaxRL's is the control that shows what
the sharding gives any vmapped program. Seed counts that do not split evenly are skipped. They
run only when named in ``--impls``: on the 2-core CPU they were not reliably faster (benchmarks/
README.md).

``--rounds`` interleaved rounds; in each, every (impl, seeds) configuration runs once in a fresh
subprocess of this script (``--single``), the implementations' order rotated by one per round.

    .venv/bin/python benchmarks/ppo_throughput.py --seeds 1 8 32 --purejaxrl-dir ~/purejaxrl
    .venv/bin/python benchmarks/ppo_throughput.py --seeds 256 2048  # on a GPU
    .venv/bin/python benchmarks/ppo_throughput.py --single impl=ours seeds=8  # one config

Measured per configuration and round: compile time (``jit(...).lower(...).compile()`` wall time),
run time of the compiled call (``block_until_ready``; best of ``--repeats``), env-steps/s
(= seeds x executed env steps per seed / run time) and peak memory. No evaluation runs inside any
timed call: ours runs ``init`` then ``num_updates`` x ``update`` (the trainer's ``chunk`` minus its
evaluation pass), rejax's ``eval_callback`` is a no-op, PureJaxRL never evaluates.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _harness, _*_compat
import _harness  # noqa: E402  (it puts the repository root on sys.path, for jaxrl)
import _purejaxrl_compat  # noqa: E402

PUREJAXRL = "purejaxrl"
IMPLS = ("ours", "ours_pbrs", "rejax", PUREJAXRL, "ours_sharded", f"{PUREJAXRL}_sharded")

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
    ``(train, hparams)``. ``train`` is the trainer's ``init`` followed by ``num_updates`` x
    ``update`` in one ``lax.scan``: what ``trainer(key, hp)`` runs with one chunk, minus the
    chunk's evaluation pass (so the timed call does no evaluation, like PureJaxRL's)."""
    import jax

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
    trainer = make_train(static, env, transform=transform, env_params=env_params)

    def train(key, hp):
        rs = trainer.init(key, hp)
        return jax.lax.scan(lambda s, _: trainer.update(s, hp), rs, None, static.num_updates)

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


def _purejaxrl(num_seeds: int, total_timesteps: int):
    """PureJaxRL's ``make_train(config)`` at its CartPole config, ``jax.jit(jax.vmap(train))``."""
    folder = _purejaxrl_compat.resolve_dir(None)  # the parent passes it on in $PUREJAXRL_DIR
    if folder is None:
        raise SystemExit(f"impl={PUREJAXRL} needs --purejaxrl-dir or ${_purejaxrl_compat.ENV_VAR}")
    return _purejaxrl_compat.build(num_seeds, _steps_per_seed(total_timesteps), folder)


def _footer(rows, args) -> str:
    steps = rows[0]["env_steps_per_seed"] if rows else _steps_per_seed(args.total_timesteps)
    return "\n".join(
        [
            f"env-steps/s = seeds x {steps:,} executed env steps per seed "
            f"({steps // (NUM_ENVS * NUM_STEPS)} updates x {NUM_ENVS} envs x {NUM_STEPS} steps)"
            f" / run s; run s = best of {args.repeats} call(s) of the compiled function in the "
            "configuration's subprocess; compile s = jit(...).lower(...).compile() wall time; "
            "median [min-max] over rounds; ratios are paired within a round.",
            "No evaluation in any timed call: ours = init + num_updates x update (the chunk's "
            "evaluation pass left out); rejax 0.1.3 with a no-op eval_callback; PureJaxRL's "
            "train(rng) never evaluates.",
            "Outputs of the timed call: ours, per-update metrics; rejax, the train state; "
            "PureJaxRL, its per-step info (returned_episode_returns etc.) of every update.",
            "rejax and PureJaxRL see gymnax 1.0 through a 5-tuple shim (done = terminated | "
            "truncated). rejax has no LR annealing and clips gradients element-wise "
            "(optax.clip), not by global norm.",
            "PBRS/identity run time = ours env-steps/s / ours_pbrs env-steps/s (Phi = -|pole "
            "angle|).",
            f"*_sharded: the same program with its seeds split over {args.host_devices} CPU "
            "devices of one process (jax_num_cpu_devices; jit partitions the vmapped seed axis, "
            "each device runs its seeds on its own thread); PureJaxRL_sharded is PureJaxRL's "
            "unchanged train(rng) placed the same way, the control for what sharding alone gives.",
            "peak MB: CPU = ru_maxrss of the configuration's own subprocess (includes JAX/XLA "
            "runtime and compilation); GPU = peak_bytes_in_use.",
        ]
    )


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
        "evaluation_in_timed_call": "none (ours, rejax, PureJaxRL)",
    },
    hparams=HP,
    peers={PUREJAXRL: _purejaxrl},
    rejax_eval=False,
    default_impls=IMPLS[:4],  # the *_sharded ones on request (--impls), see the module doc
    ratios=(
        ("ours / PureJaxRL", "ours", PUREJAXRL),
        ("ours / rejax", "ours", "rejax"),
        ("ours_pbrs / PureJaxRL", "ours_pbrs", PUREJAXRL),
        ("PBRS / identity run time", "ours", "ours_pbrs"),
        ("ours_sharded / PureJaxRL", "ours_sharded", PUREJAXRL),
        ("ours_sharded / PureJaxRL_sharded", "ours_sharded", f"{PUREJAXRL}_sharded"),
        ("ours_sharded / ours", "ours_sharded", "ours"),
    ),
)


def main(argv=None) -> int:
    ap = _harness.arg_parser(
        BENCH,
        __doc__,
        seeds=[1, 8, 32],
        total_timesteps=500_000,
        timesteps_help="env steps per seed (rounded down to whole 512-step updates)",
        single_help="run one configuration in this process and print its JSON row",
        rounds=3,
    )
    ap.add_argument(
        "--purejaxrl-dir",
        default=None,
        help=f"folder of a PureJaxRL clone (default ${_purejaxrl_compat.ENV_VAR}); "
        "without one, PureJaxRL is skipped",
    )
    args = ap.parse_args(argv)
    bench = BENCH
    if not args.single:
        folder = _purejaxrl_compat.resolve_dir(args.purejaxrl_dir)
        if folder is None:
            if PUREJAXRL in args.impls:
                print(
                    f"PureJaxRL skipped: no --purejaxrl-dir and ${_purejaxrl_compat.ENV_VAR} "
                    "unset (point it at a clone of luchris429/purejaxrl).",
                    flush=True,
                )
            args.impls = [i for i in args.impls if not i.startswith(PUREJAXRL)]
        else:
            os.environ[_purejaxrl_compat.ENV_VAR] = str(folder)  # for the subprocesses
            header = {"purejaxrl_dir": str(folder)}
            bench = dataclasses.replace(BENCH, header=header)
    elif args.purejaxrl_dir is not None:
        os.environ[_purejaxrl_compat.ENV_VAR] = args.purejaxrl_dir
    return _harness.main(bench, args, lambda rows: _footer(rows, args))


if __name__ == "__main__":
    sys.exit(main())
