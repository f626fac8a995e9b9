"""Learned reward models from preferences: seven systems of the seed as one small family.

    python -m experiments.preference_rms --profile quick     # <= 8 minutes on a 2-core CPU
    python -m experiments.preference_rms --profile paper     # more seeds, budgets, conditions
    python -m experiments.preference_rms --systems vpl strength

Each system is a module of this package with the same interface (``Settings``, ``QUICK``,
``PAPER``, ``run(settings, seeds, seed) -> summary``, ``claims(summary)``, ``figure(...)``):

* ``heron``: HERON's hierarchical (decision-tree) labels of trajectory pairs from a ranking of
  reward factors, a BT RM, PPO on Pendulum and MountainCar;
* ``vpl``: variational preference learning, a latent-user BT model and z-conditioned policy;
* ``strength``: Secrets of RLHF II's preference strength (ensemble margins, flip/drop, label
  smoothing, adaptive margin) under label noise;
* ``ctrl_u``: Ctrl-U's uncertainty-weighted reward against over-optimisation;
* ``polar``: POLAR's policy-discriminator RM against a BT RM for matching a target policy;
* ``constrained``: constrained RLHF, proxy points and a Lagrangian over component RMs;
* ``probes``: MRMBench, linear probes of RM features against the gold reward PPO reaches.

All run on the multi-attribute, multi-user testbed (:mod:`jaxrl.envs.preference_testbed`) or
gymnax classic control (HERON). One results directory per system under
``results/preference_rms/`` (config key ``"system"``) holds ``summary.json`` (per-seed numbers,
the wall time) and the same numbers as arrays in ``metrics.npz``;
``python -m paper_figures.preference_rms`` draws each system's figure and writes its claims.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from experiments.preference_rms.config import EXPERIMENT, MODULES, PRESETS, PreferenceRMs
from jaxrl.config import to_json_dict
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.sweep import open_run, sweep_cli


def numeric_leaves(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Every numeric leaf of a JSON-able summary (numbers, and lists of numbers of any depth
    that form a regular array) as ``{"a/b/c": array}``: the run's ``metrics.npz``."""
    out: dict[str, np.ndarray] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(numeric_leaves(v, f"{prefix}{k}/"))
        return out
    try:
        arr = np.asarray(tree, dtype=np.float64)
    except (TypeError, ValueError):
        return out
    if prefix and not isinstance(tree, str):
        out[prefix[:-1]] = arr
    return out


def run_system(name: str, cfg: PreferenceRMs, store: ResultsStore):
    """Run one system (all seeds), store its summary and print its claims."""
    module, settings = MODULES[name], getattr(cfg, name)
    run_config = {
        "experiment": cfg.recorded(),
        "system": name,
        "settings": to_json_dict(settings),
        "seeds": cfg.seeds,
        "seed": cfg.seed,
    }
    run = open_run(store, EXPERIMENT, run_config, cfg, f"{name}: {cfg.seeds} seeds")
    if run.is_done:
        return run
    t0 = time.perf_counter()
    summary = module.run(settings, cfg.seeds, cfg.seed)
    summary["wall_s"] = time.perf_counter() - t0
    run.write_json("summary", summary)
    run.write_metrics("metrics", numeric_leaves(summary))
    run.mark_done()
    for c in module.claims(summary):
        print(f"[{EXPERIMENT}] {c.id}: {c.verdict} ({c.detail})", flush=True)
    print(f"[{EXPERIMENT}] {name}: {summary['wall_s']:.0f} s", flush=True)
    return run


def main(argv=None):
    cfg, store = sweep_cli(PRESETS, __doc__, argv)
    return [run_system(name, cfg, store) for name in cfg.systems]
