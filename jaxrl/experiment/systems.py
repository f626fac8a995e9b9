"""Experiments that are a family of small systems, one module each (issues 18-20).

A *system module* has one interface::

    Settings                          # a frozen jaxrl.config.Config of its budgets and knobs
    QUICK, PAPER                      # two Settings
    run(settings, seeds, seed) -> summary       # JSON-able numbers, no file I/O
    claims(summary) -> list[Claim]              # computed from the summary (claims as data)
    figure(summary, claims, out) -> Path        # one figure; the caption is computed

An experiment over such a family (``experiments.preference_rms``, ``experiments.
exploration_rewards``) declares ``MODULES = {name: module}`` and a sweep config with one
``Settings`` field per system; :func:`run_system` runs one system into its own results directory
(config key ``"system"``) and :func:`figures_main` is the whole figure script.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.config import to_json_dict
from jaxrl.experiment import plotting
from jaxrl.experiment.claims import write_claims
from jaxrl.experiment.results import ResultsStore
from jaxrl.experiment.schema import MetricSpec, Schema
from jaxrl.experiment.sweep import SeededSweep, open_run, sweep_cli

#: Settings fields whose name contains one of these words size a run (they go in the budget).
BUDGET_WORDS = ("steps", "pairs", "users", "members", "population", "episodes", "generations")


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


def family_config(cls_name: str, modules: Mapping[str, Any], seeds: int = 5) -> type:
    """The sweep config of a family: a frozen :class:`SeededSweep` with ``seeds``, ``systems``
    (which to run; an unknown name is an error naming it) and one field per system holding its
    ``Settings`` (default ``QUICK``), so ``--<system>.<field>`` overrides work on the CLI."""
    names = tuple(modules)

    def check(self) -> None:
        SeededSweep.check(self)
        self.check_positive("seeds")
        unknown = sorted(set(self.systems) - set(names))
        self.require(not unknown, "systems", f"unknown {unknown}; known: {names}")

    fields = [
        ("seeds", int, dataclasses.field(default=seeds)),
        ("systems", tuple[str, ...], dataclasses.field(default=names)),
        *((n, m.Settings, dataclasses.field(default=m.QUICK)) for n, m in modules.items()),
    ]
    return dataclasses.make_dataclass(
        cls_name, fields, bases=(SeededSweep,), frozen=True, namespace={"check": check}
    )


def family_presets(cls: type, modules: Mapping[str, Any], paper_seeds: int = 10) -> dict:
    """``{"quick": every system's QUICK, "paper": every system's PAPER with more seeds}``."""
    return {
        "quick": cls(),
        "paper": cls(seeds=paper_seeds, **{n: m.PAPER for n, m in modules.items()}),
    }


def family_main(experiment: str, modules: Mapping[str, Any], presets, doc, argv) -> list:
    """The CLI of a family: parse ``--profile`` and overrides, run each selected system."""
    cfg, store = sweep_cli(presets, doc, argv)
    return [run_system(experiment, n, modules[n], cfg, store) for n in cfg.systems]


def summary_metrics(
    experiment: str, summary: Any, seeds: int
) -> tuple[dict[str, np.ndarray], Schema]:
    """The summary's numeric leaves as ``metrics.npz`` arrays with a schema, so that
    :func:`jaxrl.experiment.to_frame` reads them: a leaf whose first axis has ``seeds`` entries
    is per seed (axes ``("seed", "<name>:1", ...)``); any other leaf (a scalar, a per-condition
    list) gets a leading axis of one (``("one", "<name>:1", ...)``). Axes after the first are
    named after their metric, since a summary's axes carry no names. A summary has no axis
    names, so a per-condition list that happens to have exactly ``seeds`` entries is read as per
    seed: system modules put the seed axis first and keep per-condition lists under names that
    say so."""
    arrays, specs = {}, []
    for name, arr in numeric_leaves(summary).items():
        per_seed = arr.ndim >= 1 and arr.shape[0] == seeds
        arr = arr if per_seed else arr[None]
        axes = ("seed" if per_seed else "one", *(f"{name}:{i}" for i in range(1, arr.ndim)))
        arrays[name] = arr
        specs.append(MetricSpec(name, "float64", axes, allow_nonfinite=True))
    return arrays, Schema(experiment, tuple(specs))


def run_system(experiment: str, name: str, module: Any, cfg: Any, store: ResultsStore):
    """Run system ``name`` (all ``cfg.seeds`` seeds) with ``getattr(cfg, name)`` as its
    settings, store ``summary.json`` (with the wall time) and ``metrics.npz`` in a results
    directory of its own, and print its claims; a finished run is not run again."""
    settings = getattr(cfg, name)
    run_config = {
        "experiment": cfg.recorded(),
        "system": name,
        "settings": to_json_dict(settings),
        "seeds": cfg.seeds,
        "seed": cfg.seed,
    }
    run = open_run(store, experiment, run_config, cfg, f"{name}: {cfg.seeds} seeds")
    if run.is_done:
        return run
    t0 = time.perf_counter()
    summary = module.run(settings, cfg.seeds, cfg.seed)
    summary["wall_s"] = time.perf_counter() - t0
    run.write_json("summary", summary)
    arrays, schema = summary_metrics(experiment, summary, cfg.seeds)
    run.write_metrics("metrics", arrays, schema=schema)
    run.mark_done()
    for c in module.claims(summary):
        print(f"[{experiment}] {c.id}: {c.verdict} ({c.detail})", flush=True)
    print(f"[{experiment}] {name}: {summary['wall_s']:.0f} s", flush=True)
    return run


def budget(runs: Mapping[str, Any]) -> str:
    """Per system: seeds and every settings field that sizes the run (:data:`BUDGET_WORDS`)."""
    parts = []
    for name, run in runs.items():
        sizes = [
            f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
            for k, v in run.config["settings"].items()
            if any(w in k for w in BUDGET_WORDS)
        ]
        parts.append(f"{name}: {run.config['seeds']} seeds, " + ", ".join(sizes))
    return "; ".join(parts)


def figures_main(
    experiment: str, modules: Mapping[str, Any], doc: str | None, argv: Sequence[str] | None
) -> list[Path]:
    """The figure script of a family: the newest finished run of each system, its claims
    computed from its stored summary, its figure ``<experiment>_<system>.png``, and every
    claim merged into ``claims.json``."""
    args = plotting.figure_args(doc, argv)
    runs = plotting.latest_runs(args.results, experiment, lambda c: c["system"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths, cl = [], []
    for name, module in modules.items():
        if name not in runs:
            continue
        summary = runs[name].read_json("summary")
        claims = module.claims(summary)
        cl += claims
        paths.append(module.figure(summary, claims, out))
    write_claims(out, experiment, cl, figures=paths, runs=list(runs.values()), budget=budget(runs))
    for p in paths:
        print(f"wrote {p}")
    return paths
