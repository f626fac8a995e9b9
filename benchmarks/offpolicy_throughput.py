"""Off-policy throughput on gymnax CartPole-v1 (discrete SAC): ours vs rejax, in one run.

rejax's own CartPole SAC setting (rejax ``configs/gymnax/cartpole.yaml``) for both: 5 envs,
replay capacity 10,000, 1,000 warm-up steps, batch 256, 2 gradient updates per vector step, lr 1e-3,
tanh MLP 64x64, gamma 0.99, Polyak 0.95 (tau 0.05), target entropy 0.7 log|A|, 5e4 env steps per
seed. Seeds are ``jax.vmap``-ed inside one ``jax.jit``; each (impl, seeds) configuration runs in a
fresh subprocess of this script so that its peak memory is its own.

    .venv/bin/python benchmarks/offpolicy_throughput.py --seeds 1 8 --total-timesteps 50000
    .venv/bin/python benchmarks/offpolicy_throughput.py --single impl=ours seeds=1  # in-process

Neither timed call evaluates. Measured per configuration: compile time
(``jit(...).lower(...).compile()``), run time of the compiled call (``block_until_ready``; best
of ``--repeats``), env-steps/s (= seeds x executed env steps per seed / run time) and peak memory;
``--rounds`` interleaved rounds, the order rotated each round; the ratio ours / rejax is paired
within a round. Driver, table and JSON: ``_harness.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _harness, _rejax_compat
import _harness  # noqa: E402  (it puts the repository root on sys.path, for jaxrl)

IMPLS = ("ours", "rejax")

# rejax configs/gymnax/cartpole.yaml, "sac".
NUM_ENVS, BUFFER, FILL, BATCH, UPDATES_PER_STEP = 5, 10_000, 1_000, 256, 2
HIDDEN, ACTIVATION = (64, 64), "tanh"
HP = dict(learning_rate=1e-3, gamma=0.99, target_entropy_ratio=0.7)
REJAX_POLYAK = 0.95  # rejax: target <- polyak*target + (1-polyak)*online


def _steps(total_timesteps: int) -> int:
    n = total_timesteps // NUM_ENVS * NUM_ENVS
    if n < FILL + NUM_ENVS:
        raise SystemExit(f"--total-timesteps must exceed the warm-up of {FILL} steps")
    return n


def _ours(impl: str, env, env_params, total_timesteps: int):
    """Our discrete SAC: ``(train, hparams)``. ``train`` is the trainer's ``init`` and one metrics
    ``row`` of every env step and update: what ``trainer(key, hp)`` runs minus its evaluation
    pass, so neither timed call evaluates (rejax's ``eval_callback`` is a no-op)."""
    from jaxrl.agents.sac import SACHParams, SACStatic, make_train

    steps = _steps(total_timesteps)
    static = SACStatic(
        num_envs=NUM_ENVS,
        total_timesteps=steps,
        buffer_capacity=BUFFER,
        batch_size=BATCH,
        learning_starts=FILL,
        train_every=1,
        updates_per_step=UPDATES_PER_STEP,
        log_interval=steps,  # one metrics row: nothing per step leaves the scan
        hidden_sizes=HIDDEN,
        activation=ACTIVATION,
        num_chunks=1,
        eval_channel="env_reward",
    )
    trainer = make_train(static, env, env_params=env_params)

    def train(key, hp):
        return trainer.row(trainer.init(key, hp), hp)

    return train, SACHParams(**HP, tau=1.0 - REJAX_POLYAK)


def _rejax():
    """rejax's SAC with the same settings (no evaluation: see the harness)."""
    from rejax import SAC

    replay = dict(buffer_size=BUFFER, fill_buffer=FILL, batch_size=BATCH)
    agent = {"activation": ACTIVATION, "hidden_layer_sizes": HIDDEN}
    return SAC, dict(
        num_envs=NUM_ENVS,
        num_epochs=UPDATES_PER_STEP,
        polyak=REJAX_POLYAK,
        **replay,
        agent_kwargs=agent,
        **HP,
    )


def _footer(rows, args) -> str:
    steps = rows[0]["env_steps_per_seed"] if rows else _steps(args.total_timesteps)
    return "\n".join(
        [
            f"env-steps/s = seeds x {steps:,} env steps per seed / run s; run s = best of "
            f"{args.repeats} call(s) of the compiled function; compile s = "
            "jit(...).lower(...).compile() wall time.",
            f"Both: discrete SAC on CartPole-v1, {NUM_ENVS} envs, buffer {BUFFER:,}, warm-up "
            f"{FILL:,} env steps, batch {BATCH}, {UPDATES_PER_STEP} updates per vector step "
            f"(~{(steps - FILL) // NUM_ENVS * UPDATES_PER_STEP:,} updates per seed), MLP "
            f"{HIDDEN} {ACTIVATION}, lr {HP['learning_rate']}, tau {1 - REJAX_POLYAK:.2f}, "
            f"target entropy {HP['target_entropy_ratio']} log|A|; no evaluation in the timed call.",
            "Differences: ours samples minibatches uniformly with replacement (rejax: "
            "jax.random.choice without replacement over the whole capacity), takes uniform "
            "random actions during the warm-up (rejax: the initial policy), applies Polyak after "
            "each gradient update (rejax: once per vector step), and bootstraps on truncation "
            "(rejax sees done = terminated | truncated through the FiveTupleEnv shim).",
            "Target (issue 14): ours >= 2x rejax env-steps/s at 1 and 8 seeds.",
        ]
    )


BENCH = _harness.Bench(
    name="offpolicy_throughput",
    script=__file__,
    impls=IMPLS,
    ours=_ours,
    rejax=_rejax,
    steps_per_seed=_steps,
    config={
        "num_envs": NUM_ENVS,
        "buffer_capacity": BUFFER,
        "learning_starts": FILL,
        "batch_size": BATCH,
        "updates_per_step": UPDATES_PER_STEP,
        "hidden_sizes": list(HIDDEN),
        "activation": ACTIVATION,
        "tau": 1 - REJAX_POLYAK,
    },
    hparams=HP,
    rejax_eval=False,
    header={"algorithm": "SAC (discrete)"},
    widths=(6, 4, 10),
    show_x64=False,
)


def main(argv=None) -> int:
    ap = _harness.arg_parser(BENCH, __doc__, seeds=[1, 8], total_timesteps=50_000, rounds=3)
    args = ap.parse_args(argv)
    return _harness.main(BENCH, args, lambda rows: _footer(rows, args))


if __name__ == "__main__":
    sys.exit(main())
