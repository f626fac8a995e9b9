"""BARFI (Gupta et al. 2023): learning to blend a primary and an auxiliary reward, vs baselines,
with the paper's protocol (best hyperparameters per method by sweep; papers.md §2.3).

    python -m experiments.barfi --profile quick    # ~4 min on a 2-core CPU (cuts: see below)
    python -m experiments.barfi --profile paper    # the paper's budgets; the three small tasks
                                                   #  ~30 min on a 2-core CPU, + HalfCheetah
    python -m experiments.barfi --profile paper --envs gridworld cartpole mountaincar
    python -m experiments.barfi --profile quick --resume   # continue interrupted runs

For every environment × aux kind ("good" = helpful heuristic, "bad" = misaligned; papers.md §2.1)
and every group of methods (methods.py: one trainer kind and static setting), protocol.py tunes
each method's grid (tasks.py) on ``tune_seeds`` seeds in one ``jit(vmap)``, selects the setting
with the best final-window primary return, and reports it on ``seeds`` fresh seeds (config
``phase`` = "tune" / "report"; ``rows`` names each block's method and hyperparameters). Metrics
are per episode (``primary_return``, ``aux_return``, ``length``) and for BARFI per outer step
(``gamma_phi``, ``phi_weight``, ``phi_bias``, ``hypergrad_norm``). The report run's
``summary.json`` holds the selected settings, the tuning scores and the final returns; the claims
(claims.py) are computed from them and printed, and ``python -m paper_figures.barfi`` draws the
figures (curves, φ heatmaps, γ_φ, the Table-1 panel with the claims).

The ``quick`` profile cuts the paper's protocol: gridworld and CartPole only (MountainCar, at
150 episodes, never let primary-only learn, so it was in no claim), fewer episodes (gridworld
300, CartPole 300), 8 report and 4 tuning seeds, smaller grids with faster learning rates
(tasks.GRIDS[...]["quick"]); its figure captions list the cuts against the ``paper`` profile.
With 2 settings per method, 4 tuning seeds give the tuning call as many runs as the report call
(2 × 4 = 1 × 8), so the report reuses the tuning call's compiled program from the persistent
compilation cache (−23 % wall time on gridworld + CartPole against 4 tuning seeds, same verdicts).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from experiments.barfi import claims as claims_mod
from experiments.barfi.methods import BY_NAME, METHODS
from experiments.barfi.protocol import method_grid, tune_and_report
from experiments.barfi.tasks import ENVS, GRIDS, setup
from jaxrl.experiment.sweep import SweepConfig, sweep_cli

EXPERIMENT = "barfi"


@dataclasses.dataclass(frozen=True)
class BarfiExperiment(SweepConfig):
    seeds: int = 10
    """fresh seeds on which each method's selected setting is reported"""
    tune_seeds: int = 5
    """seeds on which every setting of the grid is run to select one (settings × tune_seeds =
    report seeds lets both calls share one compiled program)"""
    seed: int = 0
    """base PRNG seed (tuning and reporting use different streams of it)"""
    envs: tuple[str, ...] = ("gridworld", "cartpole", "mountaincar")
    """environments (gridworld, cartpole, mountaincar, halfcheetah)"""
    auxes: tuple[str, ...] = ("good", "bad")
    """aux reward kinds"""
    methods: tuple[str, ...] = tuple(m.name for m in METHODS)
    """methods (methods.py)"""
    grid: str = "quick"
    """hyperparameter grids: "quick" or "paper" (tasks.GRIDS)"""
    gridworld_episodes: int = 300
    cartpole_episodes: int = 300
    mountaincar_episodes: int = 150
    halfcheetah_episodes: int = 9990
    num_chunks: int = 5
    """checkpoints per run (divides episodes / delta)"""
    final_frac: float = 0.1
    """the final window (fraction of episodes) of the selection and reported scores"""

    def check(self) -> None:
        super().check()
        self.require(set(self.envs) <= set(ENVS), "envs", f"must be a subset of {ENVS}")
        self.require(set(self.auxes) <= {"good", "bad"}, "auxes", "good and/or bad")
        self.require(set(self.methods) <= set(BY_NAME), "methods", f"must be in {list(BY_NAME)}")
        self.require(self.grid in ("quick", "paper"), "grid", "quick or paper")
        self.require(0 < self.final_frac <= 1, "final_frac", "must be in (0, 1]")
        self.check_positive("num_chunks", "tune_seeds", *(f"{e}_episodes" for e in ENVS))

    def episodes(self, env: str) -> int:
        return getattr(self, f"{env}_episodes")


