"""Figure: ORPO on tomato, true and proxy return against λ (reads results/orpo_tomato/).

    python paper_figures/orpo_tomato.py [--results results] [--out paper_figures/out]

Columns: KL (OM state-action, OM state-only, AD-KL), χ² and √χ² (OM state-action, state-only);
rows: true return, proxy return. Points: mean over seeds of the exact expected return of each
run's final stochastic policy, with a 95% bootstrap CI; dashed lines: the exact λ-optimal tabular
policy from the same reference. Horizontal lines: no regularisation (mean, CI band), the base
policy and the proxy-optimal policy's true return (2.36). Uses the newest finished sweep. Also
writes ``orpo_tomato.md``: the best true return per method (at its best λ by mean).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrl.analysis.stats import bootstrap_ci
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.plotting import figure_args, missing_runs, save_captioned

EXPERIMENT = "orpo_tomato"
PROXY_OPTIMAL_TRUE = 2.36  # papers.md §1.1, rf = 0.02
TRUE_OPTIMAL = 9.74
COLUMNS = {
    "KL": [("om_kl", "kl"), ("om_kl_state", "kl_state"), ("ad_kl", None)],
    "χ²": [("om_chi2", "chi2"), ("om_chi2_state", "chi2_state")],
    "√χ²": [("om_sqrt_chi2", "sqrt_chi2"), ("om_sqrt_chi2_state", "sqrt_chi2_state")],
}
LABELS = {
    "none": "no regularisation",
    "ad_kl": "AD-KL",
    "om_kl": "OM-KL (s,a)",
    "om_kl_state": "OM-KL (s)",
    "om_chi2": "OM-χ² (s,a)",
    "om_chi2_state": "OM-χ² (s)",
    "om_sqrt_chi2": "OM-√χ² (s,a)",
    "om_sqrt_chi2_state": "OM-√χ² (s)",
}
COLORS = {"": "C0", "_state": "C1", "ad": "C2"}


def latest_sweep(store: ResultsStore) -> dict[str, object]:
    """method -> finished run of the newest sweep (run ids ``<sweep>-<method>``)."""
    done = store.finished_runs(EXPERIMENT)
    if not done:
        return {}
    newest = max(done, key=lambda r: r.done_time() or "")
    sweep = newest.run_id[: -len(newest.config["method"]) - 1]
    return {
        r.config["method"]: r
        for r in done
        if r.run_id.startswith(sweep + "-") and r.run_id == f"{sweep}-{r.config['method']}"
    }


def per_lambda(run, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(λ [L], scores [seeds, L]) of a sweep run."""
    m = run.load_metrics()
    lams = np.asarray(run.config["lams"])
    return lams, m[key].reshape(len(lams), -1).T


def summarize(runs, base_true: float) -> list[tuple[str, float, float, float, float, int]]:
    rows = []
    for name in LABELS:
        if name not in runs:
            continue
        lams, true = per_lambda(runs[name], "final_true_return")
        _, proxy = per_lambda(runs[name], "final_proxy_return")
        point, lo, hi = bootstrap_ci(true, "mean", 2000, 0.95, 0)
        i = int(np.argmax(point))
        rows.append(
            (name, float(lams[i]), point[i], lo[i], hi[i], true.shape[0], float(proxy[:, i].mean()))
        )
    return rows


