"""Figures and claims of ``experiments.preference_rms``: one figure per system.

    python -m paper_figures.preference_rms [--results results] [--out paper_figures/out]

Reads the newest finished run of each system (``results/preference_rms/``, config key
``"system"``), computes that system's claims from its stored summary (the verdict rules are in
each system module's docstring), draws ``preference_rms_<system>.png`` with a caption computed
from the same numbers, and merges the claims into ``claims.json``.
"""

from __future__ import annotations

from pathlib import Path

from experiments.preference_rms.config import EXPERIMENT, MODULES
from jaxrl.experiment import plotting
from jaxrl.experiment.claims import write_claims

BUDGET_WORDS = ("steps", "pairs", "users", "members", "population")


def budget(runs) -> str:
    """Per system: seeds and every settings field that sizes the run (steps, pairs, users...)."""
    parts = []
    for name, run in runs.items():
        sizes = [
            f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
            for k, v in run.config["settings"].items()
            if any(w in k for w in BUDGET_WORDS)
        ]
        parts.append(f"{name}: {run.config['seeds']} seeds, " + ", ".join(sizes))
    return "; ".join(parts)


def main(argv=None) -> list[Path]:
    args = plotting.figure_args(__doc__, argv)
    runs = plotting.latest_runs(args.results, EXPERIMENT, lambda c: c["system"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths, cl = [], []
    for name, module in MODULES.items():
        if name not in runs:
            continue
        summary = runs[name].read_json("summary")
        claims = module.claims(summary)
        cl += claims
        paths.append(module.figure(summary, claims, out))
    write_claims(out, EXPERIMENT, cl, figures=paths, runs=list(runs.values()), budget=budget(runs))
    for p in paths:
        print(f"wrote {p}")
    return paths


if __name__ == "__main__":
    main()
