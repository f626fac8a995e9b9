"""Bad inputs to the exact layer (issue 13, item 2): invalid MDPs, solvers, potential tables.

Before the fix, ``validate=False`` / direct ``TabularMDP(...)`` MDPs went silently through every
solver (rows summing to 0.8 gave μ summing to 0.8, γ = 1.5 gave μ summing to −2, γ = 1 without a
terminal made value iteration return its 1e5 iteration cap), zero actions passed
``validate_mdp``, and a potential table of the wrong length was truncated or gave NaN.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from bad_input.case import Case
from jaxrl.envs.tabular import TabularEnv
from jaxrl.mdp import (
    TabularMDP,
    finite_horizon,
    occupancy_measure,
    policy_evaluation,
    policy_iteration,
    validate_mdp,
    value_iteration,
)
from jaxrl.regularizers.exact_ascent import tabular_fns
from jaxrl.shaping import add_channel, apply_to_table, potential_based, potential_from_table
from jaxrl.shaping.transform import Transition

S, A = 3, 2


def _P():
    P = np.zeros((S, A, S))
    P[0, :, 1] = 1.0
    P[1, :, 2] = 1.0
    P[2, :, 2] = 1.0  # s2 absorbing
    return P


def _fields(**changes):
    f = dict(
        P=_P(),
        R=np.ones((S, A, S)),
        gamma=np.float64(0.9),
        init_dist=np.full(S, 1 / S),
        terminal_mask=np.zeros(S, bool),
    )
    f.update(changes)
    return f


def _unvalidated(**changes):
    return TabularMDP(**_fields(**changes), validate=False)


def _short_rows():
    P = _P()
    P[0, 1] *= 0.8
    return P


def _negative():
    P = _P()
    P[1, 0] = [-0.2, 0.2, 1.0]
    return P


_PI = np.full((S, A), 1 / A)


def _tr(channels):
    z = jnp.zeros(2)
    return Transition(z, z, z, z, z > 0, z > 0, z, channels, z)


def _add_bogus():
    t = add_channel("bogus")
    return t.apply((), (), _tr({"outcome": jnp.ones(2), "prm": jnp.ones(2)}))


CASES: list[Case] = [
    # --- construction (validation on by default) ---
    Case(
        "exact-rows-0.8-direct-construction",
        lambda: TabularMDP(**_fields(P=_short_rows())),
        ValueError,
        ("P[s=0, a=1, :]", "0.8"),
    ),
    Case(
        "exact-negative-probability",
        lambda: TabularMDP.create(_negative(), np.zeros((S, A, S)), 0.9),
        ValueError,
        ("P[s=1, a=0, s'=0]", "-0.2", "negative"),
    ),
    Case(
        "exact-gamma-negative",
        lambda: TabularMDP.create(_P(), np.zeros((S, A, S)), -0.1),
        ValueError,
        ("gamma = -0.1", "[0, 1]"),
    ),
    Case(
        "exact-gamma-1.5",
        lambda: TabularMDP(**_fields(gamma=np.float64(1.5))),
        ValueError,
        ("gamma = 1.5", "[0, 1]"),
    ),
    Case(
        "exact-zero-actions",
        lambda: TabularMDP.create(np.zeros((S, 0, S)), np.zeros((S, 0, S)), 0.9),
        ValueError,
        ("(3, 0, 3)", "at least 1 action"),
    ),
    Case(
        "exact-zero-states",
        lambda: TabularMDP.create(np.zeros((0, A, 0)), np.zeros((0, A, 0)), 0.9),
        ValueError,
        ("(0, 2, 0)", "at least 1 state"),
    ),
    Case(
        "exact-validate-zero-actions",
        lambda: validate_mdp(_unvalidated(P=np.zeros((S, 0, S)), R=np.zeros((S, 0, S)))),
        ValueError,
        ("(3, 0, 3)", "at least 1 action"),
    ),
    Case(
        "exact-P-R-shape-mismatch-create",
        lambda: TabularMDP.create(_P(), np.zeros((4, A)), 0.9),
        ValueError,
        ("R has shape (4, 2)", "(3, 2, 3)"),
    ),
    Case(
        "exact-init-dist-not-a-distribution",
        lambda: TabularMDP.create(_P(), np.zeros((S, A, S)), 0.9, init_dist=[0.5, 0.2, 0.1]),
        ValueError,
        ("init_dist sums to 0.8", "expected 1"),
    ),
    Case(
        "exact-nan-reward",
        lambda: TabularMDP.create(_P(), np.where(_P() > 0, np.nan, 0.0), 0.9),
        ValueError,
        ("R[s=0, a=0, s'=1]", "nan", "not finite"),
    ),
    Case(
        "exact-P-wrong-dtype",
        lambda: TabularMDP.create(np.full((S, A, S), "a"), np.zeros((S, A, S)), 0.9),
        TypeError,
        ("P has dtype <U1", "real"),
    ),
    Case(
        "exact-terminal-mask-not-bool",
        lambda: TabularMDP.create(_P(), np.zeros((S, A, S)), 0.9, terminal_mask=[0, 0.5, 1]),
        ValueError,
        ("terminal_mask", "0.5", "bool"),
    ),
    Case(
        "exact-terminal-mask-shape",
        lambda: TabularMDP(**_fields(terminal_mask=np.zeros(4, bool))),
        ValueError,
        ("terminal_mask has shape (4,)", "(3,)"),
    ),
    # --- solvers on unvalidated MDPs (validate=False) ---
    Case(
        "exact-rows-0.8-validate-false-occupancy",
        lambda: occupancy_measure(_unvalidated(P=_short_rows()), _PI),
        ValueError,
        ("occupancy_measure", "P[s=0, a=1, :]", "0.8"),
    ),
    Case(
        "exact-gamma-1.5-validate-false-occupancy",
        lambda: occupancy_measure(_unvalidated(gamma=np.float64(1.5)), _PI),
        ValueError,
        ("occupancy_measure", "gamma = 1.5", "[0, 1]"),
    ),
    Case(
        "exact-gamma-negative-validate-false-policy-evaluation",
        lambda: policy_evaluation(_unvalidated(gamma=np.float64(-0.1)), _PI),
        ValueError,
        ("policy_evaluation", "gamma = -0.1"),
    ),
    Case(
        "exact-gamma-1-no-terminal-value-iteration",
        lambda: value_iteration(_unvalidated(gamma=np.float64(1.0))),
        ValueError,
        ("value_iteration", "gamma = 1", "no terminal state"),
    ),
    Case(
        "exact-gamma-1-no-terminal-policy-evaluation",
        lambda: policy_evaluation(_unvalidated(gamma=np.float64(1.0)), _PI),
        ValueError,
        ("policy_evaluation", "gamma = 1", "no terminal state"),
    ),
    Case(
        "exact-gamma-1-improper-policy",
        lambda: policy_evaluation(
            TabularMDP.create(
                np.stack([np.eye(S), _P().transpose(1, 0, 2)[0]], axis=1),
                np.zeros((S, A, S)),
                1.0,
                terminal_mask=[False, False, True],
            ),
            np.eye(A)[[0, 0, 0]],  # action 0 stays put forever
        ),
        ValueError,
        ("policy_evaluation", "improper", "s=0", "singular"),
    ),
    Case(
        "exact-P-R-shape-mismatch-validate-false",
        lambda: policy_iteration(_unvalidated(R=np.zeros((S, A, 4)))),
        ValueError,
        ("policy_iteration", "R has shape (3, 2, 4)", "(3, 2, 3)"),
    ),
    Case(
        "exact-finite-horizon-rows-0.8",
        lambda: finite_horizon(_short_rows(), np.zeros((S, A, S)), horizon=3),
        ValueError,
        ("finite_horizon", "sums to 0.8"),
    ),
    Case(
        "exact-finite-horizon-R-shape",
        lambda: finite_horizon(_P(), np.zeros((S, A, 4)), horizon=3),
        ValueError,
        ("finite_horizon", "R has shape (3, 2, 4)", "(3, 2, 3)"),
    ),
    Case(
        "exact-finite-horizon-negative-horizon",
        lambda: finite_horizon(_P(), np.zeros((S, A, S)), horizon=-2),
        ValueError,
        ("finite_horizon", "horizon = -2"),
    ),
    Case(
        "exact-tabular-env-rows-0.8",
        lambda: TabularEnv(_unvalidated(P=_short_rows())),
        ValueError,
        ("TabularEnv", "P[s=0, a=1, :]", "0.8"),
    ),
    Case(
        "exact-ascent-gamma-1",
        lambda: tabular_fns(
            TabularMDP.create(_P(), np.zeros((S, A, S)), 1.0, terminal_mask=[False, False, True])
        ),
        ValueError,
        ("tabular_fns", "gamma = 1.0", "< 1"),
    ),
    # --- potential tables and channels ---
    Case(
        "exact-potential-table-too-long",
        lambda: apply_to_table(
            potential_based(potential_from_table(np.arange(S + 2.0))), np.zeros((S, A, S)), 0.9
        ),
        ValueError,
        ("5 entries", "3 states"),
    ),
    Case(
        "exact-potential-table-too-short",
        lambda: apply_to_table(
            potential_based(potential_from_table(np.arange(S - 1.0))), np.zeros((S, A, S)), 0.9
        ),
        ValueError,
        ("2 entries", "3 states"),
    ),
    Case(
        "exact-potential-table-n-states",
        lambda: potential_from_table(np.arange(4.0), n_states=S),
        ValueError,
        ("4 entries", "3 states"),
    ),
    Case(
        "exact-potential-table-2d",
        lambda: potential_from_table(np.zeros((S, 2))),
        ValueError,
        ("potential_from_table", "(3, 2)"),
    ),
    Case(
        "exact-add-channel-bogus",
        _add_bogus,
        KeyError,
        ("'bogus'", "outcome", "prm"),
    ),
]
