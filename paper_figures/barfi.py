"""Figures for BARFI (reads results/barfi/, the report runs of the paper's protocol).

    python -m paper_figures.barfi [--results results] [--out paper_figures/out]

* ``barfi_curves.png``: primary return vs episodes, one panel per environment × aux kind, one
  line per method at its selected setting (IQM over the fresh report seeds, 95% CI; per-seed
  returns averaged in 20 bins).
* ``barfi_phi.png``: the learned f₃ = φ₂(s) (aux weight) and f₁ = φ₁(s) (additive term) over
  the gridworld (mean over seeds of the final φ, BARFI Neumann) for the good and the bad aux, and
  γ_φ against outer steps for every env × aux (IQM, 95% CI).
* ``barfi_table.png`` (+ ``barfi_claims.json``): the paper's Table 1 form, the final return of
  each method × task normalised by primary-only (experiments/barfi/claims.py), with the verdicts
  of claims (a)-(d) in the caption; the claims also go to ``claims.json`` (the report's).

Captions of a run that is not the ``paper`` profile list what it cuts (budgets, seeds, grids).
Uses the newest finished report run per (env, aux, kind, methods).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiments.barfi import claims as claims_mod
from experiments.barfi.experiment import PRESETS
from experiments.barfi.schema import schema
from jaxrl.agents.reinforce import fourier_basis
from jaxrl.envs.barfi_envs import BOX_HIGH, BOX_LOW, GOAL_HIGH, GOAL_LOW, START
from jaxrl.experiment import plotting
from jaxrl.experiment.claims import Claim, write_claims
from jaxrl.experiment.results import atomic_write

EXPERIMENT = "barfi"
BINS = 20
HEAT_METHOD = "barfi_neumann"


def split(run, key):
    return plotting.split_conditions(
        run.load_metrics(finite=True, schema=schema(run.config["kind"]))[key],
        [r["method"] for r in run.config["rows"]],
        run.config["seeds"],
    )


def binned(r: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    S, E = r.shape
    b = max(1, E // bins)
    n = E // b
    return (np.arange(n) + 1) * b, r[:, : n * b].reshape(S, n, b).mean(-1)


def cuts(runs) -> str:
    """What the runs' profile cuts relative to the ``paper`` profile (empty when nothing)."""
    paper = PRESETS["paper"].recorded()
    exp = next(iter(runs.values())).config["experiment"]
    diffs = [
        f"{k} {exp[k]} (paper {paper[k]})"
        for k in ("seeds", "tune_seeds", *(f"{e}_episodes" for e in exp["envs"]), "grid")
        if exp.get(k) != paper.get(k)
    ]
    return ("Cuts vs the paper profile: " + "; ".join(diffs) + ".") if diffs else ""


def _curve_panel(ax, env: str, aux: str, runs) -> str | None:
    curves, x = {}, None
    for (e, a, *_), run in runs.items():
        if (e, a) == (env, aux):
            for meth, r in split(run, "primary_return").items():
                x, curves[meth] = binned(r, BINS)
    if not curves:
        ax.set_visible(False)
        return None
    title = f"{env}, {aux} aux"
    plotting.curve_panel(ax, x, curves, "iqm", title=title, xlabel="episodes",
                         ylabel="primary return")  # fmt: skip
    return f"{env}: {int(x[-1])} episodes"


def curves_figure(runs, out: Path) -> Path:
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(k[0] for k in runs))
    fig, axes = plt.subplots(len(envs), 2, figsize=(10, 3.3 * len(envs)), squeeze=False)
    budgets = [
        _curve_panel(axes[i, j], env, aux, runs)
        for i, env in enumerate(envs)
        for j, aux in enumerate(("good", "bad"))
    ]
    next(a for a in axes.flat if a.get_visible()).legend(fontsize=6, loc="best")
    seeds = sorted({r.config["seeds"] for r in runs.values()})
    text = (
        plotting.caption(seeds, "; ".join(dict.fromkeys(b for b in budgets if b)))
        + f"\nTraining-episode primary return at each method's setting selected on separate "
        f"tuning seeds, averaged in {BINS} bins per seed. {cuts(runs)}"
    )
    path = plotting.save_captioned(fig, out / f"{EXPERIMENT}_curves.png", text)
    plt.close(fig)
    return path


