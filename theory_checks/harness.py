"""The theory-check harness: a theorem as a property over random cases, and mutations that break it.

A :class:`Check` bundles

* ``strategy``  a hypothesis strategy producing one *case* (draw integer seeds and build arrays
  from them, e.g. with :func:`mdp_cases`, so failures shrink well);
* ``error(case) -> float``  the worst violation of the property on that case, ``>= 0`` (for an
  inequality ``lhs <= rhs`` return ``max(0, lhs - rhs)``); call ``hypothesis.assume(...)`` inside
  to discard degenerate cases (counted as *discarded*, never as tried);
* ``tolerance``  the property holds on a case iff ``error <= tolerance``;
* ``mutations``  one or more :class:`Mutation`: each breaks one assumption of the theorem, either
  by ``mutate(case) -> case`` (run on *every accepted case*) or by a ``strategy`` of mutated cases
  of its own; the mutated cases go through the **same** ``error``. That is what shows the check
  has teeth: a broken ``error`` cannot pass both the property and its mutations.

A check passes iff

* the property holds on every case and at least ``min_cases`` cases were accepted (10x under
  ``--thorough``);
* every mutation is violated (``error > tolerance``) on at least ``min_kill_rate`` of its cases
  (default 0.5) and its median error is ``>= margin * tolerance`` (default margin 100);
* no error anywhere is NaN or inf (that is a harness error, never a pass or a kill), and nothing
  raised.

A mutated case rejected by ``assume`` counts as *survived* (not killed): a mutation cannot earn
its kill rate by being discarded. Hypothesis health checks are on.

Writing a check module ``theory_checks/check_<family>.py``::

    from theory_checks.harness import Check, Mutation, as_pytest, mdp_cases

    def _error(case):                       # case: MDPCase (seed, mdp, rng/policy helpers)
        ...
        return float(worst_violation)

    MY_CHECK = Check(
        name="1 PBRS Q-shift", theorem="Ng et al. 1999, Thm 1", strategy=mdp_cases(),
        error=_error, tolerance=1e-9,
        mutations=(Mutation("action bonus", "F is potential-based", mutate=_add_bonus),),
    )
    test_my_check = as_pytest(MY_CHECK)

Every module-level ``Check`` in a ``check_*.py`` module is discovered by ``python -m theory_checks``
(``--thorough``, ``-k SUBSTRING``, ``--cases N``, ``--json PATH``), which prints one row per check
and one per mutation under it, and exits non-zero if any check does not pass. pytest collects the
same modules through :func:`as_pytest`; set ``THEORY_CHECKS_THOROUGH=1`` for thorough counts.

Conventions that keep the suite fast and exact:

* Everything runs inside ``jax.enable_x64(True)`` (a context, so float32 code elsewhere in the
  same pytest process is unaffected): build jnp arrays inside ``error``/``mutate``, not at import
  time. Cases from :func:`mdp_cases` are float64.
* Hypothesis is derandomised with no example database, so runs are reproducible.
* Compilation dominates the run time (a compile costs ~0.2-0.6 s, a solve on a compiled shape
  ~0.1 ms): call the (already ``jax.jit``-ed) :mod:`jaxrl.mdp` solvers and do the glue in numpy,
  so that the jit cache is shared by all checks; ``python -m theory_checks`` also keeps XLA's
  persistent compilation cache (:func:`enable_compilation_cache`), so shapes compile once per
  machine, not once per run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import jax
import numpy as np
from hypothesis import settings
from hypothesis.errors import UnsatisfiedAssumption
from hypothesis.strategies import SearchStrategy

# The case strategies live in theory_checks.cases; re-exported so a check imports one module.
from theory_checks.cases import (  # noqa: F401
    FULL_SHAPES,
    PAD_STATES,
    MDPCase,
    dirichlet_rows,
    mdp_cases,
    numpy_mdp,
    pad_mdp,
)

THOROUGH_FACTOR = 10
DEFAULT_MIN_CASES = 50
DEFAULT_KILL_RATE = 0.5
DEFAULT_MARGIN = 100.0


class HarnessError(RuntimeError):
    """A NaN/inf error, a crash or too few cases: the check neither passed nor failed cleanly."""


@dataclass(frozen=True)
class Mutation:
    """A case transformation that breaks one assumption of the theorem.

    Exactly one of ``mutate`` (applied to every accepted case of the check) and ``strategy`` (its
    own mutated cases, for a break that needs a construction of its own) is given.

    Attributes:
      name: short name, e.g. ``"action bonus"``.
      breaks: the assumption it breaks, one line, e.g. ``"F = γΦ(s') − Φ(s)"``.
      mutate: ``case -> case``.
      strategy: hypothesis strategy of mutated cases.
      min_kill_rate: least fraction of cases on which the property must be violated.
      cases: number of cases drawn from ``strategy`` (default: the check's ``min_cases``).
    """

    name: str
    breaks: str
    mutate: Callable[[Any], Any] | None = None
    strategy: SearchStrategy | None = None
    min_kill_rate: float = DEFAULT_KILL_RATE
    cases: int | None = None

    def __post_init__(self):
        if (self.mutate is None) == (self.strategy is None):
            raise ValueError(f"mutation {self.name!r}: give exactly one of mutate= and strategy=")
        if not 0.0 < self.min_kill_rate <= 1.0:
            raise ValueError(
                f"mutation {self.name!r}: min_kill_rate {self.min_kill_rate} not in (0, 1]"
            )


@dataclass(frozen=True)
class Check:
    """One theorem: a property over random cases (``error <= tolerance``) and its mutations.

    ``attained``, if given, maps an accepted case to how close it comes to an inequality's bound
    (e.g. ``lhs / rhs``); the report shows its maximum, so a loose bound is visible.
    """

    name: str
    theorem: str
    strategy: SearchStrategy
    error: Callable[[Any], float]
    tolerance: float
    mutations: tuple[Mutation, ...]
    min_cases: int = DEFAULT_MIN_CASES
    margin: float = DEFAULT_MARGIN
    attained: Callable[[Any], float] | None = None
    description: str = ""

    def __post_init__(self):
        if not self.mutations:
            raise ValueError(f"check {self.name!r} has no mutation: nothing shows it has teeth")
        if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
            raise ValueError(
                f"check {self.name!r}: tolerance {self.tolerance} must be finite, >= 0"
            )
        if self.min_cases < 1:
            raise ValueError(f"check {self.name!r}: min_cases {self.min_cases} must be >= 1")
        names = [m.name for m in self.mutations]
        if len(set(names)) != len(names):
            raise ValueError(f"check {self.name!r}: duplicate mutation names {names}")


@dataclass
class MutationResult:
    name: str
    breaks: str
    min_kill_rate: float
    cases: int = 0
    killed: int = 0
    discarded: int = 0  # mutated cases rejected by ``assume`` (counted as survived)
    median_error: float = math.nan
    ok: bool = False
    problem: str = ""

    @property
    def kill_rate(self) -> float:
        return self.killed / self.cases if self.cases else 0.0


@dataclass
class CheckResult:
    """What one run of a check found; ``passed`` is what the report and the exit code use."""

    name: str
    theorem: str
    tolerance: float
    min_cases: int
    cases: int = 0
    discarded: int = 0
    worst_error: float = 0.0
    attained: float | None = None
    property_ok: bool = False
    failing_case: str = ""
    problem: str = ""  # why the property part did not pass (failure, crash, NaN, too few cases)
    mutations: list[MutationResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.property_ok and all(m.ok for m in self.mutations)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "theorem": self.theorem,
            "cases": self.cases,
            "min_cases": self.min_cases,
            "discarded": self.discarded,
            "worst_error": self.worst_error,
            "tolerance": self.tolerance,
            "attained": self.attained,
            "seconds": round(self.seconds, 3),
            "passed": self.passed,
            "problem": self.problem,
            "mutations": [
                {
                    "name": m.name,
                    "breaks": m.breaks,
                    "cases": m.cases,
                    "discarded": m.discarded,
                    "kill_rate": m.kill_rate,
                    "min_kill_rate": m.min_kill_rate,
                    "median_error": m.median_error,
                    "passed": m.ok,
                    "problem": m.problem,
                }
                for m in self.mutations
            ],
        }


def holds(error: float, tolerance: float) -> bool:
    """The property holds on a case iff ``error <= tolerance`` (``error`` is finite here)."""
    return bool(error <= tolerance)


def _settings(n: int, shrink: bool = True) -> settings:
    phases = [hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate]
    if shrink:
        phases.append(hypothesis.Phase.shrink)
    # Health checks stay on: a strategy that is too slow or an ``assume`` that filters too much
    # is reported as the check's problem, not hidden.
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        phases=phases,
    )


def required_cases(check: Check, thorough: bool = False, cases: int | None = None) -> int:
    """Accepted cases a run needs: ``cases`` if given, else ``min_cases`` (x10 if thorough)."""
    if cases is not None:
        return cases
    return check.min_cases * (THOROUGH_FACTOR if thorough else 1)


def _finite_error(check: Check, case: Any, what: str) -> float:
    err = float(check.error(case))
    if not math.isfinite(err):
        raise HarnessError(
            f"{check.name}: {what} error is {err} (NaN/inf is never a pass or a kill)"
        )
    if err < 0:
        raise HarnessError(f"{check.name}: {what} error {err} < 0 (errors are violations, >= 0)")
    return err


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def run_property(
    check: Check, n: int, result: CheckResult, *, shrink: bool = True
) -> dict[str, list[float]]:
    """Run the property on ``n`` accepted cases, filling ``result``.

    Each ``mutate`` mutation runs on every accepted case right after it (inside the hypothesis
    test, so ``assume`` in ``error`` works the same); returns their errors by mutation name.
    """
    state: dict[str, Any] = {"failed": False, "last": None}
    mutated: dict[str, list[float]] = {m.name: [] for m in check.mutations if m.mutate}
    by_name = {m.name: MutationResult(m.name, m.breaks, m.min_kill_rate) for m in check.mutations}
    result.mutations = [by_name[m.name] for m in check.mutations]
    accepted: list[Any] = []

    @hypothesis.given(check.strategy)
    @_settings(n, shrink)
    def prop(case):
        state["last"] = case  # hypothesis replays the minimal failing case last
        try:
            err = _finite_error(check, case, "property")
        except UnsatisfiedAssumption:
            if not state["failed"]:
                result.discarded += 1
            raise
        except Exception:
            state["failed"] = True
            raise
        if not holds(err, check.tolerance):
            state["failed"] = True
            raise AssertionError(f"error {err:.3e} > tolerance {check.tolerance:.1e}")
        if state["failed"]:  # a shrink replay after the first failure: judge, don't count
            return
        result.worst_error = max(result.worst_error, err)
        result.cases += 1
        accepted.append(case)
        for mutation in check.mutations:
            if mutation.mutate is not None:
                mutated[mutation.name].append(
                    _mutated_error(check, mutation, case, by_name[mutation.name])
                )

    try:
        prop()
    except AssertionError as e:
        result.problem = f"property violated: {e}"
    except Exception as e:  # noqa: BLE001 - a crash, NaN or health check is reported, not raised
        result.problem = _describe(e)
    else:
        if result.cases < n:
            result.problem = f"only {result.cases} accepted cases < {n} required"
        else:
            result.property_ok = True
    if not result.property_ok and state["failed"]:
        result.failing_case = repr(state["last"])[:500]
    if check.attained is not None and accepted:
        result.attained = max(float(check.attained(c)) for c in accepted)
    return mutated


def _judge_mutation(check: Check, m: MutationResult, errors: list[float]) -> None:
    m.cases = len(errors)
    m.killed = sum(not holds(e, check.tolerance) for e in errors)
    m.median_error = float(np.median(errors)) if errors else math.nan
    if m.problem:
        return
    need = check.margin * check.tolerance
    if not errors:
        m.problem = "no cases"
    elif m.kill_rate < m.min_kill_rate:
        m.problem = f"kill rate {m.kill_rate:.2f} < {m.min_kill_rate:.2f}"
    elif not m.median_error >= need:
        m.problem = f"median error {m.median_error:.2e} < {check.margin:g} x tolerance"
    else:
        m.ok = True


def _mutated_error(check: Check, mutation: Mutation, case: Any, m: MutationResult) -> float:
    """Error of one mutated case; a mutated case rejected by ``assume`` survives with error 0.

    A NaN/inf error or a crash is recorded as the mutation's problem (never a kill).
    """
    try:
        mutated = mutation.mutate(case) if mutation.mutate is not None else case
        return _finite_error(check, mutated, f"mutation {mutation.name!r}")
    except UnsatisfiedAssumption:
        m.discarded += 1
        return 0.0
    except Exception as e:  # noqa: BLE001
        if not m.problem:
            m.problem = _describe(e)
        return 0.0


def run_strategy_mutation(
    check: Check, mutation: Mutation, m: MutationResult, n: int, *, shrink: bool = False
) -> list[float]:
    """Errors of ``n`` cases drawn from a mutation's own strategy."""
    errors: list[float] = []

    @hypothesis.given(mutation.strategy)
    @_settings(n, shrink)
    def run(case):
        errors.append(_mutated_error(check, mutation, case, m))

    try:
        run()
    except Exception as e:  # noqa: BLE001 - a health check or crash of the strategy
        m.problem = m.problem or _describe(e)
    if len(errors) < n and not m.problem:
        m.problem = f"only {len(errors)} mutated cases < {n} required"
    return errors


def run_check(
    check: Check,
    thorough: bool = False,
    cases: int | None = None,
    *,
    shrink: bool = True,
    verdict_only: bool = False,
) -> CheckResult:
    """Run the property and every mutation of one check; never raises for a failing check.

    ``verdict_only``: stop as soon as the property fails (the check has failed; its own
    strategy mutations are not run), for callers that need only pass/fail (library mutants)."""
    n = required_cases(check, thorough, cases)
    result = CheckResult(check.name, check.theorem, check.tolerance, n)
    t0 = time.perf_counter()
    with jax.enable_x64(True):
        mutated = run_property(check, n, result, shrink=shrink)
        if verdict_only and not result.property_ok:
            result.seconds = time.perf_counter() - t0
            return result
        for mutation, m in zip(check.mutations, result.mutations, strict=True):
            if mutation.mutate is not None:
                errors = mutated[mutation.name]
            else:
                factor = THOROUGH_FACTOR if thorough else 1
                own = mutation.cases * factor if mutation.cases else n
                errors = run_strategy_mutation(check, mutation, m, own)
            _judge_mutation(check, m, errors)
    result.seconds = time.perf_counter() - t0
    return result


def failure_summary(result: CheckResult) -> str:
    """One line per problem of a check that did not pass."""
    lines = []
    if not result.property_ok:
        lines.append(f"property: {result.problem} ({result.cases} cases)")
        if result.failing_case:
            lines.append(f"  minimal failing case: {result.failing_case}")
    for m in result.mutations:
        if not m.ok:
            lines.append(f"mutation {m.name!r} ({m.breaks}): {m.problem}")
    return "\n".join(lines)


def _env_thorough() -> bool:
    return os.environ.get("THEORY_CHECKS_THOROUGH", "") not in ("", "0")


def as_pytest(check: Check) -> Callable[[], None]:
    """A pytest test function for a check module to bind at module level."""

    def test_check():
        result = run_check(check, thorough=_env_thorough())
        assert result.passed, f"{check.name}:\n{failure_summary(result)}"

    slug = "".join(c if c.isalnum() else "_" for c in check.name.lower()).strip("_")
    test_check.__name__ = test_check.__qualname__ = f"test_{slug}"
    test_check.__doc__ = f"{check.name} ({check.theorem}). {check.description}"
    return test_check


def enable_compilation_cache(path: str | None = None) -> str:
    """Keep XLA compiles on disk (``$JAX_COMPILATION_CACHE_DIR`` or ``~/.cache/jaxrl/xla``).

    The suite compiles each solver once per MDP shape; with the cache a second run on the same
    machine skips nearly all of it. Returns the directory used.
    """
    path = (
        path
        or os.environ.get("JAX_COMPILATION_CACHE_DIR")
        or os.path.join(os.path.expanduser("~"), ".cache", "jaxrl", "xla")
    )
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
