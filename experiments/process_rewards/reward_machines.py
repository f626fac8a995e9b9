"""Reward machines vs Markov rewards: exact product-MDP solutions and an LP inexpressibility test.

**System.** Reward machines (Icarte et al. 2018/2022): a finite automaton over state labels whose
transitions pay reward; the cross-product with the environment is an MDP, so ordinary RL solves
non-Markov tasks. Expressivity (Skalse et al. 2023, "On the Expressivity of Objective-
Specification Formalisms in RL"): the abstract says many tasks cannot be expressed with a Markov
reward, and proves that Reward Machines (among others) can express tasks the other formalisms
cannot; it places 17 formalisms in an expressivity preorder.

**Small-scale form.** Kept: the automaton, the labelling function, the exact product MDP
(:mod:`jaxrl.mdp.reward_machine`), two tasks ("A then B"; "never C until B", C before B = fail).
Base MDP: an open ``grid_size²`` gridworld with slip, random distinct cells for start, A, B, C
per instance (instance = seed). Dropped: learning (all values are exact: value iteration on the
product; no Q-learning/PPO), the paper's other 16 formalisms, and the policy-ordering definition
of expressivity: we test *trajectory* orderings over a finite horizon (``lp_horizon`` steps,
γ = 1) on deterministic hub MDPs (hub 0 ↔ states 1, 2 labelled A/B resp. C/B, two random
extra states): an LP finds the largest margin ``t*`` by which some ``R(s, a, s')`` (|R| ≤ 1)
ranks all ``2^H`` trajectories as the machine does; ``t* = 0`` means no Markov reward does.

**Surrogates.** Markov rewards on the base MDP ``R(s') = w[L(s')]`` for the weight vectors in
``surrogates`` (B only; A and B; B with a C penalty); each one's optimal stationary base policy is
evaluated on the task (lifted to the product), and per instance the best of them is kept.

**Claims and verdict rules** (per-instance numbers, 95% bootstrap CIs over instances, mean):

* ``solves`` (per task, combined "all"): the RM policy's task value minus the best Markov
  surrogate's, per instance: CI lower limit > ``MATERIAL`` (0.01) → reproduced, point >
  ``MATERIAL`` only → partial (a gap of 1e-6 is not a task the surrogate fails).
* ``inexpressible`` (per task + a control, combined "all"): the task's LP margin ``t*``: CI upper
  limit ≤ 1e-7 → reproduced; control: the flattened machine (a Markov reward) must be expressible,
  CI lower limit of its ``t*`` > 1e-7. Also reported (not in the verdict): ``t*`` with discounted
  returns and features (γ = ``gamma``).
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linprog

import jaxrl.config
from jaxrl.experiment.claims import Check, Claim, ci_bound, claims_caption, combine, estimate
from jaxrl.mdp import TabularMDP, expected_return, finite_horizon_evaluation, value_iteration
from jaxrl.mdp.reward_machine import (
    NUM_LABELS,
    TASKS,
    A,
    B,
    C,
    deterministic_trajectories,
    flatten,
    lift_policy,
    machine_return,
    product_mdp,
    transition_features,
)

EXPERIMENT = "process_rewards"
CITATION = "Reward machines (Icarte et al. 2022) / expressivity (Skalse et al. 2023)"
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
MATERIAL = 0.01  # smallest task-value gap that counts as the surrogate failing the task


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    grid_size: int = 5
    """side of the open gridworld (states = grid_size²)."""
    slip: float = 0.1
    """probability that a move is replaced by a uniformly random one."""
    gamma: float = 0.95
    """discount of the task value."""
    success_horizon: int = 50
    """steps within which task success probability is measured (γ = 1)."""
    lp_horizon: int = 5
    """trajectory length of the LP inexpressibility test (2^H trajectories)."""
    surrogates: tuple[tuple[float, float, float, float], ...] = (
        (0.0, 0.0, 1.0, 0.0),
        (0.0, 0.5, 1.0, 0.0),
        (0.0, 0.0, 1.0, -1.0),
    )
    """Markov surrogate rewards: weight of entering a (none, A, B, C) state."""

    def check(self) -> None:
        self.require(self.grid_size >= 3, "grid_size", "need >= 3 (4 distinct special cells)")
        self.require(0.0 <= self.slip <= 1.0, "slip", "a probability")
        self.require(0.0 < self.gamma < 1.0, "gamma", "in (0, 1)")
        self.require(self.success_horizon >= 1, "success_horizon", ">= 1")
        self.require(4 <= self.lp_horizon <= 10, "lp_horizon", "in [4, 10] (witness needs 4)")
        self.require(len(self.surrogates) >= 1, "surrogates", "at least one")
        self.require(all(len(w) == NUM_LABELS for w in self.surrogates), "surrogates",
                     f"each needs {NUM_LABELS} weights")  # fmt: skip


QUICK = Settings()
PAPER = Settings(grid_size=7, lp_horizon=7)


def grid_instance(settings: Settings, seed: int) -> tuple[TabularMDP, np.ndarray]:
    """Open grid base MDP (float64, zero reward, start = one random cell) and labels ``[S]``."""
    n = settings.grid_size
    S = n * n
    rng = np.random.default_rng(seed)
    start, a, b, c = rng.choice(S, 4, replace=False)
    rc = np.stack(np.divmod(np.arange(S), n), -1)
    nxt = np.clip(rc[:, None, :] + MOVES[None], 0, n - 1)
    succ = nxt[..., 0] * n + nxt[..., 1]  # [S, 4]
    det = np.eye(S)[succ]  # [S, A, S]
    P = (1 - settings.slip) * det + settings.slip * det.mean(1, keepdims=True)
    labels = np.zeros(S, np.int64)
    labels[[a, b, c]] = [A, B, C]
    mdp = TabularMDP(
        jnp.asarray(P), jnp.zeros_like(jnp.asarray(P)), jnp.asarray(settings.gamma),
        jnp.eye(S, dtype=jnp.float64)[start], jnp.zeros(S, bool),
    )  # fmt: skip
    return mdp, labels


def _task_numbers(settings, prod, pi) -> tuple[float, float]:
    """(task value, P(success within success_horizon)) of a product policy."""
    value = float(expected_return(prod, pi))  # = E[γ^(τ−1)], τ = completion step
    V, _ = finite_horizon_evaluation(prod.P, prod.R, pi, horizon=settings.success_horizon,
                                     gamma=1.0, terminal_mask=prod.terminal_mask)  # fmt: skip
    return value, float(jnp.dot(prod.init_dist, V[0]))


def markov_margin(values: np.ndarray, phi: np.ndarray) -> float:
    """LP margin ``t*`` (see the module docstring): the largest ``t ≤ 1`` such that an ``R``
    with ``|R| ≤ 1`` gives trajectories ``phi [N, D]`` the order of ``values [N]``."""
    g = np.round(values, 12)
    levels = np.unique(g)
    if levels.size < 2:
        return 1.0
    reps = [int(np.flatnonzero(g == v)[0]) for v in levels]
    eq = [phi[i] - phi[reps[int(np.searchsorted(levels, g[i]))]] for i in range(len(g))]
    eq = [np.append(r, 0.0) for r in eq if np.any(r)]
    D = phi.shape[1]
    A_ub = np.array([np.append(phi[lo] - phi[hi], 1.0) for lo, hi in itertools.pairwise(reps)])
    res = linprog(
        np.append(np.zeros(D), -1.0), A_ub=A_ub, b_ub=np.zeros(len(A_ub)),
        A_eq=np.array(eq) if eq else None, b_eq=np.zeros(len(eq)) if eq else None,
        bounds=[(-1, 1)] * D + [(None, 1.0)], method="highs",
    )  # fmt: skip
    if res.status != 0:
        raise RuntimeError(f"LP failed: {res.message}")
    return float(-res.fun) + 0.0  # t* >= 0 (R = 0, t = 0 is feasible); + 0.0 turns -0.0 into 0.0


def hub_margins(settings: Settings, task: str, seed: int) -> tuple[float, float, float]:
    """LP margins on one random hub MDP: the task (γ = 1), its flattened (Markov) machine
    (γ = 1), and the task with discounted returns and features (γ = ``settings.gamma``)."""
    rng = np.random.default_rng(seed)
    S = 5
    nxt = rng.integers(0, S, (S, 2))
    nxt[0] = [1, 2]
    nxt[1, 0] = nxt[2, 0] = 0
    labels = rng.integers(0, NUM_LABELS, S)
    labels[:3] = [0, A if task == "a_then_b" else C, B]
    states, actions = deterministic_trajectories(nxt, 0, settings.lp_horizon)
    rm = TASKS[task]()
    out = []
    for m, g in ((rm, 1.0), (flatten(rm), 1.0), (rm, settings.gamma)):
        phi = transition_features(states, actions, S, 2, g)
        values = np.array([machine_return(m, labels[s[1:]], g) for s in states])
        out.append(markov_margin(values, phi))
    return out[0], out[1], out[2]


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Exact task values of the RM and the Markov surrogates on ``seeds`` random instances."""
    settings.check()
    per_task = {}
    with jax.enable_x64(True):
        for ti, task in enumerate(sorted(TASKS)):
            rm = TASKS[task]()
            U = rm.num_states
            keys = ("rm_value", "rm_success", "best_surrogate_value", "best_surrogate_success")
            lp = ("lp_margin", "lp_margin_flat", "lp_margin_discounted")
            rec = {k: [] for k in (*keys, *lp, "surrogate_values")}
            for i in range(seeds):
                inst = seed * 100_003 + i
                base, labels = grid_instance(settings, inst)
                prod = product_mdp(base, rm, labels)
                v, s = _task_numbers(settings, prod, value_iteration(prod).pi)
                rec["rm_value"].append(v)
                rec["rm_success"].append(s)
                sv, ss = [], []
                for w in settings.surrogates:
                    r = jnp.asarray(w, jnp.float64)[jnp.asarray(labels)]  # R(s') = w[L(s')]
                    surr = base.replace(R=jnp.broadcast_to(r, base.P.shape))
                    pi = lift_policy(value_iteration(surr).pi, U)
                    a, b = _task_numbers(settings, prod, pi)
                    sv.append(a)
                    ss.append(b)
                k = int(np.argmax(sv))
                rec["surrogate_values"].append(sv)
                rec["best_surrogate_value"].append(sv[k])
                rec["best_surrogate_success"].append(ss[k])
                for k, t in zip(lp, hub_margins(settings, task, inst + 7919 * (ti + 1)),
                                strict=True):  # fmt: skip
                    rec[k].append(t)
            per_task[task] = rec
    return {
        "settings": jaxrl.config.to_json_dict(settings),
        "seeds": seeds,
        "seed": seed,
        "tasks": sorted(TASKS),
        "per_task": per_task,
    }


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(f"{EXPERIMENT}.reward_machines.{tag}", EXPERIMENT, CITATION,
                            statement, quantities, rule, check)  # fmt: skip


