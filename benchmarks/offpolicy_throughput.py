"""Off-policy throughput on gymnax CartPole-v1 (discrete SAC): ours vs rejax, in one run.

rejax's own CartPole SAC setting (rejax ``configs/gymnax/cartpole.yaml``) for both: 5 envs,
replay capacity 10,000, 1,000 warm-up steps, batch 256, 2 gradient updates per vector step, lr 1e-3,
tanh MLP 64x64, gamma 0.99, Polyak 0.95 (tau 0.05), target entropy 0.7 log|A|, 5e4 env steps per
seed. Seeds are ``jax.vmap``-ed inside one ``jax.jit``; each (impl, seeds) configuration runs in a
fresh subprocess of this script so that its peak memory is its own.

    .venv/bin/python benchmarks/offpolicy_throughput.py --seeds 1 8 --total-timesteps 50000
    .venv/bin/python benchmarks/offpolicy_throughput.py --single impl=ours seeds=1  # in-process

Measured per configuration: compile time (``jit(...).lower(...).compile()``), run time of the
compiled call (``block_until_ready``; best of ``--repeats``), env-steps/s (= seeds x executed env
steps per seed / run time) and peak memory. Table and helpers follow ``ppo_throughput.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
for _p in (str(_HERE), str(_ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from ppo_throughput import (  # noqa: E402
    _atomic_write_json,
    _device_info,
    _device_peak_bytes,
    _git_rev,
    _parse_single,
    _table,
    _versions,
)

IMPLS = ("ours", "rejax")
RESULT_TAG = "@@OFFPOLICY_THROUGHPUT_RESULT@@"

# rejax configs/gymnax/cartpole.yaml, "sac".
NUM_ENVS, BUFFER, FILL, BATCH, UPDATES_PER_STEP = 5, 10_000, 1_000, 256, 2
HIDDEN, ACTIVATION = (64, 64), "tanh"
HP = dict(learning_rate=1e-3, gamma=0.99, target_entropy_ratio=0.7)
REJAX_POLYAK = 0.95  # rejax: target <- polyak*target + (1-polyak)*online

REFERENCE = {
    "rejax_sac_cartpole_1seed": 5.2e3,
    "targets": "ours >= 2x rejax env-steps/s at equal settings",
}


def _steps(total_timesteps: int) -> int:
    n = total_timesteps // NUM_ENVS * NUM_ENVS
    if n < FILL + NUM_ENVS:
        raise SystemExit(f"--total-timesteps must exceed the warm-up of {FILL} steps")
    return n


def _build(impl: str, num_seeds: int, total_timesteps: int):
    """Return ``(jitted_fn, args)`` for one implementation and seed count."""
    import gymnax
    import jax

    env, env_params = gymnax.make("CartPole-v1")
    keys = jax.random.split(jax.random.key(0), num_seeds)
    steps = _steps(total_timesteps)

    if impl == "ours":
        from jaxrl.agents.sac import SACHParams, SACStatic, make_train

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
        train = make_train(static, env, env_params=env_params)
        hp = SACHParams(**HP, tau=1.0 - REJAX_POLYAK)
        return jax.jit(jax.vmap(train, in_axes=(0, None))), (keys, hp)

    if impl == "rejax":
        from _rejax_compat import FiveTupleEnv
        from rejax import SAC

        algo = SAC.create(
            env=FiveTupleEnv(env),
            env_params=env_params,
            num_envs=NUM_ENVS,
            buffer_size=BUFFER,
            fill_buffer=FILL,
            batch_size=BATCH,
            num_epochs=UPDATES_PER_STEP,
            total_timesteps=steps,
            eval_freq=steps,  # one evaluation, at the end
            skip_initial_evaluation=True,
            polyak=REJAX_POLYAK,
            agent_kwargs={"activation": ACTIVATION, "hidden_layer_sizes": HIDDEN},
            **HP,
        )
        return jax.jit(jax.vmap(type(algo).train, in_axes=(None, 0))), (algo, keys)

    raise ValueError(f"unknown impl {impl!r}; expected one of {IMPLS}")


def run_single(impl: str, num_seeds: int, total_timesteps: int, repeats: int) -> dict:
    import jax

    rss_import_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fn, args = _build(impl, num_seeds, total_timesteps)
    t0 = time.perf_counter()
    lowered = fn.lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    run_times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        run_times.append(time.perf_counter() - t)
    steps = _steps(total_timesteps)
    run_s = min(run_times)
    peak_dev = _device_peak_bytes()
    return {
        "impl": impl,
        "seeds": num_seeds,
        "total_timesteps": total_timesteps,
        "env_steps_per_seed": steps,
        "trace_s": t1 - t0,
        "compile_s": t2 - t0,
        "run_s": run_s,
        "run_s_all": run_times,
        "env_steps_per_s": num_seeds * steps / run_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_import_mb": rss_import_mb,
        "device_peak_mb": None if peak_dev is None else peak_dev / 2**20,
        "platform": jax.default_backend(),
    }


def _spawn(impl, seeds, args) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--single",
        f"impl={impl}",
        f"seeds={seeds}",
        "--total-timesteps",
        str(args.total_timesteps),
        "--repeats",
        str(args.repeats),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=_ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
    raise RuntimeError(f"{impl} seeds={seeds} failed (exit {proc.returncode})")


def _annotate(rows):
    by = {(r["impl"], r["seeds"]): r for r in rows}
    for r in rows:
        rj = by.get(("rejax", r["seeds"]))
        r["ratio_vs_rejax"] = r["env_steps_per_s"] / rj["env_steps_per_s"] if rj else None
        r["peak_mb"] = (
            r["device_peak_mb"] if r.get("device_peak_mb") is not None else r["peak_rss_mb"]
        )
    return rows


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
            f"target entropy {HP['target_entropy_ratio']} log|A|; one evaluation at the end.",
            "Differences: ours samples minibatches uniformly with replacement (rejax: "
            "jax.random.choice without replacement over the whole capacity), takes uniform "
            "random actions during the warm-up (rejax: the initial policy), applies Polyak after "
            "each gradient update (rejax: once per vector step), evaluates 8 envs x 500 steps "
            "(rejax: 128 episodes), and bootstraps on truncation (rejax sees done = terminated "
            "| truncated through the FiveTupleEnv shim).",
            "Reference, 2-core CPU: rejax SAC ~5.2k env-steps/s (1 seed). Target: ours >= 2x.",
        ]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--total-timesteps", type=int, default=50_000, help="env steps per seed")
    ap.add_argument("--repeats", type=int, default=1, help="timed calls of each compiled function")
    ap.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    ap.add_argument(
        "--out", type=Path, default=Path("results/benchmarks/offpolicy_throughput.json")
    )
    ap.add_argument("--timeout", type=float, default=None, help="seconds per configuration")
    ap.add_argument("--single", nargs="+", metavar="KEY=VALUE", help="one configuration, here")
    args = ap.parse_args(argv)

    if args.single:
        cfg = _parse_single(args.single)  # accepts impl in ppo's IMPLS; check ours
        if cfg["impl"] not in IMPLS:
            raise SystemExit(f"--single impl must be one of {IMPLS}")
        row = run_single(cfg["impl"], cfg["seeds"], args.total_timesteps, args.repeats)
        print(RESULT_TAG + json.dumps(row), flush=True)
        return 0

    import jax

    device = _device_info()
    print(f"platform: jax.devices() = {jax.devices()}; cpus: {device['cpu_count']}", flush=True)
    rows = []
    for seeds in args.seeds:
        for impl in args.impls:
            t = time.perf_counter()
            row = _spawn(impl, seeds, args)
            rows.append(row)
            print(
                f"  {impl:>6} seeds={seeds:<4} compile {row['compile_s']:6.2f}s  run "
                f"{row['run_s']:7.2f}s  {row['env_steps_per_s']:10,.0f} steps/s  "
                f"(subprocess {time.perf_counter() - t:.0f}s)",
                flush=True,
            )
    _annotate(rows)
    print()
    print(_table(rows, device))
    print()
    print(_footer(rows, args))

    out = args.out if args.out.is_absolute() else _ROOT / args.out
    payload = {
        "benchmark": "offpolicy_throughput",
        "algorithm": "SAC (discrete)",
        "env": "gymnax CartPole-v1",
        "created_unix": time.time(),
        "git_rev": _git_rev(),
        "command": [Path(sys.executable).name, *sys.argv],
        "config": {
            "num_envs": NUM_ENVS,
            "buffer_capacity": BUFFER,
            "learning_starts": FILL,
            "batch_size": BATCH,
            "updates_per_step": UPDATES_PER_STEP,
            "hidden_sizes": list(HIDDEN),
            "activation": ACTIVATION,
            "tau": 1 - REJAX_POLYAK,
            "total_timesteps": args.total_timesteps,
            "repeats": args.repeats,
            **HP,
        },
        "device": device,
        "versions": _versions(),
        "reference": REFERENCE,
        "rows": rows,
    }
    _atomic_write_json(out, payload)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
