"""The theory-check harness itself: mutation verdicts, NaN rule, counting, discovery, CLI, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st

from theory_checks import __main__ as cli
from theory_checks.harness import (
    Check,
    Mutation,
    as_pytest,
    mdp_cases,
    numpy_mdp,
    pad_mdp,
    run_check,
)


def _check(error, mutations=None, **kw):
    """Cases are integers 0..1000; the default mutation adds 2000, which ``error`` below flags."""
    if mutations is None:
        mutations = (Mutation("shift", "x <= 1000", mutate=lambda x: x + 2000),)
    return Check(
        name="t",
        theorem="test",
        strategy=st.integers(0, 1000),
        error=error,
        tolerance=0.5,
        mutations=mutations,
        **{"min_cases": 20, **kw},
    )


def _big(x):
    return float(x > 1000)


def test_passing_check_counts_cases_and_kills():
    r = run_check(_check(_big, margin=1.0))
    assert r.passed and r.property_ok and r.cases == 20 and r.worst_error == 0.0
    (m,) = r.mutations
    assert m.ok and m.cases == 20 and m.kill_rate == 1.0 and m.median_error == 1.0


def test_margin_is_enforced_on_the_median():
    # every mutated case is violated (error 1 > 0.5), but 1 < 100 x 0.5
    r = run_check(_check(_big))
    assert not r.passed and r.property_ok
    assert "median error" in r.mutations[0].problem


def test_mutation_below_its_kill_rate_fails_the_check():
    # the mutation only breaks odd cases: kill rate ~0.5 < 0.9
    muts = (Mutation("odd", "x even", mutate=lambda x: x + 2000 * (x % 2), min_kill_rate=0.9),)
    r = run_check(_check(_big, muts, margin=1.0))
    assert r.property_ok and not r.passed
    assert r.mutations[0].kill_rate < 0.9 and "kill rate" in r.mutations[0].problem


def test_toothless_mutation_fails_the_check():
    muts = (Mutation("noop", "nothing", mutate=lambda x: x),)
    r = run_check(_check(_big, muts, margin=1.0))
    assert r.property_ok and not r.passed and r.mutations[0].kill_rate == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_or_inf_is_never_a_pass_nor_a_kill(bad):
    r = run_check(_check(lambda x: bad))
    assert not r.passed and not r.property_ok and "NaN/inf" in r.problem
    # a mutation whose error is NaN is not "failed as expected": the check fails
    r = run_check(_check(lambda x: bad if x > 1000 else 0.0, margin=1.0))
    assert r.property_ok and not r.passed
    assert r.mutations[0].kill_rate == 0.0 and "NaN/inf" in r.mutations[0].problem


def test_assumed_away_cases_are_discarded_not_counted():
    seen = []

    def error(x):
        seen.append(x)
        assume(x % 2 == 0)
        return _big(x)

    r = run_check(_check(error, margin=1.0))
    assert r.passed and r.cases == 20 and r.discarded > 0 and len(seen) > r.cases


def test_mutated_case_rejected_by_assume_survives():
    def error(x):
        assume(x < 1500)  # rejects mutated cases x + 1000 >= 1500
        return _big(x)

    r = run_check(_check(error, margin=1.0))
    m = r.mutations[0]
    assert m.discarded > 0 and m.killed + m.discarded == m.cases


def test_too_few_accepted_cases_fail():
    check = Check(
        name="few",
        theorem="t",
        strategy=st.sampled_from([0, 1, 2]),
        error=lambda x: 0.0,
        tolerance=0.5,
        mutations=(Mutation("m", "b", mutate=lambda x: x),),
        min_cases=50,
    )
    r = run_check(check)
    assert not r.property_ok and "accepted cases" in r.problem


def test_failing_property_is_reported_with_minimal_case():
    r = run_check(_check(lambda x: float(x >= 10)))
    assert not r.passed and not r.property_ok
    assert r.failing_case == "10" and "property violated" in r.problem


def test_crash_is_a_failure():
    r = run_check(_check(lambda x: 1 / 0))
    assert not r.passed and "ZeroDivisionError" in r.problem


def test_strategy_mutation_uses_the_same_error():
    calls = []

    def error(x):
        calls.append(x)
        return _big(x)

    muts = (Mutation("own", "x <= 1000", strategy=st.integers(2000, 3000), cases=15),)
    r = run_check(_check(error, muts, margin=1.0))
    assert r.passed and r.mutations[0].cases == 15 and r.mutations[0].kill_rate == 1.0
    assert sum(c >= 2000 for c in calls) >= 15


def test_check_and_mutation_validation():
    with pytest.raises(ValueError, match="no mutation"):
        _check(_big, mutations=())
    with pytest.raises(ValueError, match="exactly one"):
        Mutation("m", "b")
    with pytest.raises(ValueError, match="min_kill_rate"):
        Mutation("m", "b", mutate=lambda x: x, min_kill_rate=0.0)


def test_thorough_and_cases_override():
    assert run_check(_check(_big, margin=1.0), thorough=True).cases == 200
    assert run_check(_check(_big, margin=1.0), cases=7).cases == 7


def test_as_pytest_name_and_behaviour():
    test = as_pytest(_check(_big, margin=1.0))
    assert test.__name__ == "test_t"
    test()
    with pytest.raises(AssertionError, match="median error"):
        as_pytest(_check(_big))()


def test_padding_is_exact_on_the_real_states():
    import jax

    from jaxrl.mdp import occupancy_measure, policy_iteration

    with jax.enable_x64(True):
        mdp = numpy_mdp(seed=3, n_states=4, n_actions=3, gamma=0.9, n_terminal=1)
        big = pad_mdp(mdp, 9)
        V, _, pi = policy_iteration(mdp)
        V2, _, pi2 = policy_iteration(big)
        np.testing.assert_allclose(np.asarray(V2)[:4], np.asarray(V), atol=1e-12)
        np.testing.assert_array_equal(np.asarray(pi2)[:4], np.asarray(pi))
        mu2 = np.asarray(occupancy_measure(big, pi2))
        assert abs(mu2.sum() - 1) < 1e-12 and np.all(mu2[4:] == 0)


def test_mdp_cases_cover_shapes_and_are_reproducible():
    seen = []
    check = Check(
        name="cases",
        theorem="t",
        strategy=mdp_cases(),
        error=lambda c: seen.append((c.seed, c.n_states, c.n_actions, c.gamma, c.n_padded)) or 0.0,
        tolerance=0.0,
        mutations=(Mutation("m", "b", mutate=lambda c: c),),
        min_cases=60,
    )
    run_check(check)
    first, seen[:] = list(seen), []
    run_check(check)
    assert seen == first  # derandomised, no example database
    shapes = {(S, A) for _, S, A, _, _ in first}
    assert len(shapes) >= 15 and all(2 <= S <= 12 and 2 <= A <= 5 for S, A in shapes)
    assert all(0.0 <= g <= 0.999 and n == 12 for *_, g, n in first)


def test_cli_filters_exit_code_and_json(capsys, tmp_path):
    path = tmp_path / "report.json"
    assert cli.main(["-k", "0e validate", "--cases", "5", "--no-cache", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "0e validate_mdp" in out and "kill rate" in out and "1/1 checks passed" in out
    (obj,) = json.loads(path.read_text())
    assert obj["passed"] and obj["cases"] == 5 and obj["theorem"]
    assert {"name", "breaks", "kill_rate", "median_error"} <= set(obj["mutations"][0])
    assert cli.main(["-k", "no such check", "--no-cache"]) == 1
    names = [c.name for c in cli.discover()]
    assert len(names) == len(set(names))
