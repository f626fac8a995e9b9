"""Shared driver of the throughput benchmarks: one fresh subprocess per (impl, seeds), a table.

A benchmark script describes itself with a :class:`Bench` (its implementations: our ``train``
functions and the rejax class with its settings; how many env steps a seed executes; what its
JSON says) and hands its parsed arguments to :func:`main`:

* the parent runs every (impl, seeds) configuration as ``script --single impl=.. seeds=..`` in a
  fresh subprocess, so that each configuration's peak memory (CPU: ``ru_maxrss``, process-wide
  and monotone; GPU: ``peak_bytes_in_use``) is its own, and reads back one tagged JSON row;
* the subprocess (:func:`run_single`) builds ``jax.jit(jax.vmap(train))`` over the seeds
  (:func:`build`), times ``jit(...).lower(...).compile()`` apart from the best of ``--repeats``
  calls of the compiled function (``block_until_ready``);
* the parent runs ``--rounds`` interleaved rounds: every configuration once per round, the order of
  the implementations rotated by one each round (per seed count);
* it prints, per configuration, the median and the spread (min-max) over rounds of env-steps/s,
  compile s and peak memory, and the ratios the :class:`Bench` names (paired within a round, then
  median and spread), then the script's footer; and writes only measured numbers (every round's
  rows and their summary) with device, versions and git revision to ``--out`` (atomically).

Not part of the ``jaxrl`` package: it only exists to benchmark against peers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # jaxrl, when the package is not installed
    sys.path.insert(1, str(ROOT))
PEER = "rejax"
#: ``<impl>_sharded``: ``<impl>`` with its seeds split over several CPU devices of one process
#: (``jax_num_cpu_devices``), one XLA program per device running on its own thread.
SHARDED = "_sharded"
#: How many CPU devices a ``*_sharded`` configuration's subprocess gets (set by the parent).
HOST_DEVICES_VAR = "JAXRL_BENCH_HOST_DEVICES"

Row = dict[str, Any]


@dataclass(frozen=True)
class Bench:
    """What differs between the throughput benchmarks.

    Attributes:
      name: JSON ``"benchmark"`` field; also names the default ``--out`` file and the result tag.
      script: the benchmark script, re-run with ``--single`` for each configuration.
      impls: the implementations it can run (the peer among them).
      ours: ``(impl, env, env_params, total_timesteps) -> (train, hparams)`` for our
        implementations, ``train(key, hparams)`` (see :func:`build`).
      rejax: ``() -> (rejax algorithm class, its create() keywords)`` for the peer.
      steps_per_seed: ``total_timesteps -> env steps one seed actually executes`` (raises
        ``SystemExit`` for a budget that is too small).
      config: the JSON ``"config"``: the fixed settings, followed there by ``total_timesteps``,
        ``repeats`` and ``hparams``.
      hparams: the hyperparameters both implementations share.
      reference: figures stored under ``"reference"`` in the JSON (``None``: no such field). Only
        for numbers measured elsewhere and labelled so; prefer measuring them in the run.
      header: JSON fields between ``"benchmark"`` and ``"env"`` (e.g. the algorithm).
      widths: progress-line widths of the impl, the seed count and the env-steps/s columns.
      show_x64: whether the platform line states the x64 flag.
      env_id: the gymnax environment (``gymnax.make(env_id)``).
      peers: further implementations, ``name -> (num_seeds, total_timesteps) -> (jitted_fn,
        args)`` (e.g. PureJaxRL, built by its own ``make_train``).
      rejax_eval: ``True``: rejax evaluates once, at the end (128 episodes); ``False``: its
        ``eval_callback`` is a no-op, so the timed call does no evaluation work.
      ratios: ``(label, a, b)``: ``a``'s env-steps/s over ``b``'s at the same seed count and round.
      default_impls: what ``--impls`` runs by default (``None``: every one of ``impls``).
    """

    name: str
    script: str | os.PathLike
    impls: tuple[str, ...]
    ours: Callable[[str, Any, Any, int], tuple[Callable, Any]]
    rejax: Callable[[], tuple[type, dict[str, Any]]]
    steps_per_seed: Callable[[int], int]
    config: Mapping[str, Any]
    hparams: Mapping[str, Any]
    reference: Mapping[str, Any] | None = None
    header: Mapping[str, Any] = field(default_factory=dict)
    widths: tuple[int, int, int] = (9, 5, 12)
    show_x64: bool = True
    env_id: str = "CartPole-v1"
    peers: Mapping[str, Callable[[int, int], tuple[Callable, tuple]]] = field(default_factory=dict)
    rejax_eval: bool = True
    ratios: tuple[tuple[str, str, str], ...] = (("ours / rejax", "ours", PEER),)
    default_impls: tuple[str, ...] | None = None

    @property
    def tag(self) -> str:
        return f"@@{self.name.upper()}_RESULT@@"


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def arg_parser(
    bench: Bench,
    doc: str,
    *,
    seeds: list[int],
    total_timesteps: int,
    timesteps_help: str = "env steps per seed",
    single_help: str = "one configuration, here",
    rounds: int = 1,
) -> argparse.ArgumentParser:
    """The flags every throughput benchmark takes (defaults and help texts per benchmark)."""
    ap = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=seeds)
    ap.add_argument("--total-timesteps", type=int, default=total_timesteps, help=timesteps_help)
    ap.add_argument("--repeats", type=int, default=1, help="timed calls of each compiled function")
    ap.add_argument(
        "--rounds",
        type=int,
        default=rounds,
        help="interleaved rounds (order rotated each round), each configuration in a fresh process",
    )
    default = bench.impls if bench.default_impls is None else bench.default_impls
    ap.add_argument("--impls", nargs="+", default=list(default), choices=bench.impls)
    ap.add_argument("--out", type=Path, default=Path(f"results/benchmarks/{bench.name}.json"))
    ap.add_argument("--timeout", type=float, default=None, help="seconds per configuration")
    ap.add_argument("--single", nargs="+", metavar="KEY=VALUE", help=single_help)
    ap.add_argument(
        "--host-devices",
        type=int,
        default=os.cpu_count() or 2,
        help=f"CPU devices of a *{SHARDED} configuration (default: the CPU count)",
    )
    return ap


def parse_single(tokens, impls) -> dict:
    """``["impl=ours", "seeds=8"]`` -> ``{"impl": "ours", "seeds": 8}``, checked against impls."""
    out = {}
    for tok in tokens:
        if "=" not in tok:
            raise SystemExit(f"--single expects key=value tokens, got {tok!r}")
        k, v = tok.split("=", 1)
        out[k] = v
    if set(out) != {"impl", "seeds"}:
        raise SystemExit(f"--single needs exactly impl=<{'|'.join(impls)}> seeds=<int>")
    if out["impl"] not in impls:
        raise SystemExit(f"--single impl must be one of {tuple(impls)}")
    return {"impl": out["impl"], "seeds": int(out["seeds"])}


# --------------------------------------------------------------------------------------------
# one configuration (runs inside the subprocess)
# --------------------------------------------------------------------------------------------


def device_peak_bytes():
    import jax

    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - backends without memory stats
        return None
    return None if not stats else stats.get("peak_bytes_in_use")


def build(bench: Bench, impl: str, num_seeds: int, total_timesteps: int):
    """Return ``(jitted_fn, args)`` for one implementation, ``num_seeds`` seeds ``jax.vmap``-ed.

    Ours: ``train(key, hparams)`` from ``bench.ours``, one key per seed, shared hparams. rejax:
    ``bench.rejax``'s class created on the gymnax-1.0 env through
    :class:`_rejax_compat.FiveTupleEnv` for exactly ``steps_per_seed`` env steps, evaluating
    once, at the end (``eval_freq = total_timesteps``, no initial evaluation), or not at all when
    ``bench.rejax_eval`` is false. ``bench.peers``: their own builder.
    """
    if impl.endswith(SHARDED):
        base = impl.removesuffix(SHARDED)
        fn, args = build(bench, base, num_seeds, total_timesteps)
        return fn, shard_seed_arg(args, seed_arg=1 if base == PEER else 0)
    if impl in bench.peers:
        return bench.peers[impl](num_seeds, total_timesteps)

    import gymnax
    import jax

    env, env_params = gymnax.make(bench.env_id)
    keys = jax.random.split(jax.random.key(0), num_seeds)
    steps = bench.steps_per_seed(total_timesteps)

    if impl == PEER:
        from _rejax_compat import FiveTupleEnv

        algo_cls, kwargs = bench.rejax()
        algo = algo_cls.create(
            env=FiveTupleEnv(env),
            env_params=env_params,
            total_timesteps=steps,
            eval_freq=steps,
            skip_initial_evaluation=True,
            **kwargs,
        )
        if not bench.rejax_eval:
            algo = algo.replace(eval_callback=_no_eval)
        return jax.jit(jax.vmap(type(algo).train, in_axes=(None, 0))), (algo, keys)

    if impl in bench.impls:
        train, hparams = bench.ours(impl, env, env_params, total_timesteps)
        return jax.jit(jax.vmap(train, in_axes=(0, None))), (keys, hparams)

    raise ValueError(f"unknown impl {impl!r}; expected one of {bench.impls}")


def shard_seed_arg(args: tuple, seed_arg: int) -> tuple:
    """``args`` placed on every CPU device of the process: ``args[seed_arg]`` (the keys, leading
    axis = seeds) split over the devices by :func:`jaxrl.experiment.sharding.shard_seeds`, the
    others replicated. ``jit`` then partitions the vmapped seed axis: each device runs its own
    seeds, as ``run_chunked(..., shard=True)`` does."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    from jaxrl.experiment.sharding import seed_mesh, shard_seeds

    mesh = seed_mesh()
    seeds = jax.tree.leaves(args[seed_arg])[0].shape[0]
    if seeds % mesh.size:
        raise SystemExit(f"{seeds} seeds cannot be split evenly over {mesh.size} devices")
    replicated = NamedSharding(mesh, PartitionSpec())
    return tuple(
        shard_seeds(a, mesh) if i == seed_arg else jax.device_put(a, replicated)
        for i, a in enumerate(args)
    )


