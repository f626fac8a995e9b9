"""Figure: PPO learning curves on CartPole-v1 and Pendulum-v1 (reads results/ppo_classic/).

    python -m paper_figures.ppo_classic [--results results] [--out paper_figures/out]

One panel per environment: the evaluation return (deterministic policy, fixed evaluation keys
shared across seeds) against environment steps, IQM over seeds with a 95% stratified-bootstrap CI.
Uses the newest finished run per environment. Its one claim (:func:`claims`) goes to the caption
and ``claims.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.ppo_classic.schema import SCHEMA
from jaxrl.experiment.claims import Claim, ci_bound, claims_caption, estimate, write_claims
from jaxrl.experiment.plotting import (
    caption,
    check_matches,
    curve_panel,
    figure_args,
    latest_runs,
    save_captioned,
)

EXPERIMENT = "ppo_classic"
PAPER = "PPO (Schulman et al. 2017), the baseline learner"
#: gymnasium's ``reward_threshold`` of CartPole-v1 (its registration): "solved" at 475 of 500
CARTPOLE_SOLVED = 475.0


def claims(runs) -> list[Claim]:
    """The baseline's one claim: PPO solves CartPole-v1, the IQM final evaluation return's 95%
    CI lower limit at or above gymnasium's threshold (:data:`CARTPOLE_SOLVED`). Pendulum-v1 has
    no such threshold, so it carries no claim."""
    if "CartPole-v1" not in runs:
        return []
    final = runs["CartPole-v1"].load_metrics(finite=True, schema=SCHEMA)["eval_return"][:, -1]
    e = estimate(final, "iqm")
    check = ci_bound("final eval return (IQM)", e, "lo", ">=", CARTPOLE_SOLVED)
    return [
        Claim.from_check(
            f"{EXPERIMENT}.cartpole",
            EXPERIMENT,
            PAPER,
            "PPO solves CartPole-v1 within the budget.",
            {"CartPole-v1 final eval return": e},
            f"lower CI limit of the IQM final evaluation return >= {CARTPOLE_SOLVED:g} "
            "(gymnasium's reward_threshold)",
            check,
        )
    ]


def check_data(run, env_id: str, m) -> None:
    """Refuse a run whose metrics are not what its config.json describes (e.g. a run recorded as
    Pendulum-v1 holding CartPole-v1 data): the panel's env, seeds, evaluation points and steps."""
    cfg, static = run.config, run.config["static"]
    check_matches(run, "env", env_id, cfg["env"])
    check_matches(run, "seeds", m.sizes["seed"], cfg["experiment"]["seeds"])
    check_matches(run, "evaluation points", m.sizes["eval"], static["num_chunks"])
    batch = static["num_envs"] * static["num_steps"]
    total = static["total_timesteps"] // batch * batch
    check_matches(run, "final eval_env_steps", int(m["eval_env_steps"][0, -1]), total)


def env_panel(ax, env_id: str, run) -> str:
    """One environment's evaluation-return curve; its caption line."""
    m = run.load_metrics(finite=True, schema=SCHEMA)
    steps = np.asarray(m["eval_env_steps"][0])
    check_data(run, env_id, m)
    curve_panel(
        ax,
        steps,
        {"PPO (eval return)": m["eval_return"]},
        "iqm",
        title=env_id,
        xlabel="environment steps per seed",
        ylabel="evaluation return",
    )
    static = run.config["static"]
    kind = "Deterministic" if static["deterministic_eval"] else "Stochastic"
    return caption(
        m["eval_return"].shape[0],
        f"{env_id}: {int(steps[-1]):,} steps",
        extra=f"{kind} evaluation, {static['num_eval_envs']} fixed evaluation episodes per point.",
    )


def main(argv=None) -> Path:
    args = figure_args(__doc__, argv)
    import matplotlib.pyplot as plt

    runs = latest_runs(args.results, EXPERIMENT, lambda c: c["env"])
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.6), squeeze=False)
    captions = []
    for ax, (env_id, run) in zip(axes[0], sorted(runs.items()), strict=True):
        captions.append(env_panel(ax, env_id, run))
    cl = claims(runs)
    text = "\n".join([*captions, claims_caption(cl)]).strip()
    out = Path(args.out)
    path = save_captioned(fig, out / f"{EXPERIMENT}.png", text, y=-0.06, wrap=True)
    budget = "; ".join(
        f"{env}: {r.config['static']['total_timesteps']:,} env steps per seed"
        for env, r in sorted(runs.items())
    )
    write_claims(out, EXPERIMENT, cl, figures=[path], runs=list(runs.values()), budget=budget)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