PRESETS = {
    # gridworld and CartPole only: at MountainCar's quick budget (150 episodes) primary-only never
    # learned (IQM 0.1 [0.0, 0.6] of 1 in make reproduce, session 35), so MountainCar was in
    # no claim ("not informative") while taking 240 of BARFI's 452 s (session 35, 2-core CPU).
    # `--envs gridworld cartpole mountaincar` puts it back; the paper profile keeps it.
    # 8 report and 4 tuning seeds (2 settings x 4 = 8: still one shared program), not 10 and 5:
    # session 36, to bring make reproduce nearer 25 minutes (the claims: README).
    "quick": BarfiExperiment(envs=("gridworld", "cartpole"), seeds=8, tune_seeds=4),
    # the paper's budgets (gridworld 2000, CartPole 1000, MountainCar 500 episodes, rounded down
    # to a multiple of δ = 3 × 10 chunks), 20 report seeds
    # barfi_damped is left out here (quick has it): on indefinite curvature it behaves close to
    # first order (check_neumann_damping), and a fourth BARFI variant would take the three small
    # tasks past 45 minutes on a 2-core CPU
    "paper": BarfiExperiment(
        methods=tuple(m.name for m in METHODS if m.name != "barfi_damped"),
        seeds=20,
        tune_seeds=5,
        envs=ENVS,
        grid="paper",
        gridworld_episodes=1980,
        cartpole_episodes=990,
        mountaincar_episodes=480,
        halfcheetah_episodes=9990,
        num_chunks=10,
    ),
}


def groups(methods) -> dict[tuple, list[str]]:
    """Methods by compiled program (kind, static), in ``methods`` order."""
    out: dict[tuple, list[str]] = {}
    for m in methods:
        out.setdefault(BY_NAME[m].group, []).append(m)
    return out


def run_task(store, cfg: BarfiExperiment, env: str, aux: str) -> dict:
    """Tune and report every group of methods on one env × aux; returns method -> final
    returns ``[seeds]`` and the report runs."""
    task = setup(env, aux, cfg.episodes(env), cfg.num_chunks)
    grid = GRIDS[env][cfg.grid]
    scores, runs = {}, []
    for members in groups(cfg.methods).values():
        res = tune_and_report(store, cfg, task, members, lambda m: method_grid(grid, m))
        runs.append(res["run"])
        final = res["run"].read_json("summary")["final_primary_return"]
        for m in members:
            scores[m] = np.asarray(final[m])
            print(f"  {m:>14}: selected {res['selection'][m]['hparams']}")
    return {"scores": scores, "runs": runs}


def main(argv=None):
    cfg, store = sweep_cli(PRESETS, __doc__, argv)
    t0 = time.time()
    runs, scores = [], {}
    for env in cfg.envs:
        for aux in cfg.auxes:
            out = run_task(store, cfg, env, aux)
            runs += out["runs"]
            scores[(env, aux)] = out["scores"]
    tab = claims_mod.table(scores)
    cl = claims_mod.claims(tab)
    print(f"[{EXPERIMENT}] final primary return (last {cfg.final_frac:.0%} of episodes), "
          f"{cfg.seeds} report seeds; normalised by primary-only:")  # fmt: skip
    print("\n".join(claims_mod.report_lines(tab, cl)))
    print(f"[{EXPERIMENT}] wall time {time.time() - t0:.0f} s")
    return runs
