"""Novelty search and MAP-Elites vs PPO with the greedy distance bonus on a deceptive maze.

**System** ("Learning in Sparse Rewards settings through Quality-Diversity algorithms", 2022,
from its abstract): in sparse-reward settings the agent must explore; Quality-Diversity methods,
in particular Novelty Search (NS), focus on the *diversity of the policies' behaviours* instead of
the reward. Components: Lehman & Stanley's novelty search and Mouret & Clune's MAP-Elites
(:mod:`jaxrl.agents.quality_diversity`) on the deceptive maze (:mod:`jaxrl.envs.deceptive_maze`:
start inside a U-shaped trap facing the goal, shortest solution 22 moves).

**Small-scale form.** Kept: novelty = mean distance to the k nearest behaviours in an archive ∪
population (behaviour = final (row, col)); selection on novelty alone, the reward only recorded;
a MAP-Elites grid over the same descriptor (one cell per maze cell, fitness = discounted return).
Dropped / changed: genomes are open-loop action sequences (the maze is deterministic with one
start), not neural networks evolved by NEAT; the thesis's learned descriptor spaces (TAXONS), the
emitters (SERENE) and their combination (STAX) are not built. No LLM is involved in this system.

**Baselines** (PPO, :func:`jaxrl.experiment.ppo_runs.ppo_runs`, all runs in one
vmapped program, one reward transform with per-run params ``(c_closer, c_pbrs)``):
``sparse``: the env reward alone; ``closer bonus``: the plain greedy distance bonus
``r + c·1[d(s') < d(s)]`` (d = Manhattan distance to the goal ignoring walls; not
potential-based); ``distance PBRS``: ``r + c·(γ'Φ(s') − Φ(s))`` with Φ = −d / max d
(potential-based, keeps the optimum). The issue's "PPO with the greedy distance bonus" is the
plain ``closer bonus``; the PBRS form is reported beside it.

**Budgets.** Each search evaluates ``population × generations`` sequences of ``horizon`` moves
(env steps counted up to termination, ≤ population × generations × horizon); each PPO run takes
``ppo_steps`` env steps. QUICK gives both the same nominal budget.

**Claims and verdict rules** (declared before running; success rates are means over seeds of a
per-seed 0/1 indicator, 95% bootstrap CIs):

* per-seed success of a search: some evaluated genome reached the goal within the budget (the
  search returns that genome, which solves the deterministic maze);
* per-seed success of PPO: the final policy's evaluation (8 sampled episodes, last chunk) reaches
  the goal in at least half of its episodes (``eval_return >= 0.5``);
* ``novelty`` (claim e): NS success CI lies above the success CI of PPO + closer bonus →
  reproduced; only the point above → partial (:func:`jaxrl.experiment.claims.ci_greater`);
* ``map_elites``: the same rule for MAP-Elites vs PPO + closer bonus;
* ``vs_pbrs`` and ``vs_sparse``: the same rule for NS vs PPO + distance PBRS / PPO sparse.

Also reported (not verdicts): the fraction of PPO seeds whose *training* episodes ever reached the
goal, the grid coverage of the searches, and the exact optimum and greedy-policy return.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.agents import quality_diversity as qd
from jaxrl.envs.deceptive_maze import (
    deceptive_maze,
    distance_potential,
    greedy_distance_policy,
    make_deceptive_maze,
    optimal_return,
)
from jaxrl.experiment.claims import Check, Claim, ci_greater, claims_caption, estimate
from jaxrl.experiment.ppo_runs import ppo_runs
from jaxrl.mdp import expected_return
from jaxrl.shaping.potential import potential_from_table, potential_shaping
from jaxrl.shaping.transform import RewardTransform, Transition, _no_state

EXPERIMENT = "exploration_rewards"
SYSTEM = "novelty"
CITATION = "Quality-Diversity for sparse rewards (novelty search, 2022 thesis); Lehman & Stanley"
PPO_CONDITIONS = ("sparse", "closer bonus", "distance PBRS")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    population: int = 64
    """genomes per generation (NS) / children per iteration (MAP-Elites)"""
    generations: int = 100
    """generations (NS) / iterations (MAP-Elites)"""
    horizon: int = 48
    """moves per open-loop genome (the shortest solution is 22)"""
    mutation_rate: float = 0.05
    """per-action resample probability"""
    k: int = 10
    """novelty neighbours"""
    archive_size: int = 1024
    """novelty archive size (ring buffer)"""
    n_add: int = 4
    """behaviours added to the archive per generation"""
    tournament: int = 4
    """NS tournament size"""
    ppo_steps: int = 307200
    """env steps per PPO run"""
    closer_coef: float = 0.1
    """c of the plain closer bonus"""
    pbrs_coef: float = 1.0
    """c of the distance PBRS (Φ = −d / max d ∈ [−1, 0])"""
    gamma: float = 0.99
    """discount of PPO, of the PBRS and of the exact optimum"""
    max_steps: int = 100
    """PPO episode time limit"""

    def check(self) -> None:
        for f in ("population", "generations", "horizon", "k", "archive_size", "n_add"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.generations >= 2, "generations", "must be >= 2")
        self.require(self.n_add <= self.population, "n_add", "must be <= population")
        self.require(2 <= self.tournament <= self.population, "tournament", "in [2, population]")
        self.require(0.0 < self.mutation_rate <= 1.0, "mutation_rate", "must be in (0, 1]")
        self.require(self.ppo_steps >= 4096, "ppo_steps", "must be >= 4096 (one PPO chunk)")
        self.require(self.closer_coef >= 0 and self.pbrs_coef >= 0, "closer_coef", "must be >= 0")
        self.require(0.0 < self.gamma < 1.0, "gamma", "must be in (0, 1)")
        self.require(self.max_steps >= 1, "max_steps", "must be >= 1")


QUICK = Settings()
PAPER = Settings(generations=300, ppo_steps=921600)


def _qd_config(s: Settings, grid) -> qd.QDConfig:
    H, W = len(grid.layout), len(grid.layout[0])
    return qd.QDConfig(
        population=s.population, generations=s.generations, horizon=s.horizon, num_actions=4,
        mutation_rate=s.mutation_rate, k=s.k, archive_size=s.archive_size, n_add=s.n_add,
        grid_low=(0.0, 0.0), grid_high=(float(H), float(W)), grid_shape=(H, W), success=0.0,
        tournament=s.tournament,
    )  # fmt: skip


def _greedy_bonus(d: np.ndarray, phi: np.ndarray) -> RewardTransform:
    """``r + c_closer·1[d(s') < d(s)] + c_pbrs·(discount·Φ(s') − Φ(s))``; params ``[2]``."""
    dist, pot = potential_from_table(jnp.asarray(d)), potential_from_table(jnp.asarray(phi))

    def apply(params, state, tr: Transition):
        closer = (dist(tr.next_obs) < dist(tr.obs)).astype(tr.reward.dtype)
        F = potential_shaping(pot(tr.obs), pot(tr.next_obs), tr.discount)
        return tr.reward + params[0] * closer + params[1] * F, state

    return RewardTransform(_no_state, apply, jnp.zeros(2))


def _first(x: np.ndarray) -> list[float]:
    """Index of the first True per row (−1 when never: strict JSON has no nan)."""
    return [float(np.argmax(r)) if r.any() else -1.0 for r in x]


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """NS, MAP-Elites and three PPO conditions, ``seeds`` runs each."""
    settings.check()
    grid = deceptive_maze(gamma=settings.gamma)
    cfg = _qd_config(settings, grid)
    env, ep = make_deceptive_maze(gamma=settings.gamma, max_steps=settings.max_steps)
    coords = jnp.asarray(grid.coords, jnp.float32)
    evaluate = qd.open_loop_evaluator(env, ep, lambda st: coords[st.state], settings.gamma)
    k_ns, k_me, k_ppo = jax.random.split(jax.random.key(seed), 3)
    summary: dict = {
        "settings": jaxrl.config.to_json_dict(settings),
        "optimal_return": optimal_return(grid),
        "greedy_policy_return": float(
            expected_return(grid.mdp, jnp.asarray(greedy_distance_policy(grid), grid.mdp.P.dtype))
        ),
        "num_cells": int(grid.n_states),
        "search": {},
        "ppo": {},
    }
    for name, alg, k in (("novelty search", qd.novelty_search, k_ns),
                         ("MAP-Elites", qd.map_elites, k_me)):  # fmt: skip
        res = jax.jit(jax.vmap(lambda key, alg=alg: alg(key, evaluate, cfg)))(
            jax.random.split(k, seeds)
        )
        solved = np.asarray(res.solved)  # [seeds, G]
        summary["search"][name] = {
            "success": solved[:, -1].astype(float).tolist(),
            "first_generation": _first(solved),
            "solved_curve": solved.mean(0).tolist(),
            "env_steps_curve": np.asarray(res.env_steps, float).mean(0).tolist(),
            "env_steps": np.asarray(res.env_steps, float)[:, -1].tolist(),
            "coverage": np.asarray(res.coverage, float)[:, -1].tolist(),
            "best_return": np.asarray(res.best_fitness, float)[:, -1].tolist(),
        }
    phi = distance_potential(grid)
    params = np.array([[0.0, 0.0], [settings.closer_coef, 0.0], [0.0, settings.pbrs_coef]])
    n = len(PPO_CONDITIONS) * seeds
    tp = jnp.asarray(np.repeat(params, seeds, 0), jnp.float32)  # [C * seeds, 2], condition-major
    m = ppo_runs(env, ep, k_ppo, n, settings.ppo_steps, transform=_greedy_bonus(grid.distance, phi),
                 transform_params=tp, gamma=settings.gamma)  # fmt: skip
    ev = np.asarray(m["eval_return"], float).reshape(len(PPO_CONDITIONS), seeds, -1)
    env_ret = np.nan_to_num(np.asarray(m["return_env_reward"], float)).reshape(
        len(PPO_CONDITIONS), seeds, -1
    )
    for c, name in enumerate(PPO_CONDITIONS):
        summary["ppo"][name] = {
            "success": (ev[c, :, -1] >= 0.5).astype(float).tolist(),
            "final_eval_return": ev[c, :, -1].tolist(),
            "ever_reached_in_training": (env_ret[c].max(-1) > 0).astype(float).tolist(),
            "eval_curve": ev[c].mean(0).tolist(),
        }
    summary["ppo_env_steps"] = float(settings.ppo_steps)
    return summary


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.{SYSTEM}.{tag}", EXPERIMENT, CITATION, statement, quantities, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """``novelty``, ``map_elites``, ``vs_pbrs``, ``vs_sparse`` (module docstring rules)."""
    se, pp = summary.get("search", {}), summary.get("ppo", {})
    rule = (
        "per-seed success (search: a genome reached the goal; PPO: final eval_return >= 0.5); "
        "CI of the search's success rate above PPO's (ci_greater); point above only: partial"
    )
    out = []
    for tag, search, base in (
        ("novelty", "novelty search", "closer bonus"),
        ("map_elites", "MAP-Elites", "closer bonus"),
        ("vs_pbrs", "novelty search", "distance PBRS"),
        ("vs_sparse", "novelty search", "sparse"),
    ):
        st = (
            f"{search} finds the deceptive maze's goal, where PPO with "
            f"{'the env reward alone' if base == 'sparse' else 'the greedy ' + base} does not."
        )
        if search not in se or base not in pp:
            out.append(_claim(tag, st, {}, rule, Check("not testable", "missing runs")))
            continue
        a = estimate(se[search]["success"], "mean")
        b = estimate(pp[base]["success"], "mean")
        q = {
            f"{search} success": a,
            f"PPO {base} success": b,
            f"PPO {base} ever reached goal": estimate(pp[base]["ever_reached_in_training"], "mean"),
        }
        chk = ci_greater(f"{search} success", a, f"PPO {base} success", b)
        out.append(_claim(tag, st, q, rule, chk))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Fraction of seeds solved vs env steps (searches) and PPO's eval return per chunk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in summary["search"].items():
        ax.plot(r["env_steps_curve"], r["solved_curve"], label=f"{name}: fraction of seeds solved")
    steps = summary["ppo_env_steps"]
    for name, r in summary["ppo"].items():
        c = np.asarray(r["eval_curve"])
        ax.plot(steps * np.arange(1, c.size + 1) / c.size, c, ls="--", marker="o",
                label=f"PPO {name}: mean eval return")  # fmt: skip
    ax.set_xlabel("env steps")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    st = summary["settings"]
    n = len(next(iter(summary["search"].values()))["success"])
    parts = [f"{k}: solved {np.mean(v['success']):.2f}, coverage {np.mean(v['coverage']):.0f}/"
             f"{summary['num_cells']} cells" for k, v in summary["search"].items()]  # fmt: skip
    parts += [
        f"PPO {k}: success {np.mean(v['success']):.2f}, ever reached "
        f"{np.mean(v['ever_reached_in_training']):.2f}"
        for k, v in summary["ppo"].items()
    ]
    caption = (
        f"Deceptive maze, {n} seeds; search budget {st['population']}x{st['generations']} genomes "
        f"of {st['horizon']} moves, PPO {st['ppo_steps']} steps; optimum J*="
        f"{summary['optimal_return']:.3f}, greedy-distance policy "
        f"J={summary['greedy_policy_return']:.3f}. " + "; ".join(parts) + "\n" + claims_caption(cl)
    )
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.47)
    path = out / f"{EXPERIMENT}_{SYSTEM}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
