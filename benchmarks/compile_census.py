"""Where the test suite's time goes, per test: wall seconds and XLA compiles (count, seconds).

The suite's time is mostly XLA compilation (README, "tests"), so a test's cost is its compiles
more than its run. This is both a pytest plugin (``-p compile_census``, with ``benchmarks/`` on
``PYTHONPATH``), which records jax's monitoring events per test into one JSON per xdist worker,
and a driver that runs pytest with it, cold (an empty compilation cache), and prints the table
the ``heavy`` tier was chosen from (tests over ~4 s cold; ``pyproject.toml``)::

    .venv/bin/python benchmarks/compile_census.py                    # both tiers, 2 workers
    .venv/bin/python benchmarks/compile_census.py -m 'not slow and not heavy' --top 30
    .venv/bin/python benchmarks/compile_census.py tests/test_mdp.py  # any pytest arguments

A test's module- or session-scoped fixtures are charged to the first test that requests them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_OUT_ENV = "JAXRL_COMPILE_CENSUS_DIR"

# ------------------------------------------------------------------------------------ the plugin

_current = ["<collection>"]
_rows: dict[str, dict] = {}


def _row(nodeid: str) -> dict:
    return _rows.setdefault(nodeid, {"wall": 0.0, "compiles": 0, "compile_s": 0.0})


def _on_duration(event: str, secs: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":  # jax._src.dispatch
        row = _row(_current[0])
        row["compiles"] += 1
        row["compile_s"] += secs


def pytest_configure(config) -> None:
    import jax.monitoring

    jax.monitoring.register_event_duration_secs_listener(_on_duration)


def pytest_runtest_logstart(nodeid, location) -> None:
    _current[0] = nodeid
    _row(nodeid)["start"] = time.perf_counter()


def pytest_runtest_logfinish(nodeid, location) -> None:
    row = _row(nodeid)
    row["wall"] = time.perf_counter() - row.pop("start")
    _current[0] = "<between tests>"


def pytest_unconfigure(config) -> None:
    out = os.environ.get(_OUT_ENV)
    if out:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(out, f"{worker}.json").write_text(json.dumps(_rows))


# ------------------------------------------------------------------------------------ the driver


def load(folder: str | Path) -> dict[str, dict]:
    """Every worker's rows under ``folder``, by test id (``{wall, compiles, compile_s}``)."""
    rows: dict[str, dict] = {}
    for path in sorted(Path(folder).glob("*.json")):
        rows.update(json.loads(path.read_text()))
    return rows


def table(rows: dict[str, dict], top: int) -> str:
    """Totals, then the ``top`` files and tests by wall seconds."""
    tests = {k: v for k, v in rows.items() if "::" in k}
    wall = sum(r["wall"] for r in tests.values())
    comp = sum(r["compile_s"] for r in tests.values())
    n = sum(r["compiles"] for r in tests.values())
    lines = [
        f"{len(tests)} tests: {wall:.0f} test-seconds, {n} XLA compiles, "
        f"{comp:.0f} s backend compile ({comp / max(wall, 1e-9):.0%})",
        "",
        f"{'wall s':>8} {'compile s':>9} {'compiles':>8} {'tests':>5}  file",
    ]
    files: dict[str, list] = collections.defaultdict(lambda: [0.0, 0.0, 0, 0])
    for k, r in tests.items():
        f = files[k.split("::")[0]]
        f[0], f[1], f[2], f[3] = (
            f[0] + r["wall"],
            f[1] + r["compile_s"],
            f[2] + r["compiles"],
            f[3] + 1,
        )
    for name, (w, c, m, t) in sorted(files.items(), key=lambda x: -x[1][0])[:top]:
        lines.append(f"{w:8.1f} {c:9.1f} {m:8d} {t:5d}  {name}")
    lines += ["", f"{'wall s':>8} {'compile s':>9} {'compiles':>8}  test"]
    for k, r in sorted(tests.items(), key=lambda x: -x[1]["wall"])[:top]:
        lines.append(f"{r['wall']:8.1f} {r['compile_s']:9.1f} {r['compiles']:8d}  {k}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=25, help="files and tests listed")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers (0: none)")
    parser.add_argument("--out", help="keep the per-worker JSON here (default: a temp folder)")
    args, pytest_args = parser.parse_known_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="census-"))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="census-xla-") as cache:
        # (a caller's xdist worker variables would name the files after it: dropped)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
        env.update({_OUT_ENV: str(out), "JAX_COMPILATION_CACHE_DIR": cache})
        here = str(Path(__file__).resolve().parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
        workers = ["-n", str(args.workers), "--dist", "worksteal"] if args.workers else []
        cmd = [sys.executable, "-m", "pytest", "-p", "compile_census", *workers, *pytest_args]
        rc = subprocess.run(cmd, env=env).returncode
    print(table(load(out), args.top))
    print(f"(per-worker JSON: {out})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
