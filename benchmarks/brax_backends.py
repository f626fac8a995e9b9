"""Env-steps/s of Brax tasks per physics backend, through ``jaxrl.envs.make`` (issue 16).

For each (task, backend) a fresh subprocess (``--single task=.. backend=..``) builds
``jax.jit(jax.vmap(rollout))``: ``rollout(key)`` resets one env and takes ``--steps`` uniformly
random actions (``lax.scan``) through our adapter, auto-reset included, as training would. For
each env count in ``--envs`` it times ``lower(...).compile()`` apart, then the best of
``--repeats`` calls (``block_until_ready``), in wall seconds *and* process CPU seconds
(``time.process_time``: all threads of the process). On a machine shared with other jobs the CPU
seconds are the fairer comparison; wall env-steps/s is what a run would see.

Faithfulness (brax: ``generalized`` is the most accurate of its own pipelines, ``spring`` and
``positional`` approximate contacts and joints; ``mjx`` is MuJoCo in JAX): the same key gives the
same reset state and action sequence under every backend, so at ``N = 1`` each row keeps the
observations of the first ``FIDELITY_STEPS`` steps, and the parent reports their max abs
deviation from the ``mjx`` run (MuJoCo, the simulator the tasks were written for), plus the
terminations per 1000 steps and mean reward per step under random actions at the largest ``N``.

Configurations run interleaved: the backend order is rotated by one from task to task.

  nice -n 19 python benchmarks/brax_backends.py --envs 1 16 --steps 200 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
from benchmarks._harness import atomic_write_json, device_info, git_rev, versions  # noqa: E402

TASKS = ("inverted_double_pendulum", "hopper", "walker2d", "halfcheetah")
BACKENDS = ("spring", "positional", "generalized", "mjx")
REFERENCE = "mjx"
FIDELITY_STEPS = (1, 5, 20)
TAG = "@@BRAX_BACKENDS_RESULT@@"


def build_rollout(task: str, backend: str, num_steps: int):
    """``(env, params, rollout)``; ``rollout(keys [N]) -> (obs [N,T,obs], reward [N,T], term)``."""
    import jax

    from jaxrl.envs import make

    env, params = make(f"brax/{task}", backend=backend, episode_length=1000)

    def rollout(key):
        k_reset, k_steps = jax.random.split(key)
        _, state = env.reset(k_reset, params)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            action = env.action_space(params).sample(k_act)
            obs, state, reward, term, _, _ = env.step(k_step, state, action, params)
            return state, (obs, reward, term)

        _, out = jax.lax.scan(body, state, jax.random.split(k_steps, num_steps))
        return out

    return env, params, jax.jit(jax.vmap(rollout))


def run_single(task: str, backend: str, envs: list[int], steps: int, repeats: int) -> dict:
    """Times one (task, backend) at every env count; runs inside the subprocess."""
    import jax
    import numpy as np

    t0 = time.perf_counter()
    env, params, fn = build_rollout(task, backend, steps)
    out: dict[str, Any] = {
        "task": task,
        "backend": backend,
        "make_s": time.perf_counter() - t0,
        "obs_size": env.observation_space(params).shape[0],
        "action_size": env.action_space(params).shape[0],
        "per_envs": [],
    }
    for n in envs:
        keys = jax.random.split(jax.random.key(0), n)
        t0, c0 = time.perf_counter(), time.process_time()
        compiled = fn.lower(keys).compile()
        compile_s, compile_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        walls, cpus = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            obs, reward, term = jax.block_until_ready(compiled(keys))
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        obs, reward, term = np.asarray(obs), np.asarray(reward), np.asarray(term)
        row = {
            "num_envs": n,
            "compile_s": compile_s,
            "compile_cpu_s": compile_cpu_s,
            "wall_s": walls,
            "cpu_s": cpus,
            "steps_per_s_wall": n * steps / min(walls),
            "steps_per_s_cpu": n * steps / min(cpus),
            "finite": bool(np.isfinite(obs).all()),
            "terminations_per_1k": 1000.0 * float(term.sum()) / (n * steps),
            "mean_reward": float(reward.mean()),
        }
        if n == 1:  # same key and actions under every backend: compared across backends
            row["obs_head"] = obs[0, : max(FIDELITY_STEPS)].tolist()
        out["per_envs"].append(row)
    return out


def spawn(task: str, backend: str, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--single", f"task={task}"]
    cmd += [f"backend={backend}", "--envs", *map(str, args.envs), "--steps", str(args.steps)]
    cmd += ["--repeats", str(args.repeats)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"task": task, "backend": backend, "error": f"timeout after {args.timeout} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"task": task, "backend": backend, "error": f"exit {proc.returncode}: {tail}"}


def fidelity(rows: list[dict]) -> None:
    """Adds ``max_dev_vs_mjx`` (max |obs - obs_mjx| at FIDELITY_STEPS) to each task's rows."""
    import numpy as np

    for task in {r["task"] for r in rows}:
        ref = next((r for r in rows if r["task"] == task and r["backend"] == REFERENCE), None)
        head = {
            r["backend"]: np.asarray(p["obs_head"])
            for r in rows
            if r["task"] == task and "error" not in r
            for p in r["per_envs"]
            if "obs_head" in p
        }
        if ref is None or REFERENCE not in head:
            continue
        for r in rows:
            if r["task"] == task and r["backend"] in head:
                d = np.abs(head[r["backend"]] - head[REFERENCE]).max(axis=-1)
                r["max_dev_vs_mjx"] = {str(k): float(d[k - 1]) for k in FIDELITY_STEPS}


