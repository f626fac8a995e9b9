"""The theory-check harness: a theorem as a property over random inputs, plus a counterexample.

A :class:`Check` bundles

* ``strategy``  a hypothesis strategy producing one *case* (draw integer seeds and build arrays
  from them, e.g. with :func:`mdp_cases`, so failures shrink well);
* ``error(case) -> float``  the worst violation of the property on that case, ``>= 0`` (for an
  inequality ``lhs <= rhs`` return ``max(0, lhs - rhs)``); call ``hypothesis.assume(...)`` inside
  to discard degenerate cases (they are not counted as tried);
* ``tolerance``  the property holds on a case iff ``error <= tolerance`` (NaN never holds);
* ``counterexample() -> float``  builds a case that breaks one assumption of the theorem and
  returns its error, which must exceed ``tolerance`` (this is what shows the check has teeth).

Writing a check module ``theory_checks/check_<family>.py``::

    from hypothesis import assume, strategies as st
    from theory_checks.harness import Check, as_pytest, mdp_cases

    def _error(case):                       # case: MDPCase (seed, mdp, rng/policy helpers)
        pi = case.policy(alpha=1.0)
        return float(...)                   # worst violation, numpy float64

    MY_CHECK = Check(name="1 PBRS Q-shift", strategy=mdp_cases(), error=_error,
                     tolerance=1e-9, counterexample=lambda: float(...), description="...")
    test_pbrs_property, test_pbrs_counterexample = as_pytest(MY_CHECK)

Every module-level ``Check`` in a ``check_*.py`` module is discovered by ``python -m theory_checks``
(flags: ``--thorough`` = 10x examples, ``-k SUBSTRING`` filters by name, ``--examples N``), which
prints a table (cases tried, worst error, tolerance, counterexample error and whether it failed,
time) and exits non-zero if a property exceeds its tolerance or a counterexample does not fail.
pytest collects the same modules (``python_files`` includes ``check_*.py``) through ``as_pytest``;
set ``THEORY_CHECKS_THOROUGH=1`` for the thorough example counts there.

Conventions that keep the suite fast (≈3 s per check on 2 CPU cores) and exact:

* Everything runs inside ``jax.enable_x64(True)`` (a context, so float32 code elsewhere in the
  same pytest process is unaffected): build jnp arrays inside ``error``/``counterexample``, not at
  import time. Cases from :func:`mdp_cases` are float64.
* Hypothesis is derandomised with no example database, so runs are reproducible.
* Compilation dominates the run time (a compile costs ~0.2-0.6 s, a solve on a compiled shape
  ~0.1 ms): call the (already ``jax.jit``-ed) :mod:`jaxrl.mdp` solvers and do the glue in
  numpy, rather than jitting a new composite per check, so that the jit cache is shared by all
  checks. :func:`mdp_cases` draws shapes from a small fixed set (``DEFAULT_SHAPES``) for the
  same reason; pass ``shapes=FULL_SHAPES`` for S ∈ [2, 12] × A ∈ [2, 5] at the cost of more
  compiles. Set ``JAX_COMPILATION_CACHE_DIR`` to reuse compiles across runs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import jax
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy

from jaxrl.mdp import TabularMDP

THOROUGH_FACTOR = 10
_MODE = {"thorough": False}  # read by strategies at draw time (set while a check runs)


@dataclass(frozen=True)
class Check:
    """One theorem: property over random cases (``error <= tolerance``) + a counterexample."""

    name: str
    strategy: SearchStrategy
    error: Callable[[Any], float]
    tolerance: float
    counterexample: Callable[[], float]
    examples: int = 50
    description: str = ""


@dataclass
class CheckResult:
    """What one run of a check found; ``ok`` is what the report and the exit code use."""

    name: str
    tolerance: float
    cases: int = 0
    worst_error: float = 0.0
    property_ok: bool = True
    failing_case: str = ""
    property_exception: str = ""
    counterexample_error: float = math.nan
    counterexample_failed: bool | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.property_ok and self.counterexample_failed is not False


def holds(error: float, tolerance: float) -> bool:
    """The property holds iff ``error <= tolerance``; NaN never holds."""
    return bool(error <= tolerance)


def _settings(n: int) -> settings:
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


def n_examples(check: Check, thorough: bool = False, examples: int | None = None) -> int:
    if examples is not None:
        return examples
    return check.examples * (THOROUGH_FACTOR if thorough else 1)


def run_property(check: Check, n: int, result: CheckResult, thorough: bool = False) -> None:
    """Run the property over ``n`` hypothesis examples, filling ``result`` (cases, worst error)."""
    state = {"failed": False}

    @hypothesis.given(check.strategy)
    @_settings(n)
    def prop(case):
        err = float(check.error(case))  # hypothesis.assume inside raises before counting
        if not state["failed"]:
            result.cases += 1  # shrink replays after the first failure are not counted
        if not (err <= result.worst_error) and not math.isnan(result.worst_error):
            result.worst_error = err
        if not holds(err, check.tolerance):
            state["failed"] = True
            result.failing_case = repr(case)
            raise AssertionError(
                f"{check.name}: error {err:.3e} > tolerance {check.tolerance:.1e} on {case!r}"
            )

    with jax.enable_x64(True):
        _MODE["thorough"] = thorough
        try:
            prop()
        except AssertionError:
            result.property_ok = False
        except Unsatisfiable as e:
            result.property_ok = False
            result.property_exception = f"Unsatisfiable: {e}"
        except Exception as e:  # noqa: BLE001 - report any crash of the property as a failure
            result.property_ok = False
            result.property_exception = f"{type(e).__name__}: {e}"
        finally:
            _MODE["thorough"] = False


def run_counterexample(check: Check) -> float:
    with jax.enable_x64(True):
        return float(check.counterexample())


def run_check(check: Check, thorough: bool = False, examples: int | None = None) -> CheckResult:
    """Run property and counterexample of one check; never raises for a failing check."""
    result = CheckResult(name=check.name, tolerance=check.tolerance)
    t0 = time.perf_counter()
    run_property(check, n_examples(check, thorough, examples), result, thorough)
    try:
        result.counterexample_error = run_counterexample(check)
        result.counterexample_failed = not holds(result.counterexample_error, check.tolerance)
    except Exception as e:  # noqa: BLE001
        result.counterexample_failed = False
        result.notes.append(f"counterexample raised {type(e).__name__}: {e}")
    result.seconds = time.perf_counter() - t0
    return result


def _env_thorough() -> bool:
    return os.environ.get("THEORY_CHECKS_THOROUGH", "") not in ("", "0")


def as_pytest(check: Check) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(test_property, test_counterexample)`` for a check module to bind at module level."""

    def test_property():
        result = CheckResult(name=check.name, tolerance=check.tolerance)
        run_property(check, n_examples(check, _env_thorough()), result, _env_thorough())
        assert result.property_ok, (
            f"{check.name}: worst error {result.worst_error:.3e} > tolerance "
            f"{check.tolerance:.1e} after {result.cases} cases "
            f"{result.property_exception} {result.failing_case}"
        )

    def test_counterexample():
        err = run_counterexample(check)
        assert not holds(err, check.tolerance), (
            f"{check.name}: counterexample error {err:.3e} <= tolerance {check.tolerance:.1e} "
            "(the check has no teeth)"
        )

    slug = "".join(c if c.isalnum() else "_" for c in check.name.lower()).strip("_")
    for fn, suffix in ((test_property, "property"), (test_counterexample, "counterexample")):
        fn.__name__ = fn.__qualname__ = f"test_{slug}_{suffix}"
        fn.__doc__ = f"{check.name}: {suffix}. {check.description}"
    return test_property, test_counterexample


