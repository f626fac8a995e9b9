"""The study behind the quick profile (issue 16, item 3): where, at CPU budgets, do Blondé et al.'s
claims (a) "no penalty falls short of the expert", (b) "wgan-GP reaches expert level" and (e)
"‖∇D‖ grows without a penalty, stays near k with one" show?

    python -m experiments.lipschitz_gail.study [--results results] [--settings idp_60k ...]

Each setting is the quick preset with a few fields replaced (:data:`SETTINGS`); it runs the
expert (reused when its config matches), then the no-penalty variants and wgan, under
``results/lipschitz_gail_study/``, and prints one table row per (setting, variant): the final true
return over the expert's (IQM [95% CI]) and the claims' verdicts, computed by
:mod:`experiments.lipschitz_gail.claims` from the same data.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from experiments.lipschitz_gail import claims as lg_claims
from experiments.lipschitz_gail.experiment import PRESETS, run_all
from experiments.lipschitz_gail.schema import SCHEMA
from jaxrl.experiment import ResultsStore

STUDY = "lipschitz_gail_study"
IDP = ("brax/inverted_double_pendulum",)
#: the paper's SAM options (n-step 10, DAC absorbing states, LayerNorm actor and critics)
PAPER_SAM = {"n_step": 10, "absorbing": True, "layer_norm": True}
_BASE = {"envs": IDP, "seeds": 3, "gp_types": ("none", "wgan"), "lambdas": (10.0,)}
SETTINGS = {
    "idp_20k": {**_BASE, "total_timesteps": 20_000, "num_chunks": 10},
    "idp_60k": {**_BASE, "nogp_ablations": ("none_nosn",)},
    "idp_60k_paper_sam": {**_BASE, **PAPER_SAM, "nogp_ablations": ("none_nosn",)},
    # the paper's sweeps at a CPU budget: run_001's types, run_003's λ, PURPLE
    "idp_sweeps_40k": {
        **_BASE,
        "gp_types": ("none", "wgan", "dragan", "nagard"),
        "lambdas": (0.01, 0.1, 1.0, 10.0, 100.0),
        "purple": True,
        "total_timesteps": 40_000,
        "num_chunks": 10,
    },
    "hopper_100k_paper_sam": {
        **_BASE,
        **PAPER_SAM,
        "envs": ("brax/hopper",),
        "total_timesteps": 100_000,
        "num_chunks": 10,
        "expert_steps": 200_000,
    },
}


def setting(name: str):
    """The quick preset with the study setting's fields replaced."""
    return dataclasses.replace(PRESETS["quick"], **SETTINGS[name])


def table(runs) -> list[str]:
    """One line per (environment, variant) and one per claim (a), (b), (e)."""
    by_env: dict[str, dict[str, object]] = {}
    for run in runs:
        by_env.setdefault(run.config["env"], {})[run.config["variant"]] = run
    lines = []
    for env, groups in by_env.items():
        any_run = next(iter(groups.values()))
        sweep = any_run.read_json("sweep")
        expert = float(sweep["expert_return"])
        lam = float(any_run.config["experiment"]["default_lambda"])
        data = {}
        for name, run in groups.items():
            m = run.load_metrics(finite=True, schema=SCHEMA)
            data[name] = {
                float(v): {
                    "ret": m["eval_return"][lam_row == v, -1],
                    "gn": m["d_grad_norm_agent"][lam_row == v],
                    "qj": m["q_jacobian_norm"][lam_row == v],
                }
                for v in run.config["lambdas"]
                for lam_row in [np.asarray(run.read_json("sweep")["grad_pen_scale"])]
            }
            for v, d in data[name].items():
                r = lg_claims.ci(d["ret"] / expert)
                lines.append(f"  {env} {name:12s} λ={v:<6g} return/expert {r.fmt()}")
        gate = lg_claims.expert_gate_missed(sweep.get("expert_summary", {}))
        for c in lg_claims.compute(data, expert, lam, expert_gate=gate):
            lines.append(f"  claim {c.id[-1]}: {c.verdict} ({c.detail})")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args(argv)
    store = ResultsStore(args.results)
    report = []
    for name in args.settings:
        cfg = dataclasses.replace(setting(name), results=args.results)
        cfg.check()
        runs = run_all(cfg, store, experiment=STUDY)
        report += [f"{name}:", *table(runs)]
    print("\n".join(report))


if __name__ == "__main__":
    main()