def phi_grid(weight: np.ndarray, bias: np.ndarray, output: int, n: int = 41) -> np.ndarray:
    """Blend output ``output`` (0: f₁ = φ₁(s), 1: f₃ = φ₂(s)) on an ``n × n`` grid of [0, 1]²,
    averaged over seeds. ``weight [seeds, F, 2]`` on the coupled Fourier basis of the position
    (F = (order + 1)²), ``bias [seeds, 2]``. Returns ``[n, n]`` (rows: y, columns: x)."""
    order = round(np.sqrt(weight.shape[1])) - 1
    if (order + 1) ** 2 != weight.shape[1]:
        raise ValueError(f"{weight.shape[1]} features is not a coupled 2-d Fourier basis")
    features, _ = fourier_basis([0.0, 0.0], [1.0, 1.0], order)
    g = np.linspace(0, 1, n)
    feats = np.asarray(features(np.stack(np.meshgrid(g, g), -1)))  # [n, n, F]
    return (feats @ weight[..., output].T + bias[:, output]).mean(-1)


def _phi_panel(fig, ax, run, aux: str, output: int) -> None:
    import matplotlib.pyplot as plt

    w = split(run, "phi_weight")[HEAT_METHOD][:, -1]  # [S, F, 2]
    b = split(run, "phi_bias")[HEAT_METHOD][:, -1]  # [S, 2]
    phi = phi_grid(w, b, output)
    vmax = max(np.abs(phi).max(), 1e-6)
    im = ax.imshow(phi, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046)
    for low, high, ls in ((GOAL_LOW, GOAL_HIGH, "-"), (BOX_LOW, BOX_HIGH, "--")):
        side = high - low
        ax.add_patch(plt.Rectangle((low, low), side, side, fill=False, ec="k", ls=ls, lw=1.5))
    ax.plot([START[0]], [START[1]], "k^")
    name = ("f₁ = φ₁(s)", "f₃ = φ₂(s)")[output]
    ax.set_title(f"gridworld {aux} aux: {name}\n({HEAT_METHOD}, {w.shape[0]} seeds)", fontsize=8)


def _gamma_panel(ax, barfi_runs) -> None:
    for (e, a), r in sorted(barfi_runs.items()):
        g = split(r, "gamma_phi").get(HEAT_METHOD)
        if g is not None:
            plotting.plot_curves(ax, np.arange(1, g.shape[1] + 1), {f"{e}/{a}": g}, "iqm")
    ax.set_xlabel("outer steps")
    ax.set_ylabel(f"γ_φ ({HEAT_METHOD})")
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)


def phi_figure(runs, out: Path) -> Path:
    import matplotlib.pyplot as plt

    barfi_runs = {  # the BARFI run (compiled group) that holds HEAT_METHOD, per env × aux
        (e, a): r
        for (e, a, k, _), r in runs.items()
        if k == "barfi" and HEAT_METHOD in {row["method"] for row in r.config["rows"]}
    }
    heat = [a for a in ("good", "bad") if ("gridworld", a) in barfi_runs]
    ncol = 2 * len(heat) + 1
    fig, axes = plt.subplots(1, ncol, figsize=(3.8 * ncol, 3.6), squeeze=False)
    for i, aux in enumerate(heat):
        for output in (1, 0):
            _phi_panel(fig, axes[0, 2 * i + (1 - output)], barfi_runs[("gridworld", aux)], aux,
                       output)  # fmt: skip
    _gamma_panel(axes[0, -1], barfi_runs)
    text = (
        "Solid box: goal region G1; dashed: the bad aux's box; triangle: start. r_φ = r_p + f₁(s) "
        "+ f₃(s)·r_aux, starting at f₁ = 0, f₃ = 1. γ_φ: IQM over seeds, 95% bootstrap CI. "
        + cuts(runs)
    )
    path = plotting.save_captioned(fig, out / f"{EXPERIMENT}_phi.png", text, y=-0.03, wrap=True)
    plt.close(fig)
    return path