# ----------------------------------------------------------------------------- MDP strategies
#: Shapes (S, A) drawn by default: the corners of S ∈ [2, 12] × A ∈ [2, 5] plus S ≠ A shapes
#: (which catch transposed axes), few enough that each jitted solver compiles ~4 times for the
#: whole suite (a compile costs ~0.2-0.6 s; a solve on a compiled shape ~0.1 ms). Under
#: ``--thorough`` (or THEORY_CHECKS_THOROUGH=1) ``mdp_cases()`` draws from ``FULL_SHAPES``.
DEFAULT_SHAPES: tuple[tuple[int, int], ...] = ((2, 2), (3, 5), (6, 3), (12, 5))
FULL_SHAPES: tuple[tuple[int, int], ...] = tuple((S, A) for S in range(2, 13) for A in range(2, 6))


def dirichlet_rows(
    rng: np.random.Generator, shape: Sequence[int], alpha: float = 1.0
) -> np.ndarray:
    """``[*shape]`` float64 array whose last axis are Dirichlet(α) rows (zero rows fixed up)."""
    g = rng.gamma(alpha, size=tuple(shape))
    g = np.where(g.sum(-1, keepdims=True) > 0, g, 1.0)
    return g / g.sum(-1, keepdims=True)


def numpy_mdp(
    seed: int,
    n_states: int,
    n_actions: int,
    gamma: float,
    sparsity_k: int | None = None,
    reward_scale: float = 1.0,
    n_terminal: int = 0,
) -> TabularMDP:
    """A float64 random MDP built with numpy from an integer seed (no compilation).

    Same distribution as :func:`jaxrl.mdp.random_mdp`: Dirichlet(1) rows (k-sparse if
    ``sparsity_k``), ``R ~ N(0, reward_scale²)``, ``n_terminal`` random absorbing zero-reward
    states, ``init_dist`` uniform over the non-terminal states. Its leaves are numpy float64
    arrays, so use it inside ``jax.enable_x64`` (as every check runs) or JAX will downcast them.
    """
    S, A = n_states, n_actions
    rng = np.random.default_rng([seed, 0])
    P = dirichlet_rows(rng, (S, A, S))
    if sparsity_k is not None and sparsity_k < S:
        keep = np.argsort(rng.random((S, A, S)), -1) < sparsity_k  # k random successors
        P = np.where(keep, dirichlet_rows(rng, (S, A, S)), 0.0)
        P /= P.sum(-1, keepdims=True)
    R = reward_scale * rng.standard_normal((S, A, S))
    term = np.zeros(S, bool)
    term[rng.permutation(S)[:n_terminal]] = True
    P[term] = np.eye(S)[term][:, None, :]
    R[term] = 0.0
    d0 = (~term).astype(np.float64) / (~term).sum()
    # numpy leaves: the jitted solvers take them as they are, and building jnp arrays here would
    # compile a tiny copy kernel per shape.
    return TabularMDP(
        P=P, R=R, gamma=np.asarray(gamma, np.float64), init_dist=d0, terminal_mask=term
    )


