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

Curves are means over seeds with 95% stratified-bootstrap CIs. The claims (:func:`bandit_claims`,
:func:`prm_claims`) go to the captions and ``claims.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.rlhf_shaping.schema import schema
from jaxrl.envs.repeated_step import RepeatedStepParams
from jaxrl.experiment import plotting
from jaxrl.experiment.claims import (
    Check,
    Claim,
    ci_bound,
    ci_greater,
    claims_caption,
    combine,
    estimate,
    write_claims,
)

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


def bandit_figure(run, out: Path, cl: list[Claim]) -> Path:
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
            + "\n"
            + claims_caption(cl)
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


def prm_figure(run, out: Path, cl: list[Claim]) -> Path:
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
            "update. " + prm_findings(run, length, success) + "\n" + claims_caption(cl)
        ),
    )
    return plotting.save_captioned(fig, out / f"{EXPERIMENT}_prm.png", text, wrap=True)


PAR_PAPER = "PAR (Fu et al. 2025)"
ORPO_PAPER = "ORPO (Laidlaw, Singhal, Dragan; ICLR'25), RLHF column"
PRM_PAPER = "Clip/Delta (Gao et al., arXiv 2410.15115)"


def _claim(tag, paper, statement, q, rule, check) -> Claim:
    return Claim.from_check(f"{EXPERIMENT}.{tag}", EXPERIMENT, paper, statement, q, rule, check)


def bandit_claims(run) -> list[Claim]:
    """The bandit's claims, from the exact expected gold/proxy rewards (mean, 95% bootstrap CI
    over seeds; "final" is the last update, "peak" the update with the best mean gold)."""
    conds = run.config["conditions"]
    _, _, (gold, proxy) = per_update(run, "exact_gold", "exact_proxy")
    final = {c: estimate(gold[c][:, -1], "mean") for c in conds}
    out = []
    if "vanilla" in conds:
        v, p = gold["vanilla"], proxy["vanilla"]
        t = int(np.argmax(v.mean(0)))
        q = {
            f"vanilla gold at peak (update {t + 1})": estimate(v[:, t], "mean"),
            "vanilla gold final": final["vanilla"],
            f"vanilla proxy at peak (update {t + 1})": estimate(p[:, t], "mean"),
            "vanilla proxy final": estimate(p[:, -1], "mean"),
        }
        e = list(q.values())
        checks = {
            "gold falls": ci_greater("gold at peak", e[0], "gold final", e[1]),
            "proxy rises": ci_greater("proxy final", e[3], "proxy at peak", e[2]),
        }
        out.append(_claim(
            "overoptimisation", PAR_PAPER,
            "Vanilla PPO over-optimises the proxy: gold reward falls from its peak while the "
            "proxy keeps rising.", q,
            "CI of final gold lies below the CI of gold at its peak, and CI of final proxy above "
            "the CI of proxy at that update", combine(checks, "all"),
        ))  # fmt: skip
    for par, van, tag in (("par", "vanilla", "par"), ("par_noreg", "vanilla_noreg", "par_noreg")):
        if {par, van} <= set(conds):
            q = {f"{_label(par)} gold final": final[par], f"{_label(van)} gold final": final[van]}
            out.append(_claim(
                tag, PAR_PAPER,
                f"PAR keeps a higher final gold reward than vanilla ({_label(van)}).", q,
                f"CI of {_label(par)}'s final gold lies above the CI of {_label(van)}'s",
                ci_greater(_label(par), final[par], _label(van), final[van]),
            ))  # fmt: skip
    kl = [c for c in conds if c.startswith("kl_")]
    chi2 = [c for c in conds if c.startswith("chi2_")]
    if kl and chi2:
        bk = max(kl, key=lambda c: final[c].point)
        bc = max(chi2, key=lambda c: final[c].point)
        q = {f"{_label(bc)} gold final": final[bc], f"{_label(bk)} gold final": final[bk]}
        out.append(_claim(
            "chi2_vs_kl", ORPO_PAPER,
            "In-loss √χ² regularisation beats in-loss KL (each at its best coefficient).", q,
            "CI of the best √χ² coefficient's final gold lies above the best KL coefficient's",
            ci_greater(_label(bc), final[bc], _label(bk), final[bk]),
        ))  # fmt: skip
    return out


def prm_claims(run) -> list[Claim]:
    """The PRM claims, from the episode length averaged over the last 10% of updates per seed
    (mean, 95% bootstrap CI over seeds), against the horizon H."""
    conds, horizon = run.config["conditions"], run.config["experiment"]["prm_horizon"]
    _, _, (length,) = per_update(run, "episode_length")
    k = max(1, next(iter(length.values())).shape[1] // 10)
    final = {c: estimate(length[c][:, -k:].mean(1), "mean") for c in conds}
    out = []
    if "raw" not in conds:
        return out
    raw = final["raw"]
    blowup = ci_bound("raw PRM final length", raw, "lo", ">", 0.8 * horizon)
    out.append(_claim(
        "prm_raw_blowup", PRM_PAPER,
        "PPO with raw PRM step rewards hacks them by repeating steps: episode length blows up.",
        {"raw PRM final length": raw},
        f"lower CI limit of raw PRM's final episode length > 0.8 H = {0.8 * horizon:g}", blowup,
    ))  # fmt: skip
    for c in (c for c in conds if c != "raw"):
        name = PRM_LABELS.get(c, c)
        checks = {
            "below raw": ci_greater("raw PRM", raw, name, final[c]),
            "bounded": ci_bound(f"{name} final length", final[c], "hi", "<", 0.5 * horizon),
        }
        check = combine(checks, "all")
        if blowup.verdict != "reproduced":  # a fix of a blow-up that did not happen is untested
            check = Check("not testable", f"raw PRM did not blow up ({blowup.detail})")
        out.append(_claim(
            f"prm_{c}", PRM_PAPER, f"{name} stops the episode-length blow-up.",
            {f"{name} final length": final[c], "raw PRM final length": raw},
            f"CI of {name}'s final length lies below raw PRM's and its upper limit < H/2 = "
            f"{0.5 * horizon:g}, given that raw PRM blows up", check,
        ))  # fmt: skip
    return out


def budget(runs) -> str:
    parts = []
    for task, run in sorted(runs.items()):
        seeds, steps, _ = per_update(run, "episode_length" if task == "prm" else "exact_gold")
        n = len(run.config["conditions"])
        parts.append(f"{task}: {int(steps[-1]):,} env steps per seed, {n} conditions")
    return "; ".join(parts)


def main(argv=None) -> list[Path]:
    args = plotting.figure_args(__doc__, argv)
    runs = plotting.latest_runs(args.results, EXPERIMENT, lambda c: c["task"])
    out = Path(args.out)
    paths, cl = [], []
    if "bandit" in runs:
        cl += bandit_claims(runs["bandit"])
        paths.append(bandit_figure(runs["bandit"], out, cl))
    if "prm" in runs:
        prm = prm_claims(runs["prm"])
        cl += prm
        paths.append(prm_figure(runs["prm"], out, prm))
    write_claims(out, EXPERIMENT, cl, figures=paths, runs=list(runs.values()), budget=budget(runs))
    for p in paths:
        print(f"wrote {p}")
    return paths


if __name__ == "__main__":
    main()
