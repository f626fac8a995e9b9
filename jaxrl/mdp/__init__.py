"""Exact finite MDPs: container, random generators and solvers (jittable, vmappable, float64-ready).

Call ``jax.config.update("jax_enable_x64", True)`` (or use ``with jax.enable_x64(True):``) for
the float64 accuracy the theory checks need; everything also runs in float32.
See :mod:`jaxrl.mdp.core` for the terminal-state convention and :mod:`jaxrl.mdp.solvers` for
the occupancy / return normalisations.

One API style for every solver (dense, finite-horizon and :mod:`jaxrl.mdp.sparse`):

* **Control** solvers (:func:`value_iteration`, :func:`policy_iteration`, :func:`finite_horizon`,
  :func:`~jaxrl.mdp.sparse.finite_horizon_sparse`) return a :class:`Solution` ``(V, Q, pi)``, a
  NamedTuple: read ``sol.V``, ``sol.pi``, or unpack ``V, Q, pi = value_iteration(mdp)``.
* **Evaluation** of a given policy returns ``V`` (:func:`policy_evaluation`) or ``(V, Q)``
  (:func:`finite_horizon_evaluation`, :func:`~jaxrl.mdp.sparse.policy_values_sparse`), the same
  order.
* ``horizon`` is keyword-only everywhere (``finite_horizon(P, R, horizon=H)``); it is static.
"""

from jaxrl.mdp.core import TabularMDP, validate_mdp
from jaxrl.mdp.finite_horizon import finite_horizon, finite_horizon_evaluation
from jaxrl.mdp.random import random_mdp, random_policy
from jaxrl.mdp.solvers import (
    Solution,
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
    "Solution",
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
