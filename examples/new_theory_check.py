"""A new theory check, run through the theory-check harness (:mod:`theory_checks.harness`).

Property: scaling every reward by one constant c > 0 scales the optimal values by c,
``Q*_{cR} = c·Q*_R`` (so the optimal policy is unchanged; Ng, Harada & Russell 1999, §2). It is
checked on random finite MDPs (:func:`~theory_checks.harness.mdp_cases`: S ∈ [2, 12], A ∈ [2, 5],
γ ∈ [0, 0.999], 0-2 absorbing terminals), the reward table going through the library's own
:func:`jaxrl.shaping.scale` transform (:func:`~jaxrl.shaping.apply_to_table`), Q* by exact policy
iteration. error = ``max |Q*_{cR} − c·Q*_R| / (1 + |c|·‖Q*_R‖∞)`` on live states, tolerance 1e-9.

Mutations (each breaks one assumption; the same error must then exceed the tolerance):

* **negative scale**: c → −c (breaks c > 0: ``max_a`` does not commute with a negative factor);
  it survives only where γ ≈ 0 (hypothesis tries γ = 0 early): then Q* = R for any scale;
* **state-dependent scale**: c → c·u(s), u(s) ~ U(0.2, 5) (breaks "one constant c").

    python -m examples.new_theory_check            # 50 cases, as `python -m theory_checks` runs it
    python -m examples.new_theory_check --smoke    # 10 cases (what CI runs)

It runs standalone. To make it part of the suite, move ``CHECK`` into
``theory_checks/check_<name>.py`` and bind ``test_<name> = as_pytest(CHECK)`` there:
``python -m theory_checks`` (and pytest) discover every module-level ``Check`` of those modules.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import policy_iteration, q_values
from jaxrl.shaping import apply_to_table, scale
from theory_checks.__main__ import format_report
from theory_checks.harness import Check, MDPCase, Mutation, mdp_cases, run_check


class ScaleCase(NamedTuple):
    """A random MDP and the reward scale: ``c`` times ``per_state [S]`` (ones for the property)."""

    base: MDPCase
    c: float
    per_state: np.ndarray


@st.composite
def scale_cases(draw) -> ScaleCase:
    base = draw(mdp_cases())
    return ScaleCase(base, draw(st.floats(0.1, 10.0)), np.ones(base.n_padded))


def _optimal_q(mdp) -> np.ndarray:
    """``Q* [S, A]`` by exact policy iteration (jitted: one compile per padded shape)."""
    return np.asarray(q_values(mdp, policy_iteration(mdp).V))


def scale_error(case: ScaleCase) -> float:
    """``max |Q*_{cR} − c·Q*_R|`` over live states, relative to ``1 + |c|·‖Q*_R‖∞``."""
    mdp, live = case.base.mdp, case.base.live
    params = (case.c * case.per_state)[:, None, None]  # broadcasts over the [S, A, S'] table
    scaled = mdp.replace(R=apply_to_table(scale(), mdp.R, mdp.gamma, mdp.terminal_mask, params))
    q, q_scaled = _optimal_q(mdp), _optimal_q(scaled)
    gap = np.abs(q_scaled - case.c * q)[live]
    return float(gap.max() / (1.0 + abs(case.c) * np.abs(q[live]).max()))


def _state_dependent(case: ScaleCase) -> ScaleCase:
    u = case.base.rng(stream=7).uniform(0.2, 5.0, case.base.n_padded)
    return case._replace(per_state=u)


CHECK = Check(
    name="example: positive reward scaling",
    theorem="Q*_{cR} = c Q*_R for c > 0 (Ng, Harada & Russell 1999, section 2)",
    strategy=scale_cases(),
    error=scale_error,
    tolerance=1e-9,
    mutations=(
        Mutation("negative scale", "c > 0", mutate=lambda case: case._replace(c=-case.c)),
        Mutation("state-dependent scale", "one constant c", mutate=_state_dependent),
    ),
    description="Scaling all rewards by a constant c > 0 scales Q* by c.",
)

if __name__ == "__main__":
    result = run_check(CHECK, cases=10 if "--smoke" in sys.argv else None)
    print(format_report([result]))
    sys.exit(0 if result.passed else 1)