def sharded_skips(impls: list[str], seeds: list[int], devices: int) -> list[tuple[str, int]]:
    """The ``(impl, seeds)`` pairs of ``*_sharded`` implementations that cannot run: fewer
    seeds than devices, or seeds not a multiple of them."""
    return [
        (i, s) for i in impls if i.endswith(SHARDED) for s in seeds if s < devices or s % devices
    ]


def _no_eval(algo, train_state, rng):
    """rejax ``eval_callback`` that evaluates nothing (an empty pytree per evaluation point)."""
    del algo, train_state, rng
    return ()


def run_single(bench: Bench, impl: str, num_seeds: int, total_timesteps: int, repeats: int) -> Row:
    """Compile and time one configuration in this process; return its JSON row."""
    import jax

    rss_import_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if impl.endswith(SHARDED):  # before anything initialises the CPU backend
        jax.config.update("jax_num_cpu_devices", int(os.environ.get(HOST_DEVICES_VAR, "2")))
    fn, args = build(bench, impl, num_seeds, total_timesteps)

    t0 = time.perf_counter()
    lowered = fn.lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()

    run_times, cpu_times = [], []
    for _ in range(max(1, repeats)):
        t, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(compiled(*args))
        run_times.append(time.perf_counter() - t)
        cpu_times.append(time.process_time() - c)

    steps_per_seed = bench.steps_per_seed(total_timesteps)
    run_s = min(run_times)
    peak_dev = device_peak_bytes()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {
        "impl": impl,
        "seeds": num_seeds,
        "total_timesteps": total_timesteps,
        "env_steps_per_seed": steps_per_seed,
        "trace_s": t1 - t0,
        "compile_s": t2 - t0,
        "run_s": run_s,
        "run_s_all": run_times,
        # CPU seconds of all this process's threads during the best call: less sensitive than
        # wall time to other jobs on a shared machine (but counts XLA's idle-spinning threads)
        "cpu_s": cpu_times[run_times.index(run_s)],
        "env_steps_per_s": num_seeds * steps_per_seed / run_s,
        "peak_rss_mb": rss_mb,
        "rss_after_import_mb": rss_import_mb,
        "device_peak_mb": None if peak_dev is None else peak_dev / 2**20,
        "platform": jax.default_backend(),
    }


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def spawn(bench: Bench, impl: str, seeds: int, args) -> Row:
    """Run one configuration in a fresh subprocess of the benchmark script; return its row."""
    cmd = [
        sys.executable,
        str(Path(bench.script).resolve()),
        "--single",
        f"impl={impl}",
        f"seeds={seeds}",
        "--total-timesteps",
        str(args.total_timesteps),
        "--repeats",
        str(args.repeats),
    ]
    env = {**os.environ, HOST_DEVICES_VAR: str(getattr(args, "host_devices", 2))}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT, env=env
    )
    for line in proc.stdout.splitlines():
        if line.startswith(bench.tag):
            return json.loads(line[len(bench.tag) :])
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
    raise RuntimeError(f"{impl} seeds={seeds} failed (exit {proc.returncode})")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "flax", "optax", "gymnax", "rejax", "distrax", "numpy", "chex"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    for pkg in ("jax-cuda12-plugin", "jax-cuda13-plugin"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_info() -> dict:
    import jax

    devs = jax.devices()
    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in devs],
        "device_kind": devs[0].device_kind,
        "x64_enabled": bool(jax.config.jax_enable_x64),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "hostname": platform.node(),
    }


