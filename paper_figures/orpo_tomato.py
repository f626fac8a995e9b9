"""Figure: ORPO on tomato, true and proxy return against λ (reads results/orpo_tomato/).

    python -m paper_figures.orpo_tomato [--results results] [--out paper_figures/out]

Columns: KL (OM state-action, OM state-only, AD-KL), χ² and √χ² (OM state-action, state-only);
rows: true return, proxy return. Points: mean over seeds of the exact expected return of each
run's final stochastic policy, with a 95% bootstrap CI; dashed lines: the exact λ-optimal tabular
policy from the same reference. Horizontal lines: no regularisation (mean, CI band), the base
policy and the proxy-optimal policy's true return, both solved exactly (finite-horizon backward
induction on the tabular tomato MDP at the run's reward factor). Uses the newest finished
sweep. Also writes ``orpo_tomato.md``: the best true return per method (at its best λ by mean),
and the claims (:func:`claims`) to the caption and ``claims.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.orpo_tomato.schema import curve_key, exact_schema, schema
from jaxrl.analysis.stats import bootstrap_ci
from jaxrl.envs.tomato import tomato_to_sparse_mdp
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.claims import (
    Claim,
    Estimate,
    ci_bound,
    ci_greater,
    claims_caption,
    combine,
    estimate,
    write_claims,
)
from jaxrl.experiment.plotting import figure_args, missing_runs, save_captioned, usable_runs
from jaxrl.mdp.sparse import evaluate_policy_sparse, finite_horizon_sparse

EXPERIMENT = "orpo_tomato"
#: the experiment's board and horizon (papers.md §1.1); its config records only the reward factor
LEVEL, HORIZON = 4, 100
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
ROWS = ("final_true_return", "final_proxy_return")


def latest_sweep(store: ResultsStore) -> dict[str, object]:
    """method -> finished run of the newest sweep (run ids ``<sweep>-<method>``)."""
    done = usable_runs(store, EXPERIMENT)
    if not done:
        return {}
    newest = max(done, key=lambda r: r.done_time() or "")
    sweep = newest.run_id[: -len(newest.config["method"]) - 1]
    return {
        r.config["method"]: r
        for r in done
        if r.run_id.startswith(sweep + "-") and r.run_id == f"{sweep}-{r.config['method']}"
    }


def _exact_metrics(run):
    """The exact run's curves, validated against the schema of its families (``grids``)."""
    return run.load_metrics(finite=True, schema=exact_schema(run.config["grids"]))


