"""Figure: SAM (off-policy GAIL) with and without gradient penalties (results/lipschitz_gail/).

    python -m paper_figures.lipschitz_gail [--results results] [--out paper_figures/out]

One row of panels per environment (newest finished run per (environment, variant)):

(a) imitation return (the TRUE environment return of the deterministic imitator, fixed
    evaluation episodes) vs environment steps, per variant at λ = ``default_lambda`` (penalty
    types, no-penalty ablations, PURPLE);
(b) final imitation return vs λ for the one-sided wgan penalty (log x), with the no-penalty
    result as a band;
(c) mean ‖∇_{s,a} D‖ at the agent's replay samples over training, per variant;
(d) the same for the wgan λ sweep;
(e) mean ‖∇_{s,a} Q‖ (critic input Jacobian) over training, wgan with and without PURPLE.

IQM over seeds with 95% stratified-bootstrap CIs; the expert's return (mean over its
demonstration episodes) is the dashed line. The claims (experiments/lipschitz_gail/claims.py)
are computed from the same data; the caption states their verdicts and numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.lipschitz_gail import claims as lg_claims
from experiments.lipschitz_gail.schema import SCHEMA
from jaxrl.analysis.stats import bootstrap_ci
from jaxrl.experiment import plotting
from jaxrl.experiment.claims import claims_caption, write_claims

EXPERIMENT = "lipschitz_gail"
ORDER = (
    "none",
    "none_nosn",
    "none_ls",
    "none_nosn_ls",
    "wgan",
    "dragan",
    "nagard",
    "wgan_purple",
)
COLORS = {
    "none": "tab:red",
    "none_nosn": "tab:orange",
    "none_ls": "tab:pink",
    "none_nosn_ls": "tab:brown",
    "wgan": "tab:blue",
    "dragan": "tab:green",
    "nagard": "tab:purple",
    "wgan_purple": "tab:cyan",
}
LABELS = {
    "none": "no penalty",
    "none_nosn": "no penalty, no SN",
    "none_ls": "no penalty + LS",
    "none_nosn_ls": "no penalty, no SN, + LS",
    "wgan_purple": "wgan + PURPLE",
}


def _round_text(summ: dict) -> str:
    """How the expert's rounds trained (summaries before ``round_mode`` had fresh seeds)."""
    if summ.get("round_mode", "fresh") == "fresh":
        return ", fresh seeds each round"
    return f" × {summ['round_steps']:,} steps, each round continuing the last"


def latest_groups(results) -> dict[str, dict[str, object]]:
    """env -> variant -> newest finished run (runs before variants existed: their gp_type)."""
    out: dict[str, dict[str, object]] = {}
    runs = plotting.latest_runs(
        results, EXPERIMENT, lambda c: (c["env"], c.get("variant", c["gp_type"]))
    )
    for (env, variant), run in runs.items():
        out.setdefault(env, {})[variant] = run
    return out


def split_lambdas(run, key: str) -> dict[float, np.ndarray]:
    """λ -> metric ``[seeds, T]`` (metrics are stored λ-major)."""
    m = run.load_metrics(finite=True, schema=SCHEMA)
    lam = np.asarray(run.read_json("sweep")["grad_pen_scale"])
    return {float(v): m[key][lam == v] for v in dict.fromkeys(lam.tolist())}


def claim_data(groups) -> dict[str, dict[float, dict[str, np.ndarray]]]:
    """variant -> λ -> {"ret": final true return [seeds], "gn": ‖∇D‖ [seeds, T], "qj"}."""
    out = {}
    for name, run in groups.items():
        m = run.load_metrics(finite=True, schema=SCHEMA)
        keys = {"ret": "eval_return", "gn": "d_grad_norm_agent", "qj": "q_jacobian_norm"}
        per = {k: split_lambdas(run, v) for k, v in keys.items() if v in m}
        out[name] = {
            lam: {k: (per[k][lam][:, -1] if k == "ret" else per[k][lam]) for k in per}
            for lam in per["ret"]
        }
    return out


def _label(name: str, lam: float) -> str:
    return LABELS.get(name, f"{name} (λ={lam:g})")


def _variant_panels(ax_ret, ax_gn, ax_q, env_id: str, groups, default_lam: float, m0) -> None:
    """(a) imitation return, (c) ‖∇D‖ and (e) ‖∇Q‖ per variant at the default λ."""
    curves: dict[str, dict[str, np.ndarray]] = {"ret": {}, "gn": {}, "qj": {}}
    colors = {}
    for name in [v for v in ORDER if v in groups]:
        lam = 0.0 if name.startswith("none") else default_lam
        label = _label(name, lam)
        for key, metric in (("ret", "eval_return"), ("gn", "d_grad_norm_agent")):
            curves[key][label] = split_lambdas(groups[name], metric).get(lam)
        metrics = groups[name].load_metrics(finite=True, schema=SCHEMA)
        if name in ("wgan", "wgan_purple") and "q_jacobian_norm" in metrics:
            curves["qj"][label] = split_lambdas(groups[name], "q_jacobian_norm").get(lam)
        colors[label] = COLORS[name]
    steps = np.asarray(m0["env_steps"][0])[1:]
    for ax, key, x, title, ylabel in (
        (
            ax_ret,
            "ret",
            np.asarray(m0["eval_env_steps"][0]),
            f"{env_id}: imitation return",
            "true return (deterministic eval)",
        ),
        (
            ax_gn,
            "gn",
            steps,
            "reward Lipschitzness: mean ‖∇_{s,a} D‖ at agent samples",
            "‖∇D‖ (row mean over updates)",
        ),
        (
            ax_q,
            "qj",
            steps,
            "critic Jacobian: mean ‖∇_{s,a} Q‖, wgan ± PURPLE",
            "‖∇Q‖ (row mean over updates)",
        ),
    ):
        c = {k: (v if key == "ret" else v[:, 1:]) for k, v in curves[key].items() if v is not None}
        if not c:
            ax.set_title(f"{title}: no runs")
            continue
        plotting.curve_panel(
            ax,
            x,
            c,
            "iqm",
            title=title,
            xlabel="environment steps per seed",
            ylabel=ylabel,
            colors=colors,
        )
        if key != "ret":
            ax.set_yscale("log")


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


