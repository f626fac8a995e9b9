"""Figures: RLHF reward over-optimisation vs shaping/regularisation, and PRM length hacking.

    python paper_figures/rlhf_shaping.py [--results results] [--out paper_figures/out]

Reads the newest finished ``rlhf_shaping`` run of each task and writes

* ``rlhf_shaping.png``: toy RLHF bandit. Top: exact expected gold and proxy reward of the PPO
  policy against environment steps for the proxy-reward shapings {vanilla, mean-std, clip,
  min-max, LSC, ceiling, PAR} (all with the same per-token KL-in-reward). Bottom: the same for
  vanilla PPO regularised in the loss towards the reference with the KL or √χ² estimator of
  papers.md §1.3 at several coefficients.
* ``rlhf_shaping_prm.png``: repeated-step MDP. Episode length and success rate (training
  episodes) against environment steps for raw PRM rewards, Clip, Delta and Clip+Delta.

Curves are means over seeds with 95% stratified-bootstrap CIs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrl.experiment import plotting

EXPERIMENT = "rlhf_shaping"
LABELS = {
    "vanilla": "vanilla",
    "mean_std": "mean-std",
    "clip": "clip (μ±σ)",
    "min_max": "min-max",
    "lsc": "LSC",
    "ceiling": "ceiling",
    "par": "PAR",
    "vanilla_noreg": "vanilla, no KL",
    "par_noreg": "PAR, no KL",
}
PRM_LABELS = {"raw": "raw PRM", "clip": "Clip", "delta": "Delta", "clip_delta": "Clip+Delta"}


def per_update(run, *keys: str) -> tuple[int, np.ndarray, list[dict[str, np.ndarray]]]:
    """(seeds per condition, env steps after each PPO update ``[T]``, and per key: condition ->
    ``[seeds, T]``); the metrics stack the conditions' seeds condition-major."""
    cfg = run.config
    seeds = cfg["experiment"]["seeds"]
    m = run.load_metrics()
    batch = cfg["static"]["num_envs"] * cfg["static"]["num_steps"]
    steps = (np.arange(m[keys[0]].shape[1]) + 1) * batch
    return seeds, steps, [plotting.split_conditions(m[k], cfg["conditions"], seeds) for k in keys]


def bandit_figure(run, out: Path) -> Path:
    import matplotlib.pyplot as plt

    cfg = run.config
    conds = cfg["conditions"]
    seeds, steps, (gold, proxy) = per_update(run, "exact_gold", "exact_proxy")
    summary = run.read_json("summary")
    tb = summary["testbed"]
    shaping = [c for c in conds if not c.startswith(("kl_", "chi2_")) and "noreg" not in c]
    regs = [c for c in conds if c.startswith(("kl_", "chi2_")) or "noreg" in c]
    cmap = plt.get_cmap("tab10")
    colors = {c: cmap(i) for i, c in enumerate(shaping)}
    kl_cols = plt.get_cmap("Blues")(
        np.linspace(0.45, 0.95, max(1, sum(c.startswith("kl_") for c in regs)))
    )
    chi_cols = plt.get_cmap("Oranges")(
        np.linspace(0.45, 0.95, max(1, sum(c.startswith("chi2_") for c in regs)))
    )
    for group, cols in (("kl_", kl_cols), ("chi2_", chi_cols)):
        for c, col in zip([r for r in regs if r.startswith(group)], cols, strict=True):
            colors[c] = col
    colors["vanilla_noreg"], colors["par_noreg"] = "k", colors.get("par", "m")
    label = lambda c: LABELS.get(c, c.replace("kl_", "KL β=").replace("chi2_", "√χ² β="))

    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex=True)
    rows = (
        ("reward shaping (+ per-token KL in reward)", shaping),
        ("no KL / in-loss regulariser", regs),
    )
    for r, (title, names) in enumerate(rows):
        for col, (metric, what) in enumerate(((gold, "gold"), (proxy, "proxy"))):
            ax = axes[r, col]
            plotting.curve_panel(
                ax,
                steps,
                {label(c): metric[c] for c in names},
                "mean",
                ylabel=f"expected {what} reward",
                colors={label(c): colors[c] for c in names},
                lw=1.3,
            )
            ax.set_title(f"{title}: {what} reward", fontsize=9)
            ax.axhline(tb["reference"][what], color="k", ls=":", lw=1, label="reference policy")
            if what == "gold":
                ax.axhline(
                    tb["gold_optimal"]["gold"], color="g", ls="--", lw=1, label="gold-optimal"
                )
                ax.axhline(
                    tb["proxy_optimal"]["gold"], color="r", ls="--", lw=1, label="proxy-optimal"
                )
            if r == 1:
                ax.set_xlabel("environment steps (sampled responses) per seed")
            if col == 1:  # one legend per row, outside, from the gold panel's handles
                ax.legend(
                    *axes[r, 0].get_legend_handles_labels(),
                    fontsize=7,
                    loc="upper left",
                    bbox_to_anchor=(1.02, 1.0),
                )
    budget = f"{int(steps[-1]):,} sampled responses per seed"
    text = plotting.caption(
        seeds,
        budget,
        "mean",
        extra=(
            "Toy RLHF bandit (8 prompts, 64 responses): the proxy is a Bradley-Terry MLP fitted to "
            f"{cfg['testbed']['num_pairs']} noisy preference pairs of reference-policy responses. "
            "Exact expected rewards of the PPO policy after each update; PPO starts at the "
            "reference policy. Top: proxy shapings, all with KL-in-reward coefficient "
            f"{cfg['experiment']['reward_kl']}. Bottom: vanilla and PAR without any KL, and the "
            "vanilla proxy with the KL or sqrt-chi2 estimator of papers.md §1.3 in the loss "
            "(no KL in reward). Dotted: reference policy; dashed: gold-/proxy-optimal policies' "
            f"gold reward. One testbed (seed {cfg['experiment']['testbed_seed']}): the CIs cover "
            "PPO seeds, not testbeds."
        ),
    )
    return plotting.save_captioned(fig, out / f"{EXPERIMENT}.png", text, y=-0.01, wrap=True)