def table_figure(runs, out: Path) -> tuple[Path, Path, list[Claim]]:
    """Normalised final return, methods × (env, aux), and the claims (claims.py)."""
    import matplotlib.pyplot as plt

    scores: dict = {}
    for (e, a, *_), run in runs.items():
        final = run.read_json("summary")["final_primary_return"]
        scores.setdefault((e, a), {}).update({m: np.asarray(v) for m, v in final.items()})
    tab = claims_mod.table(scores)
    cl = claims_mod.claims(tab)
    cols = list(tab)
    methods = list(dict.fromkeys(m for v in tab.values() for m in v["raw"]))
    val = np.array([[tab[c]["normalised"].get(m, {}).get("point", np.nan) for c in cols]
                    for m in methods])  # fmt: skip
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2, 0.45 * len(methods) + 1.5))
    ax.imshow(np.clip(val, 0, 1.5), cmap="RdYlGn", vmin=0, vmax=1.5, aspect="auto")
    for i, m in enumerate(methods):
        for j, c in enumerate(cols):
            s = tab[c]["normalised"].get(m)
            txt = claims_mod.fmt(s) if s and np.isfinite(s["point"]) else "-"
            ax.text(j, i, txt.replace(" [", "\n["), ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(cols)), [c + ("" if tab[c]["informative"] else "*") for c in cols],
                  fontsize=7, rotation=20)  # fmt: skip
    ax.set_yticks(range(len(methods)), methods, fontsize=7)
    text = (
        "Final primary return (last 10% of episodes) normalised by primary-only, (IQM − floor) / "
        "(IQM_primary − floor), 95% bootstrap CI over both methods' seeds. *: primary-only did not"
        " learn (left out of the claims). Rules: experiments/barfi/claims.py.\n"
        + "\n".join(f"[{c.id}] {c.verdict.upper()}" for c in cl)
        + f"\n{cuts(runs)}"
    )
    path = plotting.save_captioned(fig, out / f"{EXPERIMENT}_table.png", text, y=-0.05)
    plt.close(fig)
    payload = json.dumps({"table": tab, "claims": [c.to_json() for c in cl]}, indent=1,
                         default=float)  # fmt: skip
    jpath = atomic_write(out / f"{EXPERIMENT}_claims.json", lambda f: f.write(payload.encode()))
    return path, jpath, cl


def budget(runs) -> str:
    """Profile cuts aside, the report runs' episodes per environment and seeds."""
    exp = next(iter(runs.values())).config["experiment"]
    eps = ", ".join(f"{e} {exp[f'{e}_episodes']} episodes" for e in exp["envs"])
    return f"{eps}; {exp['seeds']} report seeds, {exp['tune_seeds']} tuning seeds per setting"


def main(argv=None) -> list[Path]:
    args = plotting.figure_args(__doc__, argv)
    runs = plotting.latest_runs(
        args.results,
        EXPERIMENT,
        lambda c: (c["env"], c["aux"], c["kind"], tuple(c.get("methods", ())), c.get("phase")),
    )
    runs = {k[:4]: r for k, r in runs.items() if k[4] == "report"}
    out = Path(args.out)
    table, jpath, cl = table_figure(runs, out)
    pngs = [curves_figure(runs, out), phi_figure(runs, out), table]
    write_claims(out, EXPERIMENT, cl, figures=pngs, runs=list(runs.values()), budget=budget(runs))
    paths = [*pngs, jpath]
    for p in paths:
        print(f"wrote {p}")
    return paths


if __name__ == "__main__":
    main()
