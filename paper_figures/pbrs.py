"""Figure: PBRS keeps the optimum, a non-potential bonus does not (reads results/pbrs/).

    python paper_figures/pbrs.py [--results results] [--out paper_figures/out]

Top row: the true return of the learned policy against environment steps for the four shaping
variants (no shaping, PBRS with a good Φ, PBRS with a misleading Φ, the "bicycle" progress
bonus): Q-learning and PPO on the 6x6 gridworld (exact discounted true return J of the greedy /
mode policy) and PPO on sparse MountainCar (success rate of the deterministic policy). Bottom
row: the final true returns per variant with the true return of each shaped MDP's exact optimum
(open diamonds); the terminal-potential pitfall (correct PBRS with Φ(terminal) = 0 vs a naive
implementation that keeps Φ at the terminal) as curves and as final returns. IQM over seeds
with 95% stratified-bootstrap CIs. Uses the newest finished run per task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrl.analysis.stats import bootstrap_ci
from jaxrl.experiment.plotting import caption, curve_panel, figure_args, latest_runs, save_captioned

EXPERIMENT = "pbrs"
LABELS = {
    "none": "no shaping",
    "pbrs_good": "PBRS, good Φ",
    "pbrs_misleading": "PBRS, misleading Φ",
    "bonus": "progress bonus (not PBRS)",
    "pbrs": "PBRS, Φ(terminal) = 0",
    "naive_pbrs": "naive PBRS, Φ(terminal) kept",
}
COLORS = {
    "none": "black",
    "pbrs_good": "tab:blue",
    "pbrs_misleading": "tab:orange",
    "bonus": "tab:red",
    "pbrs": "tab:blue",
    "naive_pbrs": "tab:purple",
}
TITLES = {
    "grid_q": "Gridworld 6x6, Q-learning",
    "grid_ppo": "Gridworld 6x6, PPO",
    "mcar_ppo": "Sparse MountainCar, PPO",
    "pitfall_q": "Terminal-potential pitfall, Q-learning",
}
YLABELS = {
    "grid_q": "true return J (exact, discounted)",
    "grid_ppo": "true return J (exact, discounted)",
    "mcar_ppo": "success rate (eval episodes)",
    "pitfall_q": "true return J (exact, discounted)",
}


def _kilo(ax):
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))


def _final_text(final) -> str:
    point, lo, hi = bootstrap_ci(np.asarray(final), "iqm")
    return f"{point:.3f} [{lo:.3f}, {hi:.3f}]"


def _true_return_panel(ax, task, steps, metrics, variants, log_x: bool):
    """True-return learning curves of every variant (IQM, 95% CI) of one task."""
    curve_panel(
        ax,
        steps,
        {LABELS[v]: metrics[f"{v}/true_return"] for v in variants},
        "iqm",
        title=TITLES[task],
        xlabel="environment steps per seed" + (" (log scale)" if log_x else ""),
        ylabel=YLABELS[task],
        colors={LABELS[v]: COLORS[v] for v in variants},
    )
    if log_x:
        ax.set_xscale("log")


def final_points(ax, groups, statistic="iqm"):
    """Final true return per variant (IQM, 95% CI) grouped by task; reference diamonds."""
    ticks, labels, handles = [], [], {}
    x = 0.0
    for task, (metrics, reference, variants) in groups.items():
        xs = x + np.arange(len(variants)) * 0.8
        for xi, v in zip(xs, variants, strict=True):
            final = metrics[f"{v}/true_return"][:, -1]
            point, lo, hi = bootstrap_ci(final, statistic)
            h = ax.errorbar(
                xi,
                point,
                yerr=[[point - lo], [hi - point]],
                fmt="o",
                color=COLORS[v],
                capsize=3,
                label=LABELS[v],
            )
            handles.setdefault(v, h)
            ref = reference.get("variants", {}).get(v, {}).get("shaped_optimum_true_return")
            if ref is not None:
                ax.plot(xi + 0.25, ref, "D", mfc="none", color=COLORS[v], ms=5)
        ticks.append(xs.mean())
        labels.append(TITLES[task].replace(", ", "\n"))
        x = xs[-1] + 1.4
    ax.set_xticks(ticks, labels, fontsize=7)
    return handles


def main(argv=None) -> Path:
    args = figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    runs = latest_runs(args.results, EXPERIMENT, lambda c: c["task"])
    data = {
        t: (r.load_metrics(), r.read_json("reference"), r.config["variants"], r)
        for t, r in runs.items()
    }
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.2))
    captions = []
    curve_tasks = [t for t in ("grid_q", "grid_ppo", "mcar_ppo") if t in data]
    for ax, task in zip(axes[0], ("grid_q", "grid_ppo", "mcar_ppo"), strict=True):
        if task not in data:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{task}: no finished run", ha="center", transform=ax.transAxes)
            continue
        m, ref, variants, run = data[task]
        steps = np.asarray(m["env_steps"][0])
        _true_return_panel(ax, task, steps, m, variants, log_x=task == "grid_q")
        if "optimal_true_return" in ref:
            ax.axhline(
                ref["optimal_true_return"], ls=":", color="gray", lw=1, label="optimal true return"
            )
        if task != "grid_q":  # none and good Φ converge within ~1k steps, misleading Φ ~30k
            _kilo(ax)
        ax.set_ylim(-0.05, 1.05 if task == "mcar_ppo" else None)
        n = m[f"{variants[0]}/true_return"].shape[0]
        captions.append(caption(n, f"{TITLES[task]}: {int(steps[-1]):,} steps per seed"))
    if curve_tasks:
        axes[0, 0].legend(fontsize=7, loc="center right")

    ax = axes[1, 0]
    groups = {t: data[t][:3] for t in curve_tasks}
    if groups:
        handles = final_points(ax, groups)
        (ref,) = ax.plot([], [], "D", mfc="none", color="gray", label="shaped MDP's optimum")
        ax.legend(handles=[*handles.values(), ref], fontsize=7, loc="upper left", ncol=2)
    ax.set_title("Final true return (IQM, 95% CI)")
    ax.set_ylabel("final true return (J, or success rate)")
    ax.set_ylim(-0.05, 1.4)
    ax.grid(alpha=0.3, axis="y")

    if "pitfall_q" in data:
        m, ref, variants, run = data["pitfall_q"]
        steps = np.asarray(m["env_steps"][0])
        ax = axes[1, 1]
        _true_return_panel(ax, "pitfall_q", steps, m, variants, log_x=True)
        ax.axhline(ref["optimal_true_return"], ls=":", color="gray", lw=1)
        ax.set_ylim(-0.05, 0.75)
        ax.legend(fontsize=7, loc="lower right")
        handles = final_points(axes[1, 2], {"pitfall_q": (m, ref, variants)})
        axes[1, 2].set_xticks([])
        axes[1, 2].set_ylim(-0.05, 0.75)
        axes[1, 2].set_ylabel("final true return J")
        axes[1, 2].set_title("Pitfall: final true return (IQM, 95% CI)")
        axes[1, 2].grid(alpha=0.3, axis="y")
        (dia,) = axes[1, 2].plot(
            [],
            [],
            "D",
            mfc="none",
            color="gray",
            label="true return of the shaped MDP's exact optimum",
        )
        axes[1, 2].legend(handles=[*handles.values(), dia], fontsize=7, loc="lower left")
        layout = "/".join(run.config["layout"])
        n = m[f"{variants[0]}/true_return"].shape[0]
        captions.append(
            caption(
                n,
                f"pitfall: {int(steps[-1]):,} steps per seed",
                extra=(
                    f"Layout {layout} (S start, L lava −0.1 per entry, G goal +1); potential "
                    f"Φ = {run.config['experiment']['pitfall_phi_scale']}·(1 − d/D)."
                ),
            )
        )
    else:
        for a in axes[1, 1:]:
            a.set_axis_off()

    notes = [
        "Curves: Q-learning and gridworld PPO show the exact discounted true return of the "
        "greedy (mode) policy; MountainCar shows the sparse success return of the deterministic "
        "policy over fixed evaluation episodes. Diamonds: true return of the optimal policy of "
        "each shaped MDP (value iteration on the shaped table). PBRS, with a good or a misleading "
        "Φ, keeps the optimum (a misleading Φ only delays learning); the progress bonus's optimum "
        "is a loop that never reaches the goal (true return 0); naive PBRS that keeps Φ(goal) "
        "switches to the shorter lava route."
    ]
    for task, (m, _, variants, _) in sorted(data.items()):
        finals = ", ".join(
            f"{LABELS[v]} {_final_text(m[f'{v}/true_return'][:, -1])}" for v in variants
        )
        notes.append(f"Final IQM [95% CI], {TITLES[task]}: {finals}.")
    if "mcar_ppo" in data:
        m, _, variants, _ = data["mcar_ppo"]
        solved = ", ".join(
            f"{LABELS[v]} {int((m[f'{v}/true_return'][:, -1] > 0).sum())}/"
            f"{m[f'{v}/true_return'].shape[0]}"
            for v in variants
        )
        notes.append(
            f"Sparse MountainCar, seeds whose final policy reaches the goal: {solved} "
            "(PPO without shaping rarely finds the sparse reward in this budget)."
        )
    text = "\n".join(captions) + "\n" + "\n".join(notes)
    path = save_captioned(fig, Path(args.out) / f"{EXPERIMENT}.png", text, y=-0.01, wrap=True)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