def per_lambda(run, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(λ [L], scores [seeds, L]) of a sweep run."""
    m = run.load_metrics(finite=True, schema=schema(run.config["method"]))
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


def exact_references(reward_factor: float) -> dict[str, float]:
    """Exact episode returns of the true-optimal and the proxy-optimal tomato policies.

    Backward induction on the tabular tomato MDP (level ``LEVEL``, horizon ``HORIZON``) at the
    run's reward factor; papers.md §1.1 gives 9.74 and 2.36 (proxy 47.36) at rf = 0.02.

    Returns:
      ``{"true_optimal", "proxy_optimal_true", "proxy_optimal_proxy"}``.
    """
    mdp = tomato_to_sparse_mdp(level=LEVEL, reward_factor=reward_factor)
    out = {}
    for reward in ("true_reward", "proxy_reward"):
        pi = finite_horizon_sparse(mdp, reward, horizon=HORIZON).pi
        out[reward], _ = evaluate_policy_sparse(mdp, pi, horizon=HORIZON)
    return {
        "true_optimal": float(out["true_reward"]["true_reward"]),
        "proxy_optimal_true": float(out["proxy_reward"]["true_reward"]),
        "proxy_optimal_proxy": float(out["proxy_reward"]["proxy_reward"]),
    }


def _color(name: str) -> str:
    if name.startswith("ad"):
        return COLORS["ad"]
    return COLORS["_state" if name.endswith("_state") else ""]


def _reference_lines(ax, row: int, ctx: dict) -> None:
    """No-regularisation mean and CI band, base policy, and (true row) the proxy optimum."""
    key = ROWS[row]
    if "none" in ctx["sweep"]:
        _, s = per_lambda(ctx["sweep"]["none"], key)
        p, lo, hi = bootstrap_ci(s[:, 0], "mean", 2000, 0.95, 0)
        ax.axhline(p, color="0.4", lw=1.2, label=LABELS["none"])
        ax.axhspan(lo, hi, color="0.4", alpha=0.15, lw=0)
    if row == 0:
        ax.axhline(
            ctx["base"]["exact_true_return"], color="k", ls="--", lw=1, label="base policy π_ref"
        )
        ax.axhline(
            ctx["refs"]["proxy_optimal_true"], color="r", ls=":", lw=1, label="proxy-optimal"
        )
    else:
        ax.axhline(ctx["base"]["exact_proxy_return"], color="k", ls="--", lw=1)


def _method_curves(ax, entries, row: int, ctx: dict) -> None:
    """Per method: the runs' mean and CI against λ, and the exact λ-optimal curve (dashed)."""
    key, exact = ROWS[row], ctx["exact"]
    for name, tag in entries:
        color = _color(name)
        if name in ctx["sweep"]:
            lams, s = per_lambda(ctx["sweep"][name], key)
            p, lo, hi = bootstrap_ci(s, "mean", 2000, 0.95, 0)
            ax.errorbar(
                lams, p, yerr=[p - lo, hi - p], color=color, marker="o", ms=4, capsize=2,
                lw=1.2, label=LABELS[name],
            )  # fmt: skip
        if tag is not None and curve_key(tag, "lam") in exact:
            field = "true_return" if row == 0 else "proxy_return"
            x, y = exact[curve_key(tag, "lam")][0], exact[curve_key(tag, field)][0]
            ax.plot(x, y, color=color, ls="--", lw=1, alpha=0.8, label=f"exact {LABELS[name]}")


def _panel(ax, row: int, col: int, title: str, entries, ctx: dict) -> None:
    """One (return kind, divergence family) panel."""
    _reference_lines(ax, row, ctx)
    _method_curves(ax, entries, row, ctx)
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    if row == 0:
        ax.set_title(title)
    else:
        ax.set_xlabel("λ (per-step penalty coefficient)")
    if col == 0:
        ax.set_ylabel("true return" if row == 0 else "proxy return")


def _caption(ctx: dict) -> str:
    cfg, refs, n_seeds = ctx["cfg"], ctx["refs"], ctx["n_seeds"]
    return (
        f"Tomato level {LEVEL}, reward factor rf = {cfg['reward_factor']} (exact: proxy-optimal "
        f"true return {refs['proxy_optimal_true']:.2f}, true-optimal {refs['true_optimal']:.2f}), "
        f"H = {HORIZON}. Mean over {n_seeds} seeds per λ, bars: 95% "
        "bootstrap CI (2000 resamples); returns are the exact expected returns of each run's "
        f"final stochastic policy. PPO learner: {cfg['total_timesteps']:,} env steps per run, "
        f"MLP {tuple(cfg['hidden_sizes'])}; λ = c · scale (KL/AD-KL {cfg['kl_scale']}, "
        f"χ² {cfg['chi2_scale']}, √χ² {cfg['sqrt_chi2_scale']}). Dashed coloured: exact "
        "λ-optimal tabular policy (Adam ascent from π_ref); black dashed: base policy "
        f"(PPO on the true reward, ε = {cfg['base_eps']}, {cfg['base_steps']:,} steps)."
    )


PAPER = "ORPO (Laidlaw, Singhal, Dragan; ICLR'25)"
OM = ("om_kl", "om_kl_state", "om_chi2", "om_chi2_state", "om_sqrt_chi2", "om_sqrt_chi2_state")


def best_true(run) -> tuple[float, Estimate]:
    """(λ, mean true return [95% CI] over seeds) at the λ with the best mean true return."""
    lams, true = per_lambda(run, "final_true_return")
    i = int(np.argmax(true.mean(0)))
    return float(lams[i]), estimate(true[:, i], "mean")


def claims(ctx: dict) -> list[Claim]:
    """The paper's tomato claims on this sweep (papers.md §1.5), each from the runs' final true
    returns (mean, 95% bootstrap CI over seeds) against the base policy's exact true return (one
    policy, exact: a zero-width interval, n = 1):

    * ``orpo_tomato.hack``: unregularised PPO on the proxy hacks it, true return below π_ref and
      nearer the proxy-optimal policy's (exact) than π_ref's;
    * ``orpo_tomato.om``: OM regularisation at its best λ reaches π_ref's true return (its CI's
      upper limit at or above it) for at least one OM method;
    * ``orpo_tomato.chi2_vs_ad``: OM-χ² (s, a) at its best λ beats AD-KL at its best λ.
    """
    sweep, b = ctx["sweep"], ctx["base"]["exact_true_return"]
    base = Estimate(b, b, b, 1)
    out = []
    if "none" in sweep:
        _, noreg = best_true(sweep["none"])  # one λ (0)
        mid = (b + ctx["refs"]["proxy_optimal_true"]) / 2
        q = {"no regularisation": noreg, "base policy π_ref (exact)": base}
        checks = {
            "below π_ref": ci_greater("π_ref", base, "no regularisation", noreg),
            "near proxy-optimal": ci_bound("no regularisation", noreg, "hi", "<", mid),
        }
        out.append(Claim.from_check(
            f"{EXPERIMENT}.hack", EXPERIMENT, PAPER,
            "PPO on the proxy reward without regularisation hacks it: its true return falls from "
            "the base policy's towards the proxy-optimal policy's.", q,
            "CI of no regularisation's true return lies below π_ref's, and its upper limit below "
            f"the midpoint {mid:.2f} of π_ref's and the proxy-optimal policy's true return",
            combine(checks, "all"),
        ))  # fmt: skip
    om = {LABELS[m]: best_true(sweep[m]) for m in OM if m in sweep}
    if om:
        q = {f"{k} (best λ {lam:.3g})": e for k, (lam, e) in om.items()}
        checks = {k: ci_bound(k, e, "hi", ">=", b) for k, e in q.items()}
        out.append(Claim.from_check(
            f"{EXPERIMENT}.om", EXPERIMENT, PAPER,
            "Occupancy-measure regularisation at its best λ reaches the base policy's true "
            "return.", {**q, "base policy π_ref (exact)": base},
            f"upper CI limit of the true return >= π_ref's {b:.2f}, for at least one OM method",
            combine(checks, 1),
        ))  # fmt: skip
    if {"om_chi2", "ad_kl"} <= set(sweep):
        (lc, chi2), (la, ad) = best_true(sweep["om_chi2"]), best_true(sweep["ad_kl"])
        q = {f"OM-χ² (s,a) (best λ {lc:.3g})": chi2, f"AD-KL (best λ {la:.3g})": ad}
        out.append(Claim.from_check(
            f"{EXPERIMENT}.chi2_vs_ad", EXPERIMENT, PAPER,
            "χ² occupancy-measure regularisation beats action-distribution KL regularisation.",
            q, "CI of OM-χ² (s,a)'s best true return lies above the CI of AD-KL's",
            ci_greater("OM-χ² (s,a)", chi2, "AD-KL", ad),
        ))  # fmt: skip
    return out


def budget(ctx: dict) -> str:
    cfg = ctx["cfg"]
    lams = {m: len(r.config["lams"]) for m, r in ctx["sweep"].items()}
    return (
        f"{cfg['total_timesteps']:,} PPO env steps per run, {ctx['n_seeds']} seeds per λ, "
        f"{sum(lams.values())} (method, λ) settings; base policy {cfg['base_steps']:,} steps"
    )


def _table(ctx: dict) -> list[str]:
    """The ``orpo_tomato.md`` lines: best true return per method."""
    cfg, n_seeds = ctx["cfg"], ctx["n_seeds"]
    lines = [
        f"Best true return per method (rf = {cfg['reward_factor']}; mean and 95% bootstrap CI "
        f"over {n_seeds} seeds at the λ with the best mean). Base policy: "
        f"{ctx['base']['exact_true_return']:.2f}; exact true-optimal "
        f"{ctx['refs']['true_optimal']:.2f}, "
        f"proxy-optimal {ctx['refs']['proxy_optimal_true']:.2f}.",
        "",
        "| method | best λ | true return | 95% CI | proxy return | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for name, lam, p, lo, hi, n, proxy in summarize(ctx["sweep"], ctx["base"]["exact_true_return"]):
        lines.append(
            f"| {LABELS[name]} | {lam:.4g} | {p:.2f} | [{lo:.2f}, {hi:.2f}] | {proxy:.2f} | {n} |"
        )
    return lines


def load(results) -> dict:
    """The newest sweep, its base policy's summary, the exact curves and the exact references."""
    store = ResultsStore(results)
    runs = latest_sweep(store)
    sweep = {k: v for k, v in runs.items() if k != "exact"}
    if not sweep:
        raise missing_runs(EXPERIMENT, results)
    any_run = next(iter(sweep.values()))
    cfg = any_run.config["experiment"]
    return {
        "sweep": sweep,
        "cfg": cfg,
        "base_run": (base := store.open("orpo_tomato_base", any_run.config["base_run_id"])),
        "base": base.read_json("summary"),
        "exact": _exact_metrics(runs["exact"]) if "exact" in runs else {},
        "exact_run": runs.get("exact"),
        "refs": exact_references(cfg["reward_factor"]),
        "n_seeds": per_lambda(any_run, ROWS[0])[1].shape[0],
    }


def main(argv=None) -> Path:
    args = figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    ctx = load(args.results)
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4), sharex="col")
    for col, (title, entries) in enumerate(COLUMNS.items()):
        for row in range(len(ROWS)):
            _panel(axes[row, col], row, col, title, entries, ctx)
        axes[0, col].legend(fontsize=6, loc="best")
    out = Path(args.out)
    cl = claims(ctx)
    text = _caption(ctx) + "\n" + claims_caption(cl)
    path = save_captioned(fig, out / f"{EXPERIMENT}.png", text, wrap=True)
    runs = [ctx["base_run"], *ctx["sweep"].values(), *filter(None, [ctx["exact_run"]])]
    write_claims(out, EXPERIMENT, cl, figures=[path], runs=runs, budget=budget(ctx))
    lines = _table(ctx)
    (out / f"{EXPERIMENT}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
