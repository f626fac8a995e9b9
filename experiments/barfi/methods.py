"""The compared methods, as data: trainer kind, static overrides and hyperparameter overrides.

A method is a trainer kind (``"baselines"``: :mod:`jaxrl.agents.reinforce`, ``"barfi"``:
:mod:`jaxrl.bilevel.barfi`), overrides of the task's static settings (a different static means a
different compiled program) and of its traced hyperparameters. Methods of one kind with equal
static overrides share one ``jit(vmap)`` call (protocol.py). To add a method, add one line (a
static flag such as the curvature choice goes in ``static``). A method's ``grid`` adds axes to
the task's grid of its kind (tasks.py).

Baselines (papers.md §2.2) reward the learner through
:func:`jaxrl.shaping.aux_reward.aux_shaping`, params ``(aux_coef, pbrs_coef, pbrs_arrival_coef)``:
primary only, the naive sum, PBRS in the authors' code form (``Φ_t = r_aux,t``, their
``REINFORCEPotential``) and with a state potential (``Φ(s_{t+1}) = r_aux,t``); the actor-critic
variants are the authors' ``ActorCritic`` (naive sum) and ``ActorCriticPotential`` (code form).
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    kind: str
    """"baselines" or "barfi" (the trainer, and the metric schema of its runs)"""
    hp: dict[str, Any] = dataclasses.field(default_factory=dict)
    """hyperparameter overrides (the grid overrides these in turn)"""
    static: dict[str, Any] = dataclasses.field(default_factory=dict)
    """static-setting overrides"""
    grid: dict[str, tuple[float, ...]] = dataclasses.field(default_factory=dict)
    """extra grid axes of this method"""

    @property
    def group(self) -> tuple[str, tuple]:
        """Methods with equal groups run in one compiled program."""
        return self.kind, tuple(sorted(self.static.items()))


AC = {"actor_critic": True}
_CAP = {"neumann_alpha": 1e3}
METHODS: tuple[Method, ...] = (
    Method("primary", "baselines", hp={"transform": (0.0, 0.0, 0.0)}),
    Method("naive", "baselines", hp={"transform": (1.0, 0.0, 0.0)}),
    Method("pbrs", "baselines", hp={"transform": (0.0, 1.0, 0.0)}),
    Method("pbrs_state", "baselines", hp={"transform": (0.0, 0.0, 1.0)}),
    Method("ac_naive", "baselines", hp={"transform": (1.0, 0.0, 0.0)}, static=AC),
    Method("ac_pbrs", "baselines", hp={"transform": (0.0, 1.0, 0.0)}, static=AC),
    Method("barfi_fo", "barfi", hp={"neumann_K": 0}),
    Method("barfi_neumann", "barfi", hp={"neumann_K": 5}),
    # The REINFORCE-surrogate Hessian is indefinite, where the plain series diverges (theory
    # check 7b): damped, (H + δI) with δ = 2|λ|max, and the PSD return-weighted Gauss-Newton
    # curvature (jaxrl.bilevel.curvature), each with the step 1/(|λ|max + δ) of the power
    # iteration (α_N large, so the cap binds; with α_N = 5e-4 K = 5 acts as first order).
    Method("barfi_damped", "barfi", hp={"neumann_K": 5, "neumann_damping": 2.0, **_CAP}),
    Method("barfi_gn", "barfi", hp={"neumann_K": 5, **_CAP}, static={"curvature": "gauss_newton"}),
)
BY_NAME = {m.name: m for m in METHODS}
#: the reference of the normalised scores and claims
PRIMARY = "primary"


def barfi_methods(names) -> list[str]:
    """The BARFI variants among ``names`` (every method of kind ``"barfi"``)."""
    return [n for n in names if n in BY_NAME and BY_NAME[n].kind == "barfi"]
