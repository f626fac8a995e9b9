"""Figures: RLHF reward over-optimisation vs shaping/regularisation, and PRM length hacking.

    python -m paper_figures.rlhf_shaping [--results results] [--out paper_figures/out]

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

from experiments.rlhf_shaping.schema import schema
from jaxrl.envs.repeated_step import RepeatedStepParams
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
    m = run.load_metrics(finite=True, schema=schema(cfg["task"]))
    batch = cfg["static"]["num_envs"] * cfg["static"]["num_steps"]
    steps = (np.arange(m[keys[0]].shape[1]) + 1) * batch
    return seeds, steps, [plotting.split_conditions(m[k], cfg["conditions"], seeds) for k in keys]


def _bandit_colors(shaping: list[str], regs: list[str]) -> dict[str, object]:
    """One tab10 colour per shaping; graded blues (KL) and oranges (√χ²) per coefficient."""
    import matplotlib.pyplot as plt

    colors = {c: plt.get_cmap("tab10")(i) for i, c in enumerate(shaping)}
    for group, cmap in (("kl_", "Blues"), ("chi2_", "Oranges")):
        names = [r for r in regs if r.startswith(group)]
        cols = plt.get_cmap(cmap)(np.linspace(0.45, 0.95, max(1, len(names))))
        colors.update(zip(names, cols, strict=False))
    colors["vanilla_noreg"], colors["par_noreg"] = "k", colors.get("par", "m")
    return colors


def _label(c: str) -> str:
    return LABELS.get(c, c.replace("kl_", "KL β=").replace("chi2_", "√χ² β="))


def _bandit_panel(ax, steps, metric, names, what: str, colors, testbed) -> None:
    """Expected ``what`` (gold or proxy) reward curves of ``names`` with reference levels."""
    plotting.curve_panel(
        ax,
        steps,
        {_label(c): metric[c] for c in names},
        "mean",
        ylabel=f"expected {what} reward",
        colors={_label(c): colors[c] for c in names},
        lw=1.3,
    )
    ax.axhline(testbed["reference"][what], color="k", ls=":", lw=1, label="reference policy")
    if what == "gold":
        for key, color in (("gold_optimal", "g"), ("proxy_optimal", "r")):
            label = key.replace("_", "-")
            ax.axhline(testbed[key]["gold"], color=color, ls="--", lw=1, label=label)


def bandit_findings(gold: dict[str, np.ndarray], conds: list[str]) -> str:
    """Caption sentences computed from the gold-reward curves (mean, 95% CI, disjoint = differ)."""
    out = []
    if "vanilla" in gold:
        v = gold["vanilla"]
        peak = int(np.argmax(v.mean(0)))
        verdict, final, top = plotting.ci_verdict(v[:, -1], v[:, peak], "mean")
        out.append(
            f"Vanilla's final gold reward ({final[0]:.3f}) is {verdict} its peak "
            f"({top[0]:.3f}, update {peak + 1})."
        )
        rest = [c for c in conds if c != "vanilla"]
        parts = []
        for c in rest:
            verdict, est, _ = plotting.ci_verdict(gold[c][:, -1], v[:, -1], "mean")
            parts.append(f"{_label(c)} {est[0]:.3f} ({verdict})")
        out.append("Final gold reward against vanilla: " + ", ".join(parts) + ".")
    return " ".join(out)


def bandit_figure(run, out: Path) -> Path:
    import matplotlib.pyplot as plt

    cfg = run.config
    conds = cfg["conditions"]
    seeds, steps, (gold, proxy) = per_update(run, "exact_gold", "exact_proxy")
    tb = run.read_json("summary")["testbed"]
    regs = [c for c in conds if c.startswith(("kl_", "chi2_")) or "noreg" in c]
    shaping = [c for c in conds if c not in regs]
    colors = _bandit_colors(shaping, regs)
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex=True)
    rows = (
        ("reward shaping (+ per-token KL in reward)", shaping),
        ("no KL / in-loss regulariser", regs),
    )
    for r, (title, names) in enumerate(rows):
        for col, (metric, what) in enumerate(((gold, "gold"), (proxy, "proxy"))):
            _bandit_panel(axes[r, col], steps, metric, names, what, colors, tb)
            axes[r, col].set_title(f"{title}: {what} reward", fontsize=9)
        axes[r, 1].legend(  # one legend per row, outside, from the gold panel's handles
            *axes[r, 0].get_legend_handles_labels(),
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
        )
        axes[1, r].set_xlabel("environment steps (sampled responses) per seed")
    text = plotting.caption(
        seeds,
        f"{int(steps[-1]):,} sampled responses per seed",
        "mean",
        extra=(
            f"Toy RLHF bandit ({cfg['testbed']['num_contexts']} prompts, "
            f"{cfg['testbed']['num_responses']} responses): the proxy is a Bradley-Terry MLP "
            f"fitted to {cfg['testbed']['num_pairs']} noisy preference pairs of "
            "reference-policy responses. Exact expected rewards of the PPO policy after each "
            "update; PPO starts at the reference policy. Top: proxy shapings, all with "
            f"KL-in-reward coefficient {cfg['experiment']['reward_kl']}. Bottom: vanilla and PAR "
            "without any KL, and the vanilla proxy with the KL or sqrt-chi2 estimator of "
            "papers.md §1.3 in the loss (no KL in reward). Dotted: reference policy; dashed: "
            "gold-/proxy-optimal policies' gold reward. One testbed (seed "
            f"{cfg['experiment']['testbed_seed']}): the CIs cover PPO seeds, not testbeds. "
            + bandit_findings(gold, conds)
        ),
    )
    return plotting.save_captioned(fig, out / f"{EXPERIMENT}.png", text, y=-0.01, wrap=True)


def prm_findings(run, length: dict, success: dict) -> str:
    """Caption sentences computed from the PRM curves: final episode length and success of
    each shaping against raw PRM rewards, and whether Clip+Delta coincides with Delta."""
    conds = run.config["conditions"]
    out = []
    if "raw" in conds:
        parts = []
        for c in conds[1:] if conds[0] == "raw" else [c for c in conds if c != "raw"]:
            lv, le, _ = plotting.ci_verdict(length[c][:, -1], length["raw"][:, -1], "mean")
            sv, se, _ = plotting.ci_verdict(success[c][:, -1], success["raw"][:, -1], "mean")
            parts.append(
                f"{PRM_LABELS.get(c, c)} length {le[0]:.1f} ({lv} raw), success {se[0]:.2f} "
                f"({sv} raw)"
            )
        out.append("Final, against raw PRM: " + "; ".join(parts) + ".")
    if {"delta", "clip_delta"} <= set(conds):
        same = np.array_equal(length["delta"], length["clip_delta"])
        eta, score = run.config["experiment"]["clip_eta"], RepeatedStepParams().prm_correct
        why = (
            f" (every PRM score, {score}, is below the clip threshold {eta}, so Clip is a shift "
            "that Delta cancels)"
            if same and score < eta
            else ""
        )
        out.append(
            f"Clip+Delta (dashed) {'coincides with' if same else 'differs from'} Delta{why}."
        )
    return " ".join(out)


def _prm_panel(ax, steps, metric, conds, name: str) -> None:
    for c in conds:  # Clip+Delta dashed: it may coincide with Delta
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


def prm_figure(run, out: Path) -> Path:
    import matplotlib.pyplot as plt

    cfg = run.config
    seeds, steps, (length, success) = per_update(run, "episode_length", "return_outcome_reward")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    _prm_panel(axes[0], steps, length, cfg["conditions"], "episode length")
    _prm_panel(axes[1], steps, success, cfg["conditions"], "success rate")
    horizon = cfg["experiment"]["prm_horizon"]
    need = cfg["experiment"]["prm_n_required"]
    axes[0].axhline(horizon, color="k", ls=":", lw=1, label="horizon")
    axes[0].axhline(need + 1, color="g", ls="--", lw=1, label="shortest success")
    axes[0].legend(fontsize=7)
    score = RepeatedStepParams().prm_correct
    text = plotting.caption(
        seeds,
        f"{int(steps[-1]):,} env steps per seed",
        "mean",
        extra=(
            f"Repeated-step MDP: {need} useful steps then FINISH succeed; a PRM scores every "
            f"correct step {score} (repeats included); horizon {horizon}. Learner reward = "
            f"f(PRM) + outcome, f = raw, Clip min(r - {cfg['experiment']['clip_eta']}, 0), "
            "Delta (r_k - r_k+1, last step 0), Clip then Delta. Training episodes of each PPO "
            "update. " + prm_findings(run, length, success)
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
