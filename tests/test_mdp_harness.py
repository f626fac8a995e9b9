"""The theory-check harness itself: counting, failure reporting, discovery, CLI exit codes."""

from __future__ import annotations

import math

from hypothesis import assume
from hypothesis import strategies as st

from theory_checks import __main__ as cli
from theory_checks.harness import Check, as_pytest, mdp_cases, run_check


def _check(error, counterexample=lambda: 1.0, **kw):
    return Check(
        name="t",
        strategy=st.integers(0, 1000),
        error=error,
        tolerance=0.5,
        counterexample=counterexample,
        **{"examples": 20, **kw},
    )


def test_passing_check_counts_examples():
    r = run_check(_check(lambda x: 0.0))
    assert r.ok and r.property_ok and r.counterexample_failed
    assert r.cases == 20 and r.worst_error == 0.0 and r.counterexample_error == 1.0


def test_assumed_away_cases_are_not_counted():
    seen = []

    def error(x):
        seen.append(x)
        assume(x % 2 == 0)
        return 0.1

    r = run_check(_check(error))
    assert r.ok and r.cases == 20 and len(seen) > r.cases  # odd draws were rejected, not counted
    assert r.worst_error == 0.1


def test_failing_property_is_reported_with_minimal_case():
    r = run_check(_check(lambda x: float(x >= 10)))
    assert not r.ok and not r.property_ok
    assert r.worst_error == 1.0 and r.failing_case == "10"  # hypothesis shrinks to the boundary


def test_nan_error_fails_and_toothless_counterexample_fails_the_check():
    assert not run_check(_check(lambda x: math.nan)).property_ok
    r = run_check(_check(lambda x: 0.0, counterexample=lambda: 0.1))
    assert r.property_ok and r.counterexample_failed is False and not r.ok
    r = run_check(_check(lambda x: 0.0, counterexample=lambda: math.nan))
    assert r.counterexample_failed  # NaN never "holds", so the counterexample fails


def test_crashing_property_is_a_failure():
    r = run_check(_check(lambda x: 1 / 0))
    assert not r.ok and "ZeroDivisionError" in r.property_exception


def test_thorough_and_examples_override():
    assert run_check(_check(lambda x: 0.0), thorough=True).cases == 200
    assert run_check(_check(lambda x: 0.0), examples=7).cases == 7


def test_as_pytest_names_and_behaviour():
    prop, counter = as_pytest(_check(lambda x: 0.0))
    assert prop.__name__ == "test_t_property" and counter.__name__ == "test_t_counterexample"
    prop()
    counter()


def test_mdp_cases_are_float64_and_reproducible():
    seen = []
    check = Check(
        name="cases",
        strategy=mdp_cases(n_terminal=(0, 2)),
        error=lambda c: seen.append((c.seed, c.n_states, c.n_actions, c.gamma)) or 0.0,
        tolerance=0.0,
        counterexample=lambda: 1.0,
        examples=10,
    )
    assert run_check(check).ok
    first, seen[:] = list(seen), []
    run_check(check)
    assert seen == first  # derandomised, no example database
    assert all(2 <= S <= 12 and 2 <= A <= 5 and 0.5 <= g <= 0.99 for _, S, A, g in first)


def test_cli_filters_and_exit_code(capsys):
    assert cli.main(["-k", "0e validate", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "0e validate_mdp" in out and "counterex. error" in out and "1/1 checks passed" in out
    assert cli.main(["-k", "no such check"]) == 1
    names = [c.name for c in cli.discover()]
    assert "0a policy iteration exact and optimal" in names and len(names) == len(set(names))