def claims_text(claims) -> str:
    """One line per claim: id, verdict, the computed detail."""
    return "\n".join(
        f"{c['id']} [{c['verdict']}]: {c['statement']} ({c['detail']})" for c in claims
    )


def env_row(ax_row, env_id: str, groups) -> tuple[str, list[dict]]:
    """The five panels of one environment; its caption and its claims."""
    any_run = groups.get("wgan") or next(iter(groups.values()))
    exp_cfg = any_run.config["experiment"]
    default_lam = float(exp_cfg["default_lambda"])
    sweep = any_run.read_json("sweep")
    expert = float(sweep["expert_return"])
    gate = lg_claims.expert_gate_missed(sweep.get("expert_summary", {}))
    m0 = any_run.load_metrics(finite=True, schema=SCHEMA)
    ax_ret, ax_lam, ax_gn, ax_gnl, ax_q = ax_row
    _variant_panels(ax_ret, ax_gn, ax_q, env_id, groups, default_lam, m0)
    _lambda_panels(ax_lam, ax_gnl, groups, m0)
    for ax in (ax_ret, ax_lam):
        ax.axhline(expert, color="k", ls="--", lw=1, label="expert")
    for ax in ax_row:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    data = claim_data(groups)
    print(f"{env_id}: expert demo return {expert:.1f}")
    seeds = set()
    for name in [v for v in ORDER if v in data]:
        for lam, d in sorted(data[name].items()):
            p, lo, hi = bootstrap_ci(d["ret"], "iqm")
            seeds.add(int(d["ret"].shape[0]))
            print(
                f"  {_label(name, lam):26s} final true return IQM {p:8.1f}  95% CI "
                f"[{lo:8.1f}, {hi:8.1f}]  ({d['ret'].shape[0]} seeds)"
            )
    claims = lg_claims.compute(
        data, expert, default_lam, tag=env_id.split("/")[-1], expert_gate=gate
    )
    static = any_run.config["static"]
    summ = sweep.get("expert_summary", {})
    if summ.get("min_return") is not None:
        gate_text = (
            f" Expert gate (best final evaluation ≥ {summ['min_return']:g}): "
            f"{'met' if summ['gate_met'] else 'missed'} after {summ['rounds']} round(s) of "
            f"{len(summ['train_eval_return_final']) // summ['rounds']} seeds"
            f"{_round_text(summ)}."
        )
    else:
        gate_text = ""
    text = plotting.caption(
        sorted(seeds),
        f"{env_id}: {int(m0['eval_env_steps'][0][-1]):,} imitator env steps, "
        f"{exp_cfg['expert_episodes']} expert episodes subsampled every "
        f"{exp_cfg['subsample_every']} steps",
        extra=f"Expert (dashed): {expert:.0f}.{gate_text} Evaluation: "
        f"{static['num_eval_envs']} fixed episodes. Panel (b): final evaluation, IQM and 95% "
        "CI; panels (c–e): row means over updates at the agent's replay minibatch.",
    )
    return text + "\n" + claims_caption(claims), claims


def main(argv=None) -> Path:
    args = plotting.figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    envs = latest_groups(args.results)
    if not envs:
        raise plotting.missing_runs(EXPERIMENT, args.results)
    fig, axes = plt.subplots(len(envs), 5, figsize=(25, 4.2 * len(envs)), squeeze=False)
    rows = [
        env_row(ax_row, env_id, groups)
        for ax_row, (env_id, groups) in zip(axes, sorted(envs.items()), strict=True)
    ]
    claims = [c for r in rows for c in r[1]]
    for c in claims:
        print(f"[{c.verdict}] {c.id}: {c.detail}")
    path = plotting.save_captioned(
        fig, Path(args.out) / f"{EXPERIMENT}.png", "\n".join(r[0] for r in rows), fontsize=7
    )
    runs = [run for groups in envs.values() for run in groups.values()]
    steps = sorted({int(r.config["static"]["total_timesteps"]) for r in runs})
    write_claims(
        args.out,
        EXPERIMENT,
        claims,
        figures=[path],
        runs=runs,
        budget=f"{steps} imitator env steps per seed",
    )
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
