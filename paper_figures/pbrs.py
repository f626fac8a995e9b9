"""Figure and claims: PBRS vs a misleading Φ vs a non-potential bonus (reads results/pbrs/).

    python -m paper_figures.pbrs [--results results] [--out paper_figures/out]

Top row: the true return of the learned policy against environment steps for the four shaping
variants (no shaping, PBRS with a good Φ, PBRS with a misleading Φ, the "bicycle" progress
bonus): Q-learning and PPO on the 6x6 gridworld (exact discounted true return J of the greedy /
mode policy) and PPO on sparse MountainCar (success rate of the deterministic policy). Bottom
row: the final true returns per variant with the true return of each shaped MDP's exact optimum
(open diamonds); the terminal-potential pitfall (correct PBRS with Φ(terminal) = 0 vs a naive
implementation that keeps Φ at the terminal) as curves and as final returns. Third row, when a
``brax_ppo`` run exists (``--brax``): PPO on sparse Brax Hopper (milestones of forward progress;
no shaping, PBRS with Φ = distance, the forward-step bonus), curves and final returns. IQM over
seeds with 95% stratified-bootstrap CIs. Uses the newest finished run per task.

The claims (:mod:`paper_figures.pbrs_claims`, ids ``pbrs.<tag>``) are computed from the same
runs and go to the caption and ``claims.json``; the rest of the caption states what is drawn,
the budget, the seeds and the measured final returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.pbrs.schema import key, schema
from jaxrl.analysis.stats import bootstrap_ci
from jaxrl.experiment.claims import claims_caption, write_claims
from jaxrl.experiment.plotting import (
    caption,
    curve_panel,
    figure_args,
    latest_runs,
    save_captioned,
)
from paper_figures.pbrs_claims import LABELS, claims

EXPERIMENT = "pbrs"
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
    "brax_ppo": "Sparse Brax Hopper, PPO",
}
YLABELS = {
    "grid_q": "true return J (exact, discounted)",
    "grid_ppo": "true return J (exact, discounted)",
    "mcar_ppo": "success rate (eval episodes)",
    "pitfall_q": "true return J (exact, discounted)",
    "brax_ppo": "sparse return (milestones, eval episodes)",
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
        {LABELS[v]: metrics[key(v, "true_return")] for v in variants},
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
            final = metrics[key(v, "true_return")][:, -1]
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


def _curve_panel(ax, task: str, data: dict) -> str | None:
    """Top row: true-return curves of one task (or a note if it has no run); its caption."""
    if task not in data:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{task}: no finished run", ha="center", transform=ax.transAxes)
        return None
    m, ref, variants, _ = data[task]
    steps = np.asarray(m["env_steps"][0])
    _true_return_panel(ax, task, steps, m, variants, log_x=task == "grid_q")
    if "optimal_true_return" in ref:
        ax.axhline(
            ref["optimal_true_return"], ls=":", color="gray", lw=1, label="optimal true return"
        )
    if task != "grid_q":  # none and good Φ converge within ~1k steps, misleading Φ ~30k
        _kilo(ax)
    ax.set_ylim(-0.05, 1.05 if task == "mcar_ppo" else None)
    n = m.sizes["seed"]
    return caption(n, f"{TITLES[task]}: {int(steps[-1]):,} steps per seed")


def _finals_panel(ax, data: dict, tasks) -> None:
    """Bottom left: final true return per variant of the curve tasks, with shaped optima."""
    groups = {t: data[t][:3] for t in tasks}
    if groups:
        handles = final_points(ax, groups)
        (ref,) = ax.plot([], [], "D", mfc="none", color="gray", label="shaped MDP's optimum")
        ax.legend(handles=[*handles.values(), ref], fontsize=7, loc="upper left", ncol=2)
    ax.set_title("Final true return (IQM, 95% CI)")
    ax.set_ylabel("final true return (J, or success rate)")
    ax.set_ylim(-0.05, 1.4)
    ax.grid(alpha=0.3, axis="y")


def _pitfall_panels(ax_curve, ax_final, data: dict) -> str:
    """Bottom middle and right: the terminal-potential pitfall's curves and final returns."""
    m, ref, variants, run = data["pitfall_q"]
    steps = np.asarray(m["env_steps"][0])
    _true_return_panel(ax_curve, "pitfall_q", steps, m, variants, log_x=True)
    ax_curve.axhline(ref["optimal_true_return"], ls=":", color="gray", lw=1)
    ax_curve.legend(fontsize=7, loc="lower right")
    handles = final_points(ax_final, {"pitfall_q": (m, ref, variants)})
    top = 1.1 * max(
        [ref["optimal_true_return"]] + [np.max(m[key(v, "true_return")]) for v in variants]
    )
    low = min([-0.05] + [1.1 * np.min(m[key(v, "true_return")]) for v in variants])  # lava loops
    for ax in (ax_curve, ax_final):
        ax.set_ylim(low, top)
    ax_final.set_xticks([])
    ax_final.set_ylabel("final true return J")
    ax_final.set_title("Pitfall: final true return (IQM, 95% CI)")
    ax_final.grid(alpha=0.3, axis="y")
    (dia,) = ax_final.plot(
        [], [], "D", mfc="none", color="gray", label="true return of the shaped MDP's exact optimum"
    )
    ax_final.legend(handles=[*handles.values(), dia], fontsize=7, loc="lower left")
    layout = "/".join(run.config["layout"])
    n = m.sizes["seed"]
    return caption(
        n,
        f"pitfall: {int(steps[-1]):,} steps per seed",
        extra=(
            f"Layout {layout} (S start, L lava −0.1 per entry, G goal +1); potential "
            f"Φ = {run.config['experiment']['pitfall_phi_scale']}·(1 − d/D)."
        ),
    )


