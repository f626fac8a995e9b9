"""The paper's claims (papers.md §2.4, issue 15), computed from the reported runs' data.

**Normalised score** (the paper's Table 1 form): for method ``m`` on task ``t`` (env × aux),

    s = (IQM_m − floor_t) / (IQM_primary − floor_t)

with the IQMs over the report seeds of the final-window primary return and ``floor_t`` the
return of never succeeding (tasks.FLOOR), so 1 is primary-only's level and 0 is failure. Its
95% CI resamples the seeds of ``m`` and of primary-only independently (2000 bootstrap
resamples, seed 0; percentile interval). A task is *informative* when primary-only learned:
its IQM CI lower bound lies above the floor by at least ``MIN_LEARNED`` × the task's return
scale (tasks.SCALE); otherwise the ratio has no meaning (MountainCar's sparse reward is rarely
reached in a short budget) and the task is left out of the claims.

**Verdict rules** (declared here; the numbers come from the data):

* (a) naive fails with bad aux on every informative task: CI upper bound of ``s`` < ``FAIL``;
* (b) the paper's PBRS form (``pbrs``) fails with bad aux on at least one task: same rule;
* (c) BARFI with bad aux reaches ≥ ``RECOVER`` of primary-only on every informative task: CI
  lower bound ≥ ``RECOVER`` (checked for each BARFI variant);
* (d) with good aux, BARFI ≥ primary-only on at least two tasks: CI upper bound of ``s`` ≥ 1
  (not significantly below primary-only), for each BARFI variant.

Each claim is a :class:`jaxrl.experiment.claims.Claim` (one CI-bound check per task, combined):
"reproduced" when enough tasks pass, "partial" when some but not enough do, "not reproduced" when
none does, "not testable" with no informative task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.barfi.methods import PRIMARY, barfi_methods
from experiments.barfi.tasks import FLOOR, SCALE
from jaxrl.analysis.stats import iqm
from jaxrl.experiment.claims import Check, Claim, Estimate, ci_bound, claims_caption, combine

FAIL = 0.5
RECOVER = 0.8
#: primary-only must beat the floor by this fraction of the floor's scale (or 1 return unit)
MIN_LEARNED = 0.1
"""primary-only "learned": its IQM CI lower bound is this fraction of the task's SCALE above the
floor (1 return unit where there is no SCALE). A fixed 1 unit could never count MountainCar,
whose return is a 0/1 success."""
N_BOOT = 2000


def normalised(x: np.ndarray, ref: np.ndarray, floor: float, seed: int = 0) -> dict[str, float]:
    """``(IQM(x) − floor) / (IQM(ref) − floor)`` with a bootstrap CI over both samples' seeds."""
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    rng = np.random.default_rng(seed)
    bx = iqm(x[rng.integers(0, len(x), (N_BOOT, len(x)))], 1)
    br = iqm(ref[rng.integers(0, len(ref), (N_BOOT, len(ref)))], 1)
    den = br - floor
    ratio = np.where(np.abs(den) > 1e-12, (bx - floor) / np.where(den == 0, 1, den), np.nan)
    lo, hi = np.nanpercentile(ratio, [2.5, 97.5]) if np.isfinite(ratio).any() else (np.nan,) * 2
    point = (iqm(x) - floor) / (iqm(ref) - floor) if iqm(ref) != floor else np.nan
    return {"point": float(point), "lo": float(lo), "hi": float(hi)}


def iqm_ci(x: np.ndarray, seed: int = 0) -> dict[str, float]:
    x = np.asarray(x, np.float64)
    rng = np.random.default_rng(seed)
    b = iqm(x[rng.integers(0, len(x), (N_BOOT, len(x)))], 1)
    lo, hi = np.percentile(b, [2.5, 97.5])
    return {"point": float(iqm(x)), "lo": float(lo), "hi": float(hi), "n": len(x)}


