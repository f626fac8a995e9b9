"""Reward machines: the product MDP solves the task exactly; no Markov reward expresses it.

Tasks (:mod:`jaxrl.mdp.reward_machine`): "A then B" and "never C until B", as reward machines
over state labels (Icarte et al. 2022, Def. 4 product MDP). Two properties:

**(i) Product optimality** (Icarte et al. 2022, Obs. 1: the product is an MDP whose return equals
the RM return). On a random stochastic base MDP (4 states, 2 actions, 2 successors per
``(s, a)``, random labels, one B state forced), horizon ``H = 5``, γ = 0.9: the task's optimal
value ``V*_task`` by brute-force expectimax over *histories* (the task reward written directly
as a predicate of the label history, not through the automaton) must equal (a) the product MDP's
finite-horizon optimum and (b) the task value of the product's optimal policy (evaluated on
histories). Error = |a − V*_task| + |b − V*_task| ≤ 1e-9.

**(ii) Inexpressibility by Markov rewards** (Skalse et al. 2023, "On the Expressivity of
Objective-Specification Formalisms in RL": reward machines express tasks that Markov rewards
cannot). On a deterministic base MDP with a hub 0 whose two actions lead to states 1 and 2 (and
back), labelled (A, B) for "A then B" and (C, B) for "never C until B" (states 3, 4 random), the
trajectories of horizon ``H = 5`` (γ = 1) ranked by the machine's return cannot be ranked the
same way by any ``R(s, a, s')``: the LP ``max t s.t. (φ_i − φ_j)·R ≥ t`` for consecutive task
levels, ``(φ_i − φ_j)·R = 0`` within a level, ``|R| ≤ 1`` (φ = (s, a, s') counts) has ``t* ≤
1e-7``. (Witness: 0→1→0→2→0 and 0→2→0→1→0 have the same counts but opposite task outcomes.)

Mutation (both properties): **flatten the machine** (drop the automaton state: the Markov reward
``max_u ρ(u, L(s'))`` on the base MDP). (i) its optimum then chases repeated B entries, so the
product value and the policy's task value leave ``V*_task``; (ii) a Markov reward ranks
trajectories exactly as itself, so ``t* > 0`` (the LP can succeed: the property can fail).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from scipy.optimize import linprog

from jaxrl.mdp import TabularMDP, finite_horizon
from jaxrl.mdp.reward_machine import (
    NUM_LABELS,
    TASKS,
    A,
    B,
    C,
    RewardMachine,
    deterministic_trajectories,
    flatten,
    machine_return,
    product_mdp,
    transition_features,
)
from theory_checks.harness import Check, Mutation, as_pytest

H_OPT, GAMMA_OPT = 5, 0.9
H_LP = 5


class RMCase(NamedTuple):
    seed: int
    task: str
    machine: RewardMachine  # the task's machine (or a mutated one)
    P: np.ndarray  # [S, A, S]
    labels: np.ndarray  # [S]


def task_reward(task: str, hist: list[int]) -> float:
    """The task's reward at the last step of an entered-label history, as a history predicate."""
    *before, last = hist
    if task == "a_then_b":
        done_before = any(
            hist[j] == B and A in hist[:j] for j in range(len(before))
        )  # a completion earlier in the history
        return float(last == B and A in before and not done_before)
    if task == "never_c_until_b":
        return float(last == B and B not in before and C not in before)
    raise ValueError(f"unknown task {task!r}")


def _expectimax(case: RMCase, pi=None) -> float:
    """Optimal (``pi is None``) or product-policy (``pi [H, S*U, A]``) task value from state 0."""
    P, labels, rm = case.P, case.labels, case.machine
    U = rm.num_states

    def v(s, u, hist, t):
        if t == H_OPT:
            return 0.0
        qs = []
        for a in range(P.shape[1]):
            q = 0.0
            for s2 in np.flatnonzero(P[s, a]):
                h2 = [*hist, int(labels[s2])]
                u2 = int(rm.delta[u, labels[s2]]) if not rm.terminal[u] else u
                q += P[s, a, s2] * (task_reward(case.task, h2) + GAMMA_OPT * v(s2, u2, h2, t + 1))
            qs.append(q)
        if pi is None:
            return max(qs)
        return float(np.dot(pi[t, s * U + u], qs))

    return v(0, int(rm.u0), [], 0)


@st.composite
def opt_cases(draw) -> RMCase:
    seed = draw(st.integers(0, 2**31 - 1))
    task = draw(st.sampled_from(sorted(TASKS)))
    rng = np.random.default_rng(seed)
    S, nA = 4, 2
    P = np.zeros((S, nA, S))
    for s in range(S):
        for a in range(nA):
            succ = rng.choice(S, 2, replace=False)
            P[s, a, succ] = rng.dirichlet(np.ones(2))
    labels = rng.integers(0, NUM_LABELS, S)
    labels[0] = 0
    labels[rng.integers(1, S)] = B
    return RMCase(seed, task, TASKS[task](), P, labels)


