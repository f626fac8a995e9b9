"""Every malformed input gives a clear error naming the bad value or file (issue 13).

The cases live in ``tests/bad_input/<area>.py``; each asserts the exception type, that the message
names the bad value, and that the error is raised by our own code (not deep inside jax, zipfile or
tensorstore).
"""

from __future__ import annotations

import importlib
import inspect

import pytest
from bad_input.case import Case, raised_by_us

AREAS = ("trainers", "exact", "envs", "runs")
CASES: list[Case] = [
    c for area in AREAS for c in getattr(importlib.import_module(f"bad_input.{area}"), "CASES", [])
]


def test_there_are_at_least_63_cases_with_unique_names():
    assert len(CASES) >= 63, len(CASES)
    assert len({c.name for c in CASES}) == len(CASES)


# Cases that compile a whole vmapped training run (~10 s cold) are in the heavy tier.
HEAVY = {"trainer-ppo-pbrs-gamma-mismatch-jit-vmap"}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name, marks=[pytest.mark.heavy] * (c.name in HEAVY)) for c in CASES],
)
def test_bad_input_raises_a_clear_error(case: Case, tmp_path):
    args = (tmp_path,) if case.needs_tmp or inspect.signature(case.run).parameters else ()
    with pytest.raises(case.error) as info:
        case.run(*args)
    message = str(info.value)
    for name in case.names:
        assert name in message, f"{case.name}: {name!r} not in {message!r}"
    assert raised_by_us(info.value), f"{case.name}: raised outside our code:\n{info.getrepr()}"