def table(rows: list[dict], envs: list[int]) -> str:
    hdr = ["task", "backend"]
    for n in envs:
        hdr += [f"N={n} steps/s wall", f"N={n} steps/s CPU", f"N={n} compile s"]
    hdr += [f"max Δobs vs mjx @{k}" for k in FIDELITY_STEPS] + ["term/1k", "reward/step"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['task']} | {r['backend']} | failed: {r['error']} |")
            continue
        cells = [r["task"], r["backend"]]
        by_n = {p["num_envs"]: p for p in r["per_envs"]}
        for n in envs:
            p = by_n[n]
            cells += [f"{p['steps_per_s_wall']:,.0f}", f"{p['steps_per_s_cpu']:,.0f}"]
            cells += [f"{p['compile_s']:.1f}"]
        dev = r.get("max_dev_vs_mjx", {})
        cells += [f"{dev[str(k)]:.2g}" if dev else "-" for k in FIDELITY_STEPS]
        last = by_n[max(envs)]
        cells += [f"{last['terminations_per_1k']:.1f}", f"{last['mean_reward']:.3f}"]
        if not all(p["finite"] for p in r["per_envs"]):
            cells[1] += " (non-finite obs!)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    ap.add_argument("--envs", type=int, nargs="+", default=[1, 16], help="vmapped env counts")
    ap.add_argument("--steps", type=int, default=200, help="rollout length T per env")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls (best is kept)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per (task, backend)")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/brax_backends.json"))
    ap.add_argument("--single", nargs=2, metavar="KEY=VALUE", help="task=.. backend=.., here")
    args = ap.parse_args(argv)
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if min(args.envs) < 1:
        ap.error(f"--envs must all be >= 1, got {args.envs}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.single:
        kv = dict(tok.split("=", 1) for tok in args.single if "=" in tok)
        if set(kv) != {"task", "backend"}:
            raise SystemExit(f"--single needs task=<task> backend=<backend>, got {args.single}")
        row = run_single(kv["task"], kv["backend"], args.envs, args.steps, args.repeats)
        print(TAG + json.dumps(row), flush=True)
        return
    rows = []
    for i, task in enumerate(args.tasks):
        k = i % len(args.backends)  # rotate the backend order task to task (interleaving)
        for backend in args.backends[k:] + args.backends[:k]:
            t0 = time.perf_counter()
            row = spawn(task, backend, args)
            rows.append(row)
            status = row.get("error") or ", ".join(
                f"N={p['num_envs']}: {p['steps_per_s_wall']:,.0f} steps/s" for p in row["per_envs"]
            )
            print(f"{task:>24} {backend:>11} ({time.perf_counter() - t0:5.0f} s) {status}")
    rows.sort(key=lambda r: (TASKS.index(r["task"]), BACKENDS.index(r["backend"])))
    fidelity(rows)
    print()
    print(table(rows, args.envs))
    payload = {
        "benchmark": "brax_backends",
        "config": {"envs": args.envs, "steps": args.steps, "repeats": args.repeats},
        "rows": rows,
        "device": device_info(),
        "versions": {**versions(), "brax": _version("brax"), "mujoco-mjx": _version("mujoco-mjx")},
        "git": git_rev(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(args.out, payload)
    print(f"\nwrote {args.out}")


def _version(pkg: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