@dataclass(frozen=True)
class MDPCase:
    """One drawn MDP plus seeded helpers for the other random inputs of a check."""

    seed: int
    n_states: int
    n_actions: int
    gamma: float
    sparsity_k: int | None
    n_terminal: int
    mdp: TabularMDP = field(repr=False)

    def rng(self, stream: int) -> np.random.Generator:
        """An independent numpy generator per ``stream`` (stream 0 built the MDP)."""
        return np.random.default_rng([self.seed, stream])

    def policy(self, alpha: float = 1.0, stream: int = 1) -> np.ndarray:
        """``[S, A]`` Dirichlet(α) policy (α ∈ {0.3, 1, 5}; 5 = full-support reference)."""
        return dirichlet_rows(self.rng(stream), (self.n_states, self.n_actions), alpha)

    def potential(self, scale: float = 5.0, stream: int = 2) -> np.ndarray:
        """``[S]`` potential Φ ~ N(0, scale²), deliberately large (theory.md §0.1)."""
        return scale * self.rng(stream).standard_normal(self.n_states)


def mdp_cases(
    *,
    shapes: Sequence[tuple[int, int]] | None = None,
    gamma: tuple[float, float] = (0.5, 0.99),
    sparse: bool = True,
    reward_scale: float = 1.0,
    n_terminal: tuple[int, int] = (0, 0),
) -> SearchStrategy[MDPCase]:
    """Strategy of :class:`MDPCase` per theory.md §0.1.

    Args:
      shapes: (S, A) pairs to draw from; default ``DEFAULT_SHAPES``, or ``FULL_SHAPES`` in
        thorough mode.
      gamma: closed range of γ (``(1.0, 1.0)`` for episodic checks; then use terminals).
      sparse: also draw k-sparse transitions, k ∈ [1, S] (None = dense).
      reward_scale: standard deviation of ``R``.
      n_terminal: closed range of the number of terminal states (capped at S − 1).
    """

    @st.composite
    def build(draw):
        grid = (
            shapes if shapes is not None else FULL_SHAPES if _MODE["thorough"] else DEFAULT_SHAPES
        )
        S, A = draw(st.sampled_from(list(grid)))
        seed = draw(st.integers(0, 2**32 - 1))
        g = draw(st.floats(gamma[0], gamma[1])) if gamma[0] < gamma[1] else gamma[0]
        k = draw(st.one_of(st.none(), st.integers(1, S))) if sparse else None
        nt = draw(st.integers(min(n_terminal[0], S - 1), min(n_terminal[1], S - 1)))
        mdp = numpy_mdp(seed, S, A, g, k, reward_scale, nt)
        return MDPCase(seed, S, A, float(g), k, nt, mdp)

    return build()
