"""Run every theory check and print a report.

Usage: ``python -m theory_checks [--thorough] [-k SUBSTRING] [--examples N]``.

Discovers every module-level :class:`~theory_checks.harness.Check` in ``theory_checks/check_*.py``
and exits with status 1 if any property exceeds its tolerance or any counterexample fails to fail.
"""

from __future__ import annotations

import argparse
import importlib
import math
import pkgutil
import sys
import time

import theory_checks
from theory_checks.harness import Check, CheckResult, run_check


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


def _fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2e}"


def format_report(results: list[CheckResult]) -> str:
    header = ("check", "cases", "worst error", "tolerance", "counterex. error", "ce failed", "time")
    rows = [
        (
            ("" if r.ok else "FAIL ") + r.name,
            str(r.cases),
            _fmt(r.worst_error) + ("" if r.property_ok else " !"),
            _fmt(r.tolerance),
            _fmt(r.counterexample_error),
            {True: "yes", False: "NO", None: "-"}[r.counterexample_failed],
            f"{r.seconds:.1f}s",
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
    out = [line(header), "-+-".join("-" * w for w in widths), *map(line, rows)]
    for r in results:
        if not r.property_ok:
            out.append(f"\n{r.name}: property failed. {r.property_exception}")
            if r.failing_case:
                out.append(f"  minimal failing case: {r.failing_case}")
        for note in r.notes:
            out.append(f"\n{r.name}: {note}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory_checks", description=__doc__)
    parser.add_argument("--thorough", action="store_true", help="10x examples, full shape grid")
    parser.add_argument("-k", dest="keyword", default="", help="only checks whose name contains it")
    parser.add_argument("--examples", type=int, default=None, help="override examples per check")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    checks = [c for c in discover() if args.keyword.lower() in c.name.lower()]
    if not checks:
        print(f"no checks match {args.keyword!r}")
        return 1
    results = []
    for check in checks:
        result = run_check(check, thorough=args.thorough, examples=args.examples)
        status = "ok" if result.ok else "FAIL"
        print(f"[{status}] {check.name} ({result.seconds:.1f}s)", file=sys.stderr, flush=True)
        results.append(result)
    print(format_report(results))
    failed = [r.name for r in results if not r.ok]
    total = time.perf_counter() - t0
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed in {total:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