def table(scores: dict[tuple[str, str], dict[str, np.ndarray]]) -> dict[str, Any]:
    """``scores[(env, aux)][method] = final returns [seeds]`` -> per (env, aux): the raw IQM [CI]
    and normalised score [CI] of each method, and whether the task is informative."""
    out = {}
    for (env, aux), by_method in scores.items():
        ref = by_method.get(PRIMARY)
        floor = FLOOR[env]
        row: dict[str, Any] = {"raw": {m: iqm_ci(v) for m, v in by_method.items()}}
        if ref is not None:
            r = row["raw"][PRIMARY]
            scale = SCALE.get(env) or 1.0 / MIN_LEARNED
            row["informative"] = bool(r["lo"] - floor >= MIN_LEARNED * scale)
            row["normalised"] = {m: normalised(v, ref, floor) for m, v in by_method.items()}
        else:
            row["informative"], row["normalised"] = False, {}
        out[f"{env}/{aux}"] = row
    return out


PAPER = "BARFI (Gupta, Chandak, Jordan, Thomas, da Silva; NeurIPS'23)"
EXPERIMENT = "barfi"


def _estimate(s: dict[str, float], n: int) -> Estimate:
    return Estimate(s["point"], s["lo"], s["hi"], n)


def claims(tab: dict[str, Any]) -> list[Claim]:
    """Claims (a)-(d) from :func:`table` as :class:`~jaxrl.experiment.claims.Claim` records: the
    quantities are the normalised scores of the claim's method on each informative task (n: the
    method's report seeds), the verdict is :func:`~jaxrl.experiment.claims.combine` of one
    CI-bound check per task ("every task" or "at least k tasks")."""

    def tasks(aux):
        return {k: v for k, v in tab.items() if k.endswith(f"/{aux}") and v["informative"]}

    bad, good = tasks("bad"), tasks("good")
    skipped = sorted(k for k, v in tab.items() if not v["informative"])
    methods = sorted({m for v in tab.values() for m in v["normalised"]})
    out: list[Claim] = []

    def add(tag, statement, method, ts, limit, op, bound, need):
        q = {k: _estimate(v["normalised"][method], v["raw"][method]["n"])
             for k, v in ts.items() if method in v["normalised"]}  # fmt: skip
        checks = {k: ci_bound(f"normalised {method}", e, limit, op, bound) for k, e in q.items()}
        check = combine(checks, need)
        if skipped:
            check = Check(check.verdict, f"{check.detail} (not informative: {', '.join(skipped)})")
        which = "upper" if limit == "hi" else "lower"
        where = "every informative task" if need == "all" else f"at least {need} informative task"
        rule = f"{which} CI limit of the normalised score {op} {bound:g} on {where}" + (
            "s" if need not in ("all", 1) else ""
        )
        out.append(Claim.from_check(f"{EXPERIMENT}.{tag}", EXPERIMENT, PAPER, statement, q, rule,
                                    check))  # fmt: skip

    if "naive" in methods:
        add("a", "The naive sum r_p + r_aux fails with a misaligned (bad) aux reward on every "
            "task.", "naive", bad, "hi", "<", FAIL, "all")  # fmt: skip
    if "pbrs" in methods:
        add("b", "Potential-based shaping with the bad aux as potential fails on at least one "
            "task.", "pbrs", bad, "hi", "<", FAIL, 1)  # fmt: skip
    for m in barfi_methods(methods):
        add(f"c.{m}", f"{m} recovers primary-only performance with the bad aux on every task.",
            m, bad, "lo", ">=", RECOVER, "all")  # fmt: skip
        add(f"d.{m}", f"{m} is not worse than primary-only with the good aux on at least two "
            "tasks.", m, good, "hi", ">=", 1.0, 2)  # fmt: skip
    return out


def fmt(s: dict[str, float], digits: int = 2) -> str:
    return f"{s['point']:.{digits}f} [{s['lo']:.{digits}f}, {s['hi']:.{digits}f}]"


def report_lines(tab: dict[str, Any], cl: list[Claim]) -> list[str]:
    """Console lines: the table (raw IQM [CI] and normalised) and the claims."""
    lines = []
    for task, row in tab.items():
        flag = "" if row["informative"] else "  (primary-only did not learn: not in the claims)"
        lines.append(f"  {task}{flag}")
        for m, r in row["raw"].items():
            n = row["normalised"].get(m)
            lines.append(f"    {m:>20}: IQM {fmt(r, 1):>28}   normalised {fmt(n) if n else '-'}")
    lines += ["  " + line for line in claims_caption(cl).splitlines()]
    return lines
