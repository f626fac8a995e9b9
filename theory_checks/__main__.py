"""Run every theory check and print a report.

Usage: ``python -m theory_checks [--thorough] [-k SUBSTRING] [--cases N] [--json PATH]``.

Discovers every module-level :class:`~theory_checks.harness.Check` in ``theory_checks/check_*.py``,
runs its property and every mutation on the same cases, prints one row per check and one row per
mutation under it, and exits with status 1 if any check does not pass (see the harness for the
rule). ``--json PATH`` writes one object per check (name, theorem, cases, discarded, worst_error,
tolerance, seconds, passed, mutations with kill_rate and median_error).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import sys
import tempfile
import time

import theory_checks
from theory_checks.harness import (
    Check,
    CheckResult,
    enable_compilation_cache,
    failure_summary,
    run_check,
)


def discover() -> list[Check]:
    """Module-level ``Check`` objects of ``theory_checks.check_*`` modules, in definition order."""
    checks: list[Check] = []
    seen: set[int] = set()
    for info in sorted(pkgutil.iter_modules(theory_checks.__path__), key=lambda m: m.name):
        if not info.name.startswith("check_"):
            continue
        module = importlib.import_module(f"theory_checks.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Check) and id(value) not in seen:
                seen.add(id(value))
                checks.append(value)
    return checks


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2e}"


def format_report(results: list[CheckResult]) -> str:
    """The table: a row per check (cases, discarded, worst error, tolerance, attained bound
    ratio) and under it a row per mutation (its cases, median error, kill rate)."""
    header = ("check / mutation", "cases", "disc.", "error", "tolerance", "kill rate", "time")
    rows = []
    for r in results:
        rows.append(
            (
                ("" if r.passed else "FAIL ") + r.name,
                str(r.cases),
                str(r.discarded),
                "worst " + _fmt(r.worst_error) + ("" if r.property_ok else " !"),
                _fmt(r.tolerance),
                "" if r.attained is None else f"attained {r.attained:.3g}",
                f"{r.seconds:.1f}s",
            )
        )
        for m in r.mutations:
            rows.append(
                (
                    ("  ok   " if m.ok else "  FAIL ") + m.name,
                    str(m.cases),
                    str(m.discarded),
                    "median " + _fmt(m.median_error),
                    "",
                    f"{m.kill_rate:.2f} (>= {m.min_kill_rate:.2f})",
                    "",
                )
            )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
    out = [line(header), "-+-".join("-" * w for w in widths), *map(line, rows)]
    for r in results:
        if not r.passed:
            out.append(f"\n{r.name}:\n{failure_summary(r)}")
    return "\n".join(out)


def write_json(results: list[CheckResult], path: str) -> None:
    """Write the per-check objects atomically (temp file in the same folder, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as f:
        json.dump([r.to_json() for r in results], f, indent=1)
    os.replace(f.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory_checks", description=__doc__)
    parser.add_argument("--thorough", action="store_true", help="10x cases per check")
    parser.add_argument("-k", dest="keyword", default="", help="only checks whose name contains it")
    parser.add_argument(
        "--cases", "--examples", type=int, default=None, help="override accepted cases per check"
    )
    parser.add_argument("--json", dest="json_path", default=None, help="write the report as JSON")
    parser.add_argument(
        "--no-cache", action="store_true", help="don't keep XLA compiles on disk between runs"
    )
    args = parser.parse_args(argv)
    if args.cases is not None and args.cases < 1:
        raise SystemExit(
            f"python -m theory_checks: --cases/--examples = {args.cases} is invalid: the number "
            "of accepted cases per check must be >= 1"
        )
    if not args.no_cache:
        enable_compilation_cache()

    t0 = time.perf_counter()
    checks = [c for c in discover() if args.keyword.lower() in c.name.lower()]
    if not checks:
        print(f"no checks match {args.keyword!r}")
        return 1
    results = []
    for check in checks:
        result = run_check(check, thorough=args.thorough, cases=args.cases)
        status = "ok" if result.passed else "FAIL"
        print(f"[{status}] {check.name} ({result.seconds:.1f}s)", file=sys.stderr, flush=True)
        results.append(result)
    print(format_report(results))
    if args.json_path:
        write_json(results, args.json_path)
    failed = [r.name for r in results if not r.passed]
    total = time.perf_counter() - t0
    n_mut = sum(len(r.mutations) for r in results)
    print(
        f"\n{len(results) - len(failed)}/{len(results)} checks passed "
        f"({n_mut} mutations) in {total:.1f}s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