def product_gap(case: RMCase) -> float:
    """Property (i): ``|V*_product − V*_task| + |V_task(π*_product) − V*_task|``."""
    S, nA, _ = case.P.shape
    base = TabularMDP(
        jnp.asarray(case.P), jnp.zeros_like(jnp.asarray(case.P)), jnp.asarray(GAMMA_OPT),
        jnp.eye(S)[0], jnp.zeros(S, bool),
    )  # fmt: skip
    prod = product_mdp(base, case.machine, case.labels)
    sol = finite_horizon(prod.P, prod.R, horizon=H_OPT, gamma=GAMMA_OPT,
                         terminal_mask=prod.terminal_mask)  # fmt: skip
    v_prod = float(sol.V[0, int(case.machine.u0)])  # state (s=0, u0) has index u0
    v_task = _expectimax(case)
    v_pi = _expectimax(case, np.asarray(sol.pi))
    return abs(v_prod - v_task) + abs(v_pi - v_task)


class LPCase(NamedTuple):
    seed: int
    task: str
    machine: RewardMachine
    next_state: np.ndarray  # [S, A] deterministic successors
    labels: np.ndarray  # [S]


@st.composite
def hub_cases(draw) -> LPCase:
    seed = draw(st.integers(0, 2**31 - 1))
    task = draw(st.sampled_from(sorted(TASKS)))
    rng = np.random.default_rng(seed)
    S, nA = 5, 2
    nxt = rng.integers(0, S, (S, nA))
    nxt[0] = [1, 2]
    nxt[1, 0] = nxt[2, 0] = 0
    labels = rng.integers(0, NUM_LABELS, S)
    labels[:3] = [0, A if task == "a_then_b" else C, B]
    return LPCase(seed, task, TASKS[task](), nxt, labels)


def markov_margin(trajectory_values: np.ndarray, phi: np.ndarray) -> float:
    """LP: the largest ``t ≤ 1`` such that some ``R`` with ``|R| ≤ 1`` ranks trajectories as
    ``trajectory_values [N]`` does (ties equal, consecutive levels ≥ t apart); ``phi [N, D]``.
    ``t* > 0`` iff a Markov reward orders them like the task (1 if all values tie)."""
    g = np.round(trajectory_values, 12)
    levels = np.unique(g)
    if levels.size < 2:
        return 1.0
    reps = [int(np.flatnonzero(g == v)[0]) for v in levels]
    eq = [phi[i] - phi[reps[int(np.searchsorted(levels, g[i]))]] for i in range(len(g))]
    eq = [row for row in eq if np.any(row)]
    D = phi.shape[1]
    # variables x = [R (D), t]; maximise t; (φ_lo − φ_hi)·R + t ≤ 0 for consecutive levels
    A_ub = np.array([np.append(phi[lo] - phi[hi], 1.0) for lo, hi in itertools.pairwise(reps)])
    A_eq = np.array([np.append(row, 0.0) for row in eq]) if eq else None
    res = linprog(
        np.append(np.zeros(D), -1.0), A_ub=A_ub, b_ub=np.zeros(len(A_ub)), A_eq=A_eq,
        b_eq=None if A_eq is None else np.zeros(len(A_eq)),
        bounds=[(-1, 1)] * D + [(None, 1.0)], method="highs",
    )  # fmt: skip
    if res.status != 0:
        raise RuntimeError(f"LP failed: {res.message}")
    return float(-res.fun)


def lp_margin(case: LPCase) -> float:
    """Property (ii): the Markov-ranking margin ``t*`` (must be ≤ tolerance: inexpressible)."""
    S, nA = case.next_state.shape
    states, actions = deterministic_trajectories(case.next_state, 0, H_LP)
    phi = transition_features(states, actions, S, nA, 1.0)
    g = np.array([machine_return(case.machine, case.labels[s[1:]], 1.0) for s in states])
    return markov_margin(g, phi)


def _flatten(case):
    return case._replace(machine=flatten(case.machine))


PRODUCT_CHECK = Check(
    name="RM product MDP attains the task optimum",
    theorem="Icarte et al. 2022, Def. 4 / Obs. 1: the cross-product is an MDP whose return is "
    "the RM return",
    strategy=opt_cases(),
    error=product_gap,
    tolerance=1e-9,
    mutations=(
        Mutation("flatten machine", "the automaton state u in the MDP state", mutate=_flatten),
    ),  # fmt: skip
    min_cases=30,
    description="Random 4-state stochastic MDPs, H=5, γ=0.9, expectimax over label histories.",
)

INEXPRESSIBLE_CHECK = Check(
    name="RM task not expressible by a Markov reward",
    theorem="Skalse et al. 2023 (expressivity of objective-specification formalisms): reward "
    "machines express tasks Markov rewards cannot",
    strategy=hub_cases(),
    error=lp_margin,
    tolerance=1e-7,
    mutations=(
        Mutation("flatten machine", "the task depends on the label history", mutate=_flatten),
    ),  # fmt: skip
    min_cases=30,
    description="Deterministic 5-state hub MDPs, all 32 action sequences of H=5, LP over "
    "R(s, a, s').",
)

test_product = as_pytest(PRODUCT_CHECK)
test_inexpressible = as_pytest(INEXPRESSIBLE_CHECK)