def claims(summary: dict) -> list[Claim]:
    """``solves`` and ``inexpressible`` (see the module docstring)."""
    pt = summary.get("per_task", {})
    s1 = ("The reward machine's product-MDP policy attains a higher task value than the best "
          "Markov-reward surrogate on the base MDP, on both tasks.")  # fmt: skip
    r1 = (
        f"per task: CI lower limit of (RM − best surrogate) task value > {MATERIAL} (point "
        "only: partial); both tasks needed"
    )
    s2 = (
        "No Markov reward R(s, a, s') on the base MDP orders trajectories as either task does "
        "(LP margin 0), while the flattened (Markov) machine is expressible (margin > 0)."
    )
    r2 = "per task: CI upper limit of t* <= 1e-7, and control CI lower limit of t*_flat > 1e-7"
    if not pt:
        nt = Check("not testable", "no instances")
        return [_claim("solves", s1, {}, r1, nt), _claim("inexpressible", s2, {}, r2, nt)]
    q1, c1, q2, c2 = {}, {}, {}, {}
    st_gamma = summary.get("settings", {}).get("gamma", float("nan"))
    for task, rec in pt.items():
        d = np.subtract(rec["rm_value"], rec["best_surrogate_value"])
        e = estimate(d, "mean")
        v = (
            "reproduced"
            if e.lo > MATERIAL
            else "partial"
            if e.point > MATERIAL
            else "not reproduced"
        )
        c1[task] = Check(v, f"Δ value {e.fmt(4)} (threshold {MATERIAL})")
        q1[f"Δ value {task}"] = e
        q1[f"RM success {task}"] = estimate(rec["rm_success"], "mean")
        q1[f"surrogate success {task}"] = estimate(rec["best_surrogate_success"], "mean")
        et, ef = estimate(rec["lp_margin"], "mean"), estimate(rec["lp_margin_flat"], "mean")
        q2[f"t* {task}"], q2[f"t*_flat {task}"] = et, ef
        q2[f"t* {task} (γ={st_gamma:g}, reported only)"] = estimate(
            rec["lp_margin_discounted"], "mean"
        )
        c2[task] = ci_bound(f"t* {task}", et, "hi", "<=", 1e-7)
        c2[f"{task} control"] = ci_bound(f"t*_flat {task}", ef, "lo", ">", 1e-7)
    return [_claim("solves", s1, q1, r1, combine(c1)), _claim("inexpressible", s2, q2, r2,
                                                              combine(c2))]  # fmt: skip


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Per task: task value and success of the RM vs each surrogate (mean over instances)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    st = summary["settings"]
    fig, axes = plt.subplots(1, len(summary["tasks"]), figsize=(8, 4))
    names = ["RM (product)"] + [f"R={tuple(w)}" for w in st["surrogates"]]
    for ax, task in zip(np.atleast_1d(axes), summary["tasks"], strict=True):
        rec = summary["per_task"][task]
        vals = np.column_stack([rec["rm_value"], np.asarray(rec["surrogate_values"])])
        ax.bar(np.arange(len(names)), vals.mean(0), yerr=vals.std(0), color="C0")
        ax.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=6, ha="right")
        ax.set_title(task, fontsize=8)
        ax.set_ylabel("exact task value E[γ^(τ−1)]", fontsize=7)
    pt = summary["per_task"]
    lines = [
        f"{t}: RM success {np.mean(pt[t]['rm_success']):.3f}, best surrogate "
        f"{np.mean(pt[t]['best_surrogate_success']):.3f} within {st['success_horizon']} steps, "
        f"max |RM − best surrogate| value gap "
        f"{np.max(np.abs(np.subtract(pt[t]['rm_value'], pt[t]['best_surrogate_value']))):.2g}; "
        f"max LP t* {np.max(pt[t]['lp_margin']):.2g}"
        for t in summary["tasks"]
    ]
    caption = (
        f"Bars: mean ± std over {summary['seeds']} random instances "
        f"({st['grid_size']}x{st['grid_size']} grid, slip "
        f"{st['slip']}, γ={st['gamma']}; LP on 5-state hub MDPs, H={st['lp_horizon']}). "
        + "; ".join(lines) + "\n" + claims_caption(cl)
    )  # fmt: skip
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.45)
    path = out / "process_rewards_reward_machines.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
