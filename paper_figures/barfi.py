"""Figures for BARFI (reads results/barfi/): learning curves, φ₂(s) heatmaps, γ_φ trajectories.

    python -m paper_figures.barfi [--results results] [--out paper_figures/out]

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

from pathlib import Path

import numpy as np

from experiments.barfi.schema import schema
from jaxrl.agents.reinforce import fourier_basis
from jaxrl.envs.barfi_envs import BOX_HIGH, BOX_LOW, GOAL_HIGH, GOAL_LOW, START, GridParams
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
        run.load_metrics(finite=True, schema=schema(run.config["family"]))[key],
        run.config["methods"],
        run.config["seeds"],
    )


def binned(r: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    S, E = r.shape
    b = max(1, E // bins)
    n = E // b
    return (np.arange(n) + 1) * b, r[:, : n * b].reshape(S, n, b).mean(-1)


def _curve_panel(ax, env: str, aux: str, runs) -> str | None:
    """Binned primary-return curves of every method of one (env, aux); its budget, or ``None``
    (panel hidden) without runs."""
    curves, x = {}, None
    for family in ("baselines", "barfi"):
        run = runs.get((env, aux, family))
        if run is not None:
            for meth, r in split(run, "primary_return").items():
                x, curves[meth] = binned(r, BINS)
    if not curves:
        ax.set_visible(False)
        return None
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
    return f"{env}: {int(x[-1])} episodes"


def curves_figure(runs, out: Path) -> Path:
    """``barfi_curves.png``: one panel per environment × aux kind."""
    import matplotlib.pyplot as plt

    envs = sorted({e for e, _, _ in runs})
    fig, axes = plt.subplots(len(envs), 2, figsize=(10, 3.3 * len(envs)), squeeze=False)
    budgets = [
        _curve_panel(axes[i, j], env, aux, runs)
        for i, env in enumerate(envs)
        for j, aux in enumerate(("good", "bad"))
    ]
    axes[0, -1].legend(fontsize=7, loc="best")
    seeds = sorted({r.config["seeds"] for r in runs.values()})
    text = (
        plotting.caption(seeds, "; ".join(sorted({b for b in budgets if b})))
        + f"\nTraining-episode primary return, averaged in {BINS} bins per seed."
    )
    path = plotting.save_captioned(fig, out / f"{EXPERIMENT}_curves.png", text)
    plt.close(fig)
    return path


def phi2_grid(weight: np.ndarray, bias: np.ndarray, n: int = 41) -> np.ndarray:
    """The learned aux weight φ₂ on an ``n × n`` grid of [0, 1]², averaged over seeds.

    Args:
      weight: ``[seeds, F, 2]`` final φ weights on the coupled Fourier basis of the gridworld
        position (F = (order + 1)², so the order is read from F).
      bias: ``[seeds, 2]``.

    Returns:
      ``[n, n]`` (rows: y, columns: x).
    """
    order = round(np.sqrt(weight.shape[1])) - 1
    if (order + 1) ** 2 != weight.shape[1]:
        raise ValueError(f"{weight.shape[1]} features is not a coupled 2-d Fourier basis")
    features, _ = fourier_basis([0.0, 0.0], [1.0, 1.0], order)
    g = np.linspace(0, 1, n)
    feats = np.asarray(features(np.stack(np.meshgrid(g, g), -1)))  # [n, n, F]
    return (feats @ weight[..., 1].T + bias[:, 1]).mean(-1)


def _phi_panel(fig, ax, run, aux: str) -> None:
    """Heatmap of φ₂(s) (BARFI Neumann) with the goal region, the bad aux's box and the start."""
    import matplotlib.pyplot as plt

    w = split(run, "phi_weight")["barfi_neumann"][:, -1]  # [S, F, 2]
    b = split(run, "phi_bias")["barfi_neumann"][:, -1]  # [S, 2]
    phi2 = phi2_grid(w, b)
    vmax = np.abs(phi2).max()
    im = ax.imshow(phi2, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046)
    for low, high, ls in ((GOAL_LOW, GOAL_HIGH, "-"), (BOX_LOW, BOX_HIGH, "--")):
        side = high - low
        ax.add_patch(plt.Rectangle((low, low), side, side, fill=False, ec="k", ls=ls, lw=1.5))
    ax.plot([START[0]], [START[1]], "k^")
    ax.set_title(
        f"gridworld {aux} aux: learned φ₂(s)\n(BARFI Neumann, mean of {w.shape[0]} seeds)",
        fontsize=9,
    )


def _gamma_panel(ax, barfi_runs) -> None:
    """γ_φ against outer steps for every env × aux (IQM, 95% CI)."""
    gam = {f"{e}/{a}": split(r, "gamma_phi")["barfi_neumann"] for (e, a), r in barfi_runs.items()}
    for k, v in sorted(gam.items()):
        plotting.plot_curves(ax, np.arange(1, v.shape[1] + 1), {k: v}, "iqm")
    if gam:
        ax.set_xlabel("outer steps")
        ax.set_ylabel("γ_φ (BARFI Neumann)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)


def phi_figure(runs, out: Path) -> Path:
    """``barfi_phi.png``: φ₂ heatmaps (gridworld, good and bad aux) and γ_φ trajectories."""
    import matplotlib.pyplot as plt

    barfi_runs = {(e, a): r for (e, a, f), r in runs.items() if f == "barfi"}
    heat = [a for a in ("good", "bad") if ("gridworld", a) in barfi_runs]
    fig, axes = plt.subplots(1, len(heat) + 1, figsize=(4.2 * (len(heat) + 1), 3.6), squeeze=False)
    for ax, aux in zip(axes[0], heat, strict=False):
        _phi_panel(fig, ax, barfi_runs[("gridworld", aux)], aux)
    _gamma_panel(axes[0, -1], barfi_runs)
    text = (
        f"Solid box: goal region G1; dashed: the bad aux's +{GridParams().box_bonus:g} box; "
        "triangle: start. γ_φ: IQM over seeds, 95% bootstrap CI."
    )
    path = plotting.save_captioned(fig, out / f"{EXPERIMENT}_phi.png", text, y=-0.03)
    plt.close(fig)
    return path


def main(argv=None) -> list[Path]:
    args = plotting.figure_args(__doc__, argv)
    runs = plotting.latest_runs(
        args.results, EXPERIMENT, lambda c: (c["env"], c["aux"], c["family"])
    )
    out = [curves_figure(runs, Path(args.out)), phi_figure(runs, Path(args.out))]
    for p in out:
        print(f"wrote {p}")
    return out


if __name__ == "__main__":
    main()
