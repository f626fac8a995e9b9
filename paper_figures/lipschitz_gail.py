"""Figure: SAM (off-policy GAIL) with and without gradient penalties (results/lipschitz_gail/).

    python -m paper_figures.lipschitz_gail [--results results] [--out paper_figures/out]

One row of panels per environment (newest finished run per (environment, penalty type)):

(a) imitation return (the TRUE environment return of the deterministic imitator, fixed
    evaluation episodes) vs environment steps, per penalty type at λ = ``default_lambda``;
(b) final imitation return vs λ for the one-sided wgan penalty (log x), with the no-penalty
    result as a band;
(c) mean ‖∇_{s,a} D‖ at the agent's replay samples over training, per penalty type;
(d) the same for the wgan λ sweep.

IQM over seeds with 95% stratified-bootstrap CIs; the expert's return (mean over its
demonstration episodes) is the dashed line. Prints a table of final returns (IQM [95% CI]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.lipschitz_gail.schema import SCHEMA
from jaxrl.analysis.stats import bootstrap_ci
from jaxrl.experiment import plotting

EXPERIMENT = "lipschitz_gail"
ORDER = ("none", "wgan", "dragan", "nagard")
COLORS = {"none": "tab:red", "wgan": "tab:blue", "dragan": "tab:green", "nagard": "tab:purple"}


def latest_groups(results) -> dict[str, dict[str, object]]:
    """env -> gp_type -> newest finished run."""
    out: dict[str, dict[str, object]] = {}
    runs = plotting.latest_runs(results, EXPERIMENT, lambda c: (c["env"], c["gp_type"]))
    for (env, gp), run in runs.items():
        out.setdefault(env, {})[gp] = run
    return out


def split_lambdas(run, key: str) -> dict[float, np.ndarray]:
    """λ -> metric ``[seeds, T]`` (metrics are stored λ-major)."""
    m = run.load_metrics(finite=True, schema=SCHEMA)
    lam = np.asarray(run.read_json("sweep")["grad_pen_scale"])
    return {float(v): m[key][lam == v] for v in dict.fromkeys(lam.tolist())}


def summarize(groups: dict[str, object]) -> list[tuple[str, float, float, float, int]]:
    """(label, IQM, lo, hi, seeds) of the final imitation return of every (type, λ)."""
    rows = []
    for gp in ORDER:
        if gp not in groups:
            continue
        for lam, ret in split_lambdas(groups[gp], "eval_return").items():
            point, lo, hi = bootstrap_ci(ret[:, -1], "iqm")
            label = gp if gp == "none" else f"{gp} λ={lam:g}"
            rows.append((label, float(point), float(lo), float(hi), int(ret.shape[0])))
    return rows


def claim_checks(rows, default_lam: float) -> str:
    """One sentence per paper claim, judged on the final-return IQMs and their 95% CIs
    ("holds" only when the CIs do not overlap)."""
    r = {label: (p, lo, hi) for label, p, lo, hi, _ in rows}
    out = []
    pen = {k: v for k, v in r.items() if k.endswith(f"λ={default_lam:g}")}
    if "none" in r and pen:
        best = max(pen, key=lambda k: pen[k][0])
        ok = r["none"][2] < pen[best][1]
        out.append(
            f"Claim 'no penalty fails': no penalty {r['none'][0]:.0f} vs best penalty "
            f"({best}) {pen[best][0]:.0f} -> {'holds' if ok else 'NOT supported'}."
        )
    wg = f"wgan λ={default_lam:g}"
    if wg in pen and len(pen) > 1:
        others = {k: v for k, v in pen.items() if k != wg}
        ok = all(r[wg][1] > v[2] for v in others.values())
        out.append(
            f"Claim 'wgan best': wgan {r[wg][0]:.0f} vs "
            + ", ".join(f"{k.split()[0]} {v[0]:.0f}" for k, v in others.items())
            + f" -> {'holds' if ok else 'NOT supported'}."
        )
    lam = sorted((float(k.split("=")[1]), v) for k, v in r.items() if k.startswith("wgan"))
    if len(lam) >= 3:
        best = max(lam, key=lambda t: t[1][0])
        small, large = lam[0], lam[-1]
        s_ok, l_ok = small[1][2] < best[1][1], large[1][2] < best[1][1]
        out.append(
            f"Claim 'λ too small/too large hurts' (best λ={best[0]:g}): λ={small[0]:g} "
            f"{'hurts' if s_ok else 'does NOT clearly hurt'}, λ={large[0]:g} "
            f"{'hurts' if l_ok else 'does NOT clearly hurt'}."
        )
    return " ".join(out)


def _penalty_panels(ax_ret, ax_gn, env_id: str, groups, default_lam: float, m0) -> None:
    """(a) imitation return and (c) ‖∇D‖ per penalty type at the default λ."""
    ret_curves, gn_curves, colors = {}, {}, {}
    for gp in ORDER:
        if gp not in groups:
            continue
        lam = 0.0 if gp == "none" else default_lam
        rets = split_lambdas(groups[gp], "eval_return")
        gns = split_lambdas(groups[gp], "d_grad_norm_agent")
        if lam not in rets:
            continue
        label = "no penalty" if gp == "none" else f"{gp} (λ={lam:g})"
        ret_curves[label], gn_curves[label] = rets[lam], gns[lam][:, 1:]
        colors[label] = COLORS[gp]
    plotting.curve_panel(
        ax_ret,
        np.asarray(m0["eval_env_steps"][0]),
        ret_curves,
        "iqm",
        title=f"{env_id}: imitation return by penalty type",
        xlabel="environment steps per seed",
        ylabel="true return (deterministic eval)",
        colors=colors,
    )
    plotting.curve_panel(
        ax_gn,
        np.asarray(m0["env_steps"][0])[1:],
        gn_curves,
        "iqm",
        title="reward Lipschitzness: mean ‖∇_{s,a} D‖ at agent samples",
        xlabel="environment steps per seed",
        ylabel="‖∇D‖ (row mean over updates)",
        colors=colors,
    )
    ax_gn.set_yscale("log")


def _lambda_panels(ax_lam, ax_gnl, groups, m0) -> None:
    """(b) final imitation return against λ and (d) ‖∇D‖ of the wgan λ sweep."""
    import matplotlib.pyplot as plt

    if "wgan" in groups:
        rets = split_lambdas(groups["wgan"], "eval_return")
        gns = split_lambdas(groups["wgan"], "d_grad_norm_agent")
        lams = sorted(rets)
        stats = np.array([bootstrap_ci(rets[v][:, -1], "iqm") for v in lams])
        ax_lam.errorbar(
            np.asarray(lams),
            stats[:, 0],
            yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]],
            marker="o",
            capsize=3,
            color=COLORS["wgan"],
            label="wgan (one-sided)",
        )
        ax_lam.set_xscale("log")
        cmap = plt.get_cmap("viridis")
        lam_curves = {f"λ={v:g}": gns[v][:, 1:] for v in lams}
        lam_colors = {f"λ={v:g}": cmap(i / max(len(lams) - 1, 1)) for i, v in enumerate(lams)}
        steps = np.asarray(m0["env_steps"][0])[1:]
        plotting.plot_curves(ax_gnl, steps, lam_curves, "iqm", colors=lam_colors)
    if "none" in groups:
        p, lo, hi = bootstrap_ci(split_lambdas(groups["none"], "eval_return")[0.0][:, -1])
        ax_lam.axhline(p, color=COLORS["none"], lw=1, label="no penalty")
        ax_lam.axhspan(lo, hi, color=COLORS["none"], alpha=0.15, lw=0)
    ax_lam.set_title("final imitation return vs λ (wgan)")
    ax_lam.set_xlabel("gradient-penalty scale λ")
    ax_lam.set_ylabel("final true return")
    ax_gnl.set_yscale("log")
    ax_gnl.set_title("mean ‖∇_{s,a} D‖ at agent samples, wgan λ sweep")
    ax_gnl.set_xlabel("environment steps per seed")


def env_row(ax_row, env_id: str, groups) -> str:
    """The four panels of one environment; its caption (with the claim checks)."""
    any_run = next(iter(groups.values()))
    exp_cfg = any_run.config["experiment"]
    default_lam = float(exp_cfg["default_lambda"])
    expert = float(any_run.read_json("sweep")["expert_return"])
    m0 = any_run.load_metrics(finite=True, schema=SCHEMA)
    ax_ret, ax_lam, ax_gn, ax_gnl = ax_row
    _penalty_panels(ax_ret, ax_gn, env_id, groups, default_lam, m0)
    _lambda_panels(ax_lam, ax_gnl, groups, m0)
    for ax in (ax_ret, ax_lam):
        ax.axhline(expert, color="k", ls="--", lw=1, label="expert")
    for ax in ax_row:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    rows = summarize(groups)
    print(f"{env_id}: expert demo return {expert:.1f}")
    for label, p, lo, hi, n in rows:
        print(
            f"  {label:18s} final true return IQM {p:8.1f}  95% CI [{lo:8.1f}, {hi:8.1f}]"
            f"  ({n} seeds)"
        )
    static = any_run.config["static"]
    return (
        plotting.caption(
            sorted({int(r[4]) for r in rows}),
            f"{env_id}: {int(m0['eval_env_steps'][0][-1]):,} imitator env steps, "
            f"{exp_cfg['expert_episodes']} expert episodes subsampled every "
            f"{exp_cfg['subsample_every']} steps",
            extra=f"Expert (dashed): {expert:.0f}. Evaluation: {static['num_eval_envs']} fixed "
            "episodes. Panel (b): final evaluation, IQM and 95% CI; panels (c, d): row means "
            "over updates of ‖∇D‖ at the agent's replay minibatch.",
        )
        + "\n"
        + claim_checks(rows, default_lam)
    )


def main(argv=None) -> Path:
    args = plotting.figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    envs = latest_groups(args.results)
    fig, axes = plt.subplots(len(envs), 4, figsize=(20, 4.2 * len(envs)), squeeze=False)
    captions = [
        env_row(ax_row, env_id, groups)
        for ax_row, (env_id, groups) in zip(axes, sorted(envs.items()), strict=True)
    ]
    path = plotting.save_captioned(
        fig, Path(args.out) / f"{EXPERIMENT}.png", "\n".join(captions), fontsize=8
    )
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
