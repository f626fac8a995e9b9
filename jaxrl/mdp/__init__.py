"""Exact finite MDPs: container, random generators and solvers (jittable, vmappable, float64-ready).

Call ``jax.config.update("jax_enable_x64", True)`` (or use ``with jax.enable_x64(True):``) for
the float64 accuracy the theory checks need; everything also runs in float32.
See :mod:`jaxrl.mdp.core` for the terminal-state convention and :mod:`jaxrl.mdp.solvers` for
the occupancy / return normalisations.
"""

from jaxrl.mdp.core import TabularMDP, validate_mdp
from jaxrl.mdp.finite_horizon import (
    FiniteHorizonSolution,
    finite_horizon,
    finite_horizon_evaluation,
)
from jaxrl.mdp.random import random_mdp, random_policy
from jaxrl.mdp.solvers import (
    discounted_visits,
    expected_return,
    greedy_policy,
    occupancy_measure,
    optimal_action_sets,
    policy_evaluation,
    policy_iteration,
    policy_transition,
    q_pi,
    q_values,
    softmax_policy,
    value_iteration,
)

__all__ = [
    "FiniteHorizonSolution",
    "TabularMDP",
    "discounted_visits",
    "expected_return",
    "finite_horizon",
    "finite_horizon_evaluation",
    "greedy_policy",
    "occupancy_measure",
    "optimal_action_sets",
    "policy_evaluation",
    "policy_iteration",
    "policy_transition",
    "q_pi",
    "q_values",
    "random_mdp",
    "random_policy",
    "softmax_policy",
    "validate_mdp",
    "value_iteration",
]