def facts(data: dict) -> list[str]:
    """Caption lines that state what is drawn and the measured numbers, no conclusion."""
    out = [
        "Curves: Q-learning and gridworld PPO show the exact discounted true return of the "
        "greedy (mode) policy; MountainCar shows the sparse success return of the deterministic "
        "policy over fixed evaluation episodes. Diamonds: true return of the optimal policy of "
        "each shaped MDP (value iteration on the shaped table)."
    ]
    for task, (m, _, variants, _) in sorted(data.items()):
        finals = ", ".join(
            f"{LABELS[v]} {_final_text(m[key(v, 'true_return')][:, -1])}" for v in variants
        )
        out.append(f"Final IQM [95% CI], {TITLES[task]}: {finals}.")
    if "mcar_ppo" in data:
        m, _, variants, _ = data["mcar_ppo"]
        solved = ", ".join(
            f"{LABELS[v]} {int((m[key(v, 'true_return')][:, -1] > 0).sum())}/{m.sizes['seed']}"
            for v in variants
        )
        out.append(f"Sparse MountainCar, seeds whose final policy reaches the goal: {solved}.")
    if "brax_ppo" in data:
        spacing = data["brax_ppo"][3].config["experiment"]["brax_milestone"]
        out.append(
            f"Sparse Brax Hopper: true reward = +1 per {spacing} m milestone of net forward "
            "progress of the torso; PBRS uses Φ = scale·x, the bonus pays c per forward step."
        )
    return out


def budget(data: dict) -> str:
    """Steps per seed, variants and seeds of each task's run."""
    return "; ".join(
        f"{t}: {int(m['env_steps'][0, -1]):,} env steps per seed, {len(v)} variants, "
        f"{m.sizes['seed']} seeds"
        for t, (m, _, v, _) in data.items()
    )


def _brax_panels(ax_curve, ax_final, data: dict) -> str | None:
    """Third row: the sparse Brax Hopper curves and final returns."""
    cap = _curve_panel(ax_curve, "brax_ppo", data)
    ax_curve.legend(fontsize=7, loc="upper left")
    m, ref, variants, _ = data["brax_ppo"]
    handles = final_points(ax_final, {"brax_ppo": (m, ref, variants)})
    ax_final.legend(handles=list(handles.values()), fontsize=7, loc="upper left")
    ax_final.set_title("Sparse Brax Hopper: final return (IQM, 95% CI)")
    ax_final.set_ylabel("final sparse return")
    ax_final.grid(alpha=0.3, axis="y")
    return cap


def main(argv=None) -> Path:
    args = figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    runs = latest_runs(args.results, EXPERIMENT, lambda c: c["task"])
    data = {
        t: (
            r.load_metrics(finite=True, schema=schema(t, r.config["variants"])),
            r.read_json("reference"),
            r.config["variants"],
            r,
        )
        for t, r in runs.items()
    }
    rows = 3 if "brax_ppo" in data else 2
    fig, axes = plt.subplots(rows, 3, figsize=(15, 4.1 * rows))
    curve_tasks = ("grid_q", "grid_ppo", "mcar_ppo")
    captions = [_curve_panel(ax, t, data) for ax, t in zip(axes[0], curve_tasks, strict=True)]
    if any(t in data for t in curve_tasks):
        axes[0, 0].legend(fontsize=7, loc="center right")
    _finals_panel(axes[1, 0], data, [t for t in curve_tasks if t in data])
    if "pitfall_q" in data:
        captions.append(_pitfall_panels(axes[1, 1], axes[1, 2], data))
    else:
        for a in axes[1, 1:]:
            a.set_axis_off()
    if "brax_ppo" in data:
        captions.append(_brax_panels(axes[2, 0], axes[2, 1], data))
        axes[2, 2].set_axis_off()
    curves = {
        t: {v: np.asarray(m[key(v, "true_return")]) for v in vs}
        for t, (m, _, vs, _) in data.items()
    }
    cl = claims(curves, {t: d[1] for t, d in data.items()},
                {t: d[3].config.get("layout") for t, d in data.items()})  # fmt: skip
    lines = facts(data)
    text = "\n".join([c for c in captions if c] + lines + [claims_caption(cl)])
    out = Path(args.out)
    path = save_captioned(fig, out / f"{EXPERIMENT}.png", text, y=-0.01, wrap=True)
    plt.close(fig)
    write_claims(out, EXPERIMENT, cl, figures=[path], runs=list(runs.values()), budget=budget(data))
    print("\n".join([*lines[1:], claims_caption(cl)]))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