def git_rev():
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except Exception:  # noqa: BLE001
        return None


def _stats(values) -> dict:
    """``{"median", "min", "max", "n"}`` of the non-missing values (``None`` fields when none)."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    n = len(vals)
    med = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    return {"median": med, "min": vals[0], "max": vals[-1], "n": n}


def peak_mb(row: Row) -> float:
    """Device peak where the backend reports one, else the subprocess's RSS."""
    dev = row.get("device_peak_mb")
    return dev if dev is not None else row["peak_rss_mb"]


def summarize(rows: list[Row], ratios) -> tuple[list[Row], list[Row]]:
    """Per (impl, seeds), in first-appearance order: median and spread over rounds of env-steps/s,
    run s, compile s and peak MB; per (ratio, seeds): the ratio within each round, then its median
    and spread. Only rounds where both sides ran count for a ratio."""
    groups: dict[tuple[str, int], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["impl"], r["seeds"]), []).append(r)
    configs = []
    for (impl, seeds), rs in groups.items():
        configs.append(
            {
                "impl": impl,
                "seeds": seeds,
                "rounds": len(rs),
                "env_steps_per_s": _stats(r["env_steps_per_s"] for r in rs),
                "run_s": _stats(r["run_s"] for r in rs),
                "compile_s": _stats(r["compile_s"] for r in rs),
                "peak_mb": _stats(peak_mb(r) for r in rs),
            }
        )
    by = {(r["round"], r["impl"], r["seeds"]): r for r in rows}
    out = []
    for seeds in dict.fromkeys(r["seeds"] for r in rows):
        for label, a, b in ratios:
            per_round = [
                by[(rnd, a, seeds)]["env_steps_per_s"] / by[(rnd, b, seeds)]["env_steps_per_s"]
                for rnd in sorted({r["round"] for r in rows})
                if (rnd, a, seeds) in by and (rnd, b, seeds) in by
            ]
            if per_round:
                out.append(
                    {"ratio": label, "seeds": seeds, "per_round": per_round, **_stats(per_round)}
                )
    return configs, out