def prm_figure(run, out: Path) -> Path:
    import matplotlib.pyplot as plt

    cfg = run.config
    conds = cfg["conditions"]
    seeds, steps, (length, success) = per_update(run, "episode_length", "return_outcome_reward")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (metric, name) in zip(
        axes, ((length, "episode length"), (success, "success rate")), strict=True
    ):
        for c in conds:  # Clip+Delta dashed: it coincides with Delta here
            plotting.plot_curves(
                ax,
                steps,
                {PRM_LABELS.get(c, c): metric[c]},
                "mean",
                lw=1.3,
                ls="--" if c == "clip_delta" else "-",
            )
        ax.set_xlabel("environment steps per seed")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    horizon = cfg["experiment"]["prm_horizon"]
    need = cfg["experiment"]["prm_n_required"]
    axes[0].axhline(horizon, color="k", ls=":", lw=1, label="horizon")
    axes[0].axhline(need + 1, color="g", ls="--", lw=1, label="shortest success")
    axes[0].legend(fontsize=7)
    text = plotting.caption(
        seeds,
        f"{int(steps[-1]):,} env steps per seed",
        "mean",
        extra=(
            f"Repeated-step MDP: {need} useful steps then FINISH succeed; a PRM scores every "
            f"correct step 0.9 (repeats included); horizon {horizon}. Learner reward = "
            f"f(PRM) + outcome, f = raw, Clip min(r - {cfg['experiment']['clip_eta']}, 0), "
            "Delta (r_k - r_k+1, last step 0), Clip then Delta (dashed; it equals Delta here "
            "because every PRM score is below the clip threshold, so Clip is a shift that Delta "
            "cancels). Training episodes of each PPO update."
        ),
    )
    return plotting.save_captioned(fig, out / f"{EXPERIMENT}_prm.png", text, wrap=True)


def main(argv=None) -> list[Path]:
    args = plotting.figure_args(__doc__, argv)
    runs = plotting.latest_runs(args.results, EXPERIMENT, lambda c: c["task"])
    out = Path(args.out)
    paths = []
    if "bandit" in runs:
        paths.append(bandit_figure(runs["bandit"], out))
    if "prm" in runs:
        paths.append(prm_figure(runs["prm"], out))
    for p in paths:
        print(f"wrote {p}")
    return paths


if __name__ == "__main__":
    main()
