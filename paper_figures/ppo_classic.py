"""Figure: PPO learning curves on CartPole-v1 and Pendulum-v1 (reads results/ppo_classic/).

    python paper_figures/ppo_classic.py [--results results] [--out paper_figures/out]

One panel per environment: the evaluation return (deterministic policy, fixed evaluation keys
shared across seeds) against environment steps, IQM over seeds with a 95% stratified-bootstrap CI.
Uses the newest finished run per environment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jaxrl.experiment import ResultsStore
from jaxrl.experiment.plotting import caption, plot_curves, save_figure

EXPERIMENT = "ppo_classic"


def latest_per_env(store: ResultsStore) -> dict[str, object]:
    runs = {}
    for run in sorted(store.finished_runs(EXPERIMENT), key=lambda r: r.done_time() or ""):
        runs[run.config["env"]] = run  # later (newer) runs replace earlier ones
    return runs


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", default="paper_figures/out")
    args = parser.parse_args(argv)
    import matplotlib.pyplot as plt

    runs = latest_per_env(ResultsStore(args.results))
    if not runs:
        raise SystemExit(
            f"no finished {EXPERIMENT} runs under {args.results}/; run "
            f"experiments/{EXPERIMENT}.py first"
        )
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.6), squeeze=False)
    captions = []
    for ax, (env_id, run) in zip(axes[0], sorted(runs.items()), strict=True):
        m = run.load_metrics()
        steps = np.asarray(m["eval_env_steps"][0])
        plot_curves(ax, steps, {"PPO (eval return)": m["eval_return"]}, "iqm")
        ax.set_title(env_id)
        ax.set_xlabel("environment steps per seed")
        ax.set_ylabel("evaluation return")
        ax.grid(alpha=0.3)
        n_seeds = m["eval_return"].shape[0]
        captions.append(caption(n_seeds, f"{env_id}: {int(steps[-1]):,} steps"))
    fig.text(
        0.01,
        -0.06,
        "\n".join(captions) + "\nDeterministic evaluation, 8 fixed evaluation episodes per point.",
        fontsize=7,
        va="top",
    )
    fig.tight_layout()
    path = save_figure(fig, Path(args.out) / f"{EXPERIMENT}.png")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