def _fmt(st: Mapping[str, Any], spec: str) -> str:
    if st["median"] is None:
        return "-"
    med, lo, hi = (format(st[k], spec) for k in ("median", "min", "max"))
    return med if st["n"] == 1 else f"{med} [{lo}-{hi}]"


def _md(hdr: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(hdr)]

    def fmt(cells):
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    lines = [fmt(hdr), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(lines + [fmt(b) for b in body])


def table(configs: list[Row], ratios: list[Row], device: Mapping[str, Any]) -> str:
    """Markdown tables: per configuration and per ratio, ``median [min-max]`` over rounds."""
    mem = "peak MB (device)" if device["backend"] != "cpu" else "peak MB (RSS)"
    hdr = ["impl", "seeds", "rounds", "env-steps/s", "compile s", mem]
    body = [
        [
            c["impl"],
            str(c["seeds"]),
            str(c["rounds"]),
            _fmt(c["env_steps_per_s"], ",.0f"),
            _fmt(c["compile_s"], ".2f"),
            _fmt(c["peak_mb"], ".0f"),
        ]
        for c in configs
    ]
    out = _md(hdr, body)
    if ratios:
        rbody = [[r["ratio"], str(r["seeds"]), str(r["n"]), _fmt(r, ".2f")] for r in ratios]
        out += "\n\n" + _md(["ratio (env-steps/s, same round)", "seeds", "rounds", "x"], rbody)
    return out


def atomic_write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def schedule(impls: list[str], seeds: list[int], rounds: int) -> list[tuple[int, int, str]]:
    """``(round, seeds, impl)`` in run order: per round, every seed count in turn, its
    implementations rotated left by the round index (round 0: the given order)."""
    out = []
    for rnd in range(rounds):
        k = rnd % len(impls)
        order = impls[k:] + impls[:k]
        out += [(rnd, s, impl) for s in seeds for impl in order]
    return out


def main(
    bench: Bench,
    args: argparse.Namespace,
    footer: Callable[[list[Row]], str],
) -> int:
    """``--single``: run one configuration here and print its tagged row. Otherwise: ``--rounds``
    interleaved rounds of every (seeds, impl), each in a fresh subprocess, then the tables,
    ``footer(rows)`` and the JSON at ``--out``."""
    if args.single:
        cfg = parse_single(args.single, bench.impls)
        row = run_single(bench, cfg["impl"], cfg["seeds"], args.total_timesteps, args.repeats)
        print(bench.tag + json.dumps(row), flush=True)
        return 0

    if not args.impls:
        raise SystemExit("no implementation left to run")
    import jax

    device = device_info()
    x64 = f"; x64 enabled: {device['x64_enabled']}" if bench.show_x64 else ""
    print(
        f"platform: jax.devices() = {jax.devices()}{x64}; cpus: {device['cpu_count']}", flush=True
    )
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    w_impl, w_seeds, w_rate = bench.widths
    rows = []
    rounds = max(1, getattr(args, "rounds", 1))
    skips = set(sharded_skips(list(args.impls), list(args.seeds), args.host_devices))
    for impl, seeds in sorted(skips):
        print(f"{impl} seeds={seeds} skipped: not a multiple of {args.host_devices} devices")
    for rnd, seeds, impl in schedule(list(args.impls), list(args.seeds), rounds):
        if (impl, seeds) in skips:
            continue
        t = time.perf_counter()
        row = spawn(bench, impl, seeds, args)
        row["round"] = rnd
        row["peak_mb"] = peak_mb(row)
        rows.append(row)
        print(
            f"  round {rnd + 1}/{rounds} {impl:>{w_impl}} seeds={seeds:<{w_seeds}} "
            f"compile {row['compile_s']:6.2f}s  run {row['run_s']:7.2f}s  "
            f"{row['env_steps_per_s']:{w_rate},.0f} steps/s  peak {row['peak_mb']:.0f} MB  "
            f"(subprocess {time.perf_counter() - t:.0f}s)",
            flush=True,
        )
    configs, ratios = summarize(rows, bench.ratios)

    print()
    print(table(configs, ratios, device))
    print()
    print(footer(rows))

    out = args.out if args.out.is_absolute() else ROOT / args.out
    payload = {
        "benchmark": bench.name,
        **bench.header,
        "env": f"gymnax {bench.env_id}",
        "created_unix": time.time(),
        "git_rev": git_rev(),
        "command": [Path(sys.executable).name, *sys.argv],
        "config": {
            **bench.config,
            "total_timesteps": args.total_timesteps,
            "repeats": args.repeats,
            "rounds": rounds,
            "impls": list(args.impls),
            "host_devices_of_sharded_impls": args.host_devices,
            **bench.hparams,
        },
        "device": device,
        "load_avg_start": load_start,
        "load_avg_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions(),
        **({"reference": dict(bench.reference)} if bench.reference is not None else {}),
        "summary": configs,
        "ratios": ratios,
        "rows": rows,
    }
    atomic_write_json(out, payload)
    print(f"\nwrote {out}")
    return 0
