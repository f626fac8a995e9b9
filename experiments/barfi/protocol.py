"""The paper's protocol, vmapped: tune on some seeds, report the chosen setting on fresh seeds.

For one task (env × aux) and one *group* of methods (same trainer kind and static settings,
methods.py):

1. **tune**: every method's grid (tasks.py, methods.py) × ``tune_seeds`` seeds is one
   ``jit(vmap)`` call (rows: ``(method, setting)``, each on the same ``tune_seeds`` keys);
2. **select**: per method, the setting with the highest mean over tuning seeds of the final-window
   primary return (the last ``final_frac`` of episodes);
3. **report**: the selected setting of every method × ``seeds`` *fresh* seeds, one call.

Tuning and reporting keys come from ``fold_in(key(seed), stream)`` with stream 0 (tune) and 1
(report), so no reported seed chose its setting. A method with a single setting skips step 1.
Each call is one run directory (config ``phase`` = "tune" / "report", ``rows``: the method and
hyperparameters of each block of ``seeds`` consecutive runs).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.barfi.methods import BY_NAME, Method
from experiments.barfi.schema import schema
from experiments.barfi.tasks import ENV_IDS, Task, grid_points
from jaxrl.agents import reinforce as rf
from jaxrl.bilevel import barfi
from jaxrl.experiment.sweep import open_run, run_sweep
from jaxrl.shaping import aux_shaping

EXPERIMENT = "barfi"
STREAMS = {"tune": 0, "report": 1}


def phase_keys(seed: int, phase: str, seeds: int, rows: int) -> jax.Array:
    """Keys ``[rows · seeds]``: every row reuses the phase's ``seeds`` keys."""
    base = jax.random.fold_in(jax.random.key(seed), STREAMS[phase])
    return jnp.tile(jax.random.split(base, seeds), rows)


def final_scores(returns: np.ndarray, frac: float) -> np.ndarray:
    """``[runs, episodes] -> [runs]``: mean primary return over the last ``frac`` of episodes."""
    r = np.asarray(returns, np.float64)
    last = max(1, int(round(frac * r.shape[1])))
    return r[:, -last:].mean(1)


def trainer(task: Task, method: Method):
    """The method's trainer on the task (one per group: equal static overrides)."""
    static = dataclasses.replace(task.statics[method.kind], **method.static)
    args = (static, task.env, task.features, task.n_features, task.env_params)
    if method.kind == "baselines":
        return rf.make_train(*args, transform=aux_shaping())
    return barfi.make_train(*args)


def stack_rows(task: Task, rows: list[dict[str, Any]], seeds: int):
    """Hyperparameters ``[len(rows) · seeds]`` (row-major) of one group's rows."""
    kind = BY_NAME[rows[0]["method"]].kind
    base = task.hparams[kind]
    hps = [base._replace(**BY_NAME[r["method"]].hp, **r["hparams"]) for r in rows]
    stacked = jax.tree.map(lambda *xs: np.repeat(np.asarray(xs), seeds, 0), *hps)
    return stacked.broadcast(len(rows) * seeds)


def run_phase(store, cfg, task: Task, methods, phase: str, rows, seeds: int):
    """One ``jit(vmap)`` call over ``rows × seeds``; returns ``(run, metrics)``."""
    kind = BY_NAME[methods[0]].kind
    tr = trainer(task, BY_NAME[methods[0]])
    run_config = {
        "experiment": cfg.recorded(),
        "env": task.name,
        "env_id": ENV_IDS[task.name],
        "aux": task.aux,
        "kind": kind,
        "phase": phase,
        "methods": list(methods),
        "rows": rows,
        "seeds": seeds,
        "key_stream": STREAMS[phase],
        "static": dataclasses.asdict(tr.static),
    }
    label = f"{task.name}/{task.aux}/{phase}: {'+'.join(methods)}, {len(rows)} rows x {seeds} seeds"
    run = open_run(store, EXPERIMENT, run_config, cfg, label)
    keys = phase_keys(cfg.seed, phase, seeds, len(rows))
    hp = stack_rows(task, rows, seeds)
    t0 = time.time()
    metrics = run_sweep(
        cfg, run, tr, keys, hp, postfix_metric="primary_return", schema=schema(kind)
    )
    return run, metrics, time.time() - t0


def tune_and_report(store, cfg, task: Task, methods: list[str], grid_of) -> dict[str, Any]:
    """Steps 1-3 for one group; ``grid_of(method) -> list of settings``. Returns the report run
    and, per method, the selected setting and the tuning scores."""
    grids = {m: grid_of(BY_NAME[m]) for m in methods}
    tuned = [m for m in methods if len(grids[m]) > 1]
    selection: dict[str, Any] = {}
    wall = {}
    if tuned:
        rows = [{"method": m, "hparams": p} for m in tuned for p in grids[m]]
        S = cfg.tune_seeds
        run, metrics, wall["tune"] = run_phase(store, cfg, task, tuned, "tune", rows, S)
        scores = final_scores(metrics["primary_return"], cfg.final_frac)
        means = scores.reshape(len(rows), cfg.tune_seeds).mean(1)
        for m in tuned:
            idx = [i for i, r in enumerate(rows) if r["method"] == m]
            best = idx[int(np.argmax(means[idx]))]
            selection[m] = {
                "hparams": rows[best]["hparams"],
                "tuning": [{"hparams": rows[i]["hparams"], "score": float(means[i])} for i in idx],
            }
        run.write_json("selection", selection)
        run.mark_done()
    for m in methods:
        selection.setdefault(m, {"hparams": grids[m][0], "tuning": []})
    rows = [{"method": m, "hparams": selection[m]["hparams"]} for m in methods]
    run, metrics, wall["report"] = run_phase(store, cfg, task, methods, "report", rows, cfg.seeds)
    scores = final_scores(metrics["primary_return"], cfg.final_frac).reshape(len(rows), cfg.seeds)
    run.write_json(
        "summary",
        {"wall_s": wall, "selection": selection, "final_primary_return": {
            m: scores[i].tolist() for i, m in enumerate(methods)
        }},
    )  # fmt: skip
    run.mark_done()
    return {"run": run, "selection": selection, "wall_s": wall}


def method_grid(task_grid: dict, method: Method) -> list[dict[str, float]]:
    """The settings of ``method``: its kind's task grid plus its own axes."""
    return grid_points({**task_grid[method.kind], **method.grid})
