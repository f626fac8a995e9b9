"""Figures for BARFI (reads results/barfi/): learning curves, φ₂(s) heatmaps, γ_φ trajectories.

    python paper_figures/barfi.py [--results results] [--out paper_figures/out]

* ``barfi_curves.png``: primary return vs episodes, one panel per environment × aux kind, one
  line per method (REINFORCE primary / naive / PBRS variants, BARFI first-order / Neumann).
  Per-seed returns are averaged in 20 consecutive-episode bins, then IQM over seeds with a 95%
  stratified-bootstrap CI.
* ``barfi_phi.png``: the learned aux weight φ₂(s) over the gridworld (mean over seeds of the final
  φ, BARFI Neumann), for the good and the bad aux, with the goal region and the central box drawn;
  and γ_φ against outer steps for every env × aux (IQM, 95% CI).

Uses the newest finished run per (env, aux, family).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from jaxrl.experiment import plotting

EXPERIMENT = "barfi"
BINS = 20
COLORS = {
    "primary": "tab:gray",
    "naive": "tab:orange",
    "pbrs": "tab:purple",
    "pbrs_state": "tab:pink",
    "barfi_fo": "tab:blue",
    "barfi_neumann": "tab:green",
}


def split(run, key):
    return plotting.split_conditions(
        run.load_metrics()[key], run.config["methods"], run.config["seeds"]
    )


def binned(r: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    S, E = r.shape
    b = max(1, E // bins)
    n = E // b
    return (np.arange(n) + 1) * b, r[:, : n * b].reshape(S, n, b).mean(-1)


def main(argv=None) -> list[Path]:
    args = plotting.figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    runs = plotting.latest_runs(
        args.results, EXPERIMENT, lambda c: (c["env"], c["aux"], c["family"])
    )
    panels = sorted({(e, a) for e, a, _ in runs}, key=lambda k: (k[0], k[1] != "good"))
    envs = sorted({e for e, _ in panels})
    fig, axes = plt.subplots(len(envs), 2, figsize=(10, 3.3 * len(envs)), squeeze=False)
    seeds, budgets = set(), []
    for env_i, env in enumerate(envs):
        for aux_i, aux in enumerate(("good", "bad")):
            ax = axes[env_i, aux_i]
            curves = {}
            for family in ("baselines", "barfi"):
                run = runs.get((env, aux, family))
                if run is None:
                    continue
                for meth, r in split(run, "primary_return").items():
                    x, curves[meth] = binned(r, BINS)
                    seeds.add(r.shape[0])
            if not curves:
                ax.set_visible(False)
                continue
            plotting.curve_panel(
                ax,
                x,
                curves,
                "iqm",
                title=f"{env}, {aux} aux",
                xlabel="episodes",
                ylabel="primary return",
                colors=COLORS,
            )
            budgets.append(f"{env}: {int(x[-1])} episodes")
    axes[0, -1].legend(fontsize=7, loc="best")
    text = (
        plotting.caption(sorted(seeds), "; ".join(sorted(set(budgets))))
        + f"\nTraining-episode primary return, averaged in {BINS} bins per seed."
    )
    out = [plotting.save_captioned(fig, Path(args.out) / f"{EXPERIMENT}_curves.png", text)]
    plt.close(fig)

    # φ₂ heatmaps (gridworld) and γ_φ trajectories
    barfi_runs = {(e, a): r for (e, a, f), r in runs.items() if f == "barfi"}
    n_heat = sum(1 for (e, _) in barfi_runs if e == "gridworld")
    fig, axes = plt.subplots(1, n_heat + 1, figsize=(4.2 * (n_heat + 1), 3.6), squeeze=False)
    axes = axes[0]
    col = 0
    for aux in ("good", "bad"):
        run = barfi_runs.get(("gridworld", aux))
        if run is None:
            continue
        from jaxrl.agents.reinforce import fourier_basis

        f, _ = fourier_basis([0.0, 0.0], [1.0, 1.0], 3)
        w = split(run, "phi_weight")["barfi_neumann"][:, -1]  # [S, F, 2]
        b = split(run, "phi_bias")["barfi_neumann"][:, -1]  # [S, 2]
        g = np.linspace(0, 1, 41)
        xx, yy = np.meshgrid(g, g)
        feats = np.asarray(f(np.stack([xx, yy], -1)))  # [41, 41, F]
        phi2 = (feats @ w[..., 1].T + b[:, 1]).mean(-1)
        ax = axes[col]
        im = ax.imshow(
            phi2,
            origin="lower",
            extent=(0, 1, 0, 1),
            cmap="RdBu_r",
            vmin=-np.abs(phi2).max(),
            vmax=np.abs(phi2).max(),
        )
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.add_patch(plt.Rectangle((0.75, 0.75), 0.24, 0.24, fill=False, ec="k", lw=1.5))
        ax.add_patch(plt.Rectangle((0.4, 0.4), 0.2, 0.2, fill=False, ec="k", ls="--", lw=1.5))
        ax.plot([0.125], [0.125], "k^")
        ax.set_title(
            f"gridworld {aux} aux: learned φ₂(s)\n(BARFI Neumann, mean of {w.shape[0]} seeds)",
            fontsize=9,
        )
        col += 1
    ax = axes[col]
    gam = {}
    for (env, aux), run in sorted(barfi_runs.items()):
        g = split(run, "gamma_phi")["barfi_neumann"]
        gam[f"{env}/{aux}"] = g
    if gam:
        steps = np.arange(1, next(iter(gam.values())).shape[1] + 1)
        if len({v.shape[1] for v in gam.values()}) == 1:
            plotting.plot_curves(ax, steps, gam, "iqm")
        else:
            for k, v in gam.items():
                plotting.plot_curves(ax, np.arange(1, v.shape[1] + 1), {k: v}, "iqm")
        ax.set_xlabel("outer steps")
        ax.set_ylabel("γ_φ (BARFI Neumann)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    text = (
        "Solid box: goal region G1; dashed: the bad aux's +50 box; triangle: "
        "start. γ_φ: IQM over seeds, 95% bootstrap CI."
    )
    out.append(
        plotting.save_captioned(fig, Path(args.out) / f"{EXPERIMENT}_phi.png", text, y=-0.03)
    )
    plt.close(fig)
    for p in out:
        print(f"wrote {p}")
    return out


if __name__ == "__main__":
    main()