def main(argv=None) -> Path:
    args = figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    store = ResultsStore(args.results)
    runs = latest_sweep(store)
    sweep_runs = {k: v for k, v in runs.items() if k != "exact"}
    if not sweep_runs:
        raise missing_runs(EXPERIMENT, args.results)
    any_run = next(iter(sweep_runs.values()))
    cfg = any_run.config["experiment"]
    base = store.open("orpo_tomato_base", any_run.config["base_run_id"]).read_json("summary")
    base_true = base["exact_true_return"]
    exact = runs["exact"].load_metrics() if "exact" in runs else {}

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4), sharex="col")
    for col, (title, entries) in enumerate(COLUMNS.items()):
        for row, key in enumerate(("final_true_return", "final_proxy_return")):
            ax = axes[row, col]
            if "none" in sweep_runs:
                _, s = per_lambda(sweep_runs["none"], key)
                p, lo, hi = bootstrap_ci(s[:, 0], "mean", 2000, 0.95, 0)
                ax.axhline(p, color="0.4", lw=1.2, label=LABELS["none"])
                ax.axhspan(lo, hi, color="0.4", alpha=0.15, lw=0)
            if row == 0:
                ax.axhline(base_true, color="k", ls="--", lw=1, label="base policy π_ref")
                ax.axhline(PROXY_OPTIMAL_TRUE, color="r", ls=":", lw=1, label="proxy-optimal")
            else:
                ax.axhline(base["exact_proxy_return"], color="k", ls="--", lw=1)
            for name, tag in entries:
                color = (
                    COLORS["ad"]
                    if name.startswith("ad")
                    else COLORS["_state" if name.endswith("_state") else ""]
                )
                if name in sweep_runs:
                    lams, s = per_lambda(sweep_runs[name], key)
                    p, lo, hi = bootstrap_ci(s, "mean", 2000, 0.95, 0)
                    ax.errorbar(
                        lams,
                        p,
                        yerr=[p - lo, hi - p],
                        color=color,
                        marker="o",
                        ms=4,
                        capsize=2,
                        lw=1.2,
                        label=LABELS[name],
                    )
                if tag is not None and f"{tag}/lam" in exact:
                    field = "true_return" if row == 0 else "proxy_return"
                    ax.plot(
                        exact[f"{tag}/lam"][0],
                        exact[f"{tag}/{field}"][0],
                        color=color,
                        ls="--",
                        lw=1,
                        alpha=0.8,
                        label=f"exact {LABELS[name]}",
                    )
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(title)
            else:
                ax.set_xlabel("λ (per-step penalty coefficient)")
            if col == 0:
                ax.set_ylabel("true return" if row == 0 else "proxy return")
        axes[0, col].legend(fontsize=6, loc="best")
    n_seeds = per_lambda(any_run, "final_true_return")[1].shape[0]
    text = (
        f"Tomato level 4, reward factor rf = {cfg['reward_factor']} (proxy-optimal true return "
        f"2.36, true-optimal 9.74), H = 100. Mean over {n_seeds} seeds per λ, bars: 95% "
        "bootstrap CI (2000 resamples); returns are the exact expected returns of each run's "
        f"final stochastic policy. PPO learner: {cfg['total_timesteps']:,} env steps per run, "
        f"MLP {tuple(cfg['hidden_sizes'])}; λ = c · scale (KL/AD-KL {cfg['kl_scale']}, "
        f"χ² {cfg['chi2_scale']}, √χ² {cfg['sqrt_chi2_scale']}). Dashed coloured: exact "
        "λ-optimal tabular policy (Adam ascent from π_ref); black dashed: base policy "
        f"(PPO on the true reward, ε = {cfg['base_eps']}, {cfg['base_steps']:,} steps)."
    )
    out = Path(args.out)
    path = save_captioned(fig, out / f"{EXPERIMENT}.png", text, wrap=True)
    rows = summarize(sweep_runs, base_true)
    lines = [
        f"Best true return per method (rf = {cfg['reward_factor']}; mean and 95% bootstrap CI "
        f"over {n_seeds} seeds at the λ with the best mean). Base policy: {base_true:.2f}.",
        "",
        "| method | best λ | true return | 95% CI | proxy return | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for name, lam, p, lo, hi, n, proxy in rows:
        lines.append(
            f"| {LABELS[name]} | {lam:.4g} | {p:.2f} | [{lo:.2f}, {hi:.2f}] | {proxy:.2f} | {n} |"
        )
    (out / f"{EXPERIMENT}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
