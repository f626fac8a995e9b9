"""RLHF reward shaping (PAR and baselines), χ² vs KL regularisation, and PRM Clip/Delta.

    python -m experiments.rlhf_shaping --profile quick     # a few minutes on a 2-core CPU
    python -m experiments.rlhf_shaping --profile paper     # more seeds and steps (GPU)

Two tasks, one results directory each under ``results/rlhf_shaping/`` (config key ``"task"``):

* ``bandit``: PPO on the toy RLHF testbed (:mod:`jaxrl.envs.rlhf_bandit`): the env reward is a
  Bradley–Terry proxy learned from few noisy preferences between reference-policy responses; the
  gold reward is logged alongside. The policy starts at the reference policy (behaviour-cloned
  into PPO's actor); a frozen copy of that actor is the reference of the regulariser. Conditions
  (one vmapped axis, ``seeds`` seeds each):

  - reward shaping of the proxy (papers.md §4.1, :mod:`jaxrl.shaping.stream`): ``vanilla``,
    ``mean_std``, ``clip`` (μ ± σ), ``min_max``, ``lsc``, ``ceiling``, ``par``; all with the same
    small KL coefficient ``base_kl``;
  - ablation without any regulariser: ``vanilla_noreg``, ``par_noreg``;
  - regularisation towards the reference (papers.md §1.3's RLHF estimator on samples from π,
    ``ℓ = log π(a|c) − log π_ref(a|c)``, linearised beyond ±10): ``kl`` adds
    ``β_KL·mean(ℓ + e^{−ℓ} − 1)``, ``chi2`` adds ``β_χ²·√max(mean(e^ℓ − 1 + e^{−ℓ} − 1), 1e-4)``
    to PPO's loss, on the vanilla proxy reward.

  Curves: expected gold and proxy reward of the sampling policy per PPO update (training batch
  means). Claim: vanilla over-optimises (proxy keeps rising while gold peaks and falls); PAR
  keeps gold high.
* ``prm``: PPO on the repeated-step MDP (:mod:`jaxrl.envs.repeated_step`) with the learner reward
  ``f(prm_reward) + outcome_reward`` for ``f`` in {raw, Clip (``min(r − η, 0)``), Delta
  (streaming, one step late), Clip+Delta} (:mod:`jaxrl.shaping.prm`). Curves: episode length and
  success rate. Claim: raw PRM rewards make episodes grow to the horizon; Clip/Delta do not.

Each run stores the per-update metrics with a leading ``[condition * seed]`` axis and
``summary.json`` (peak/final values with 95% bootstrap CIs);
``python -m paper_figures.rlhf_shaping``
draws the figures. The configuration is in ``config.py``, the tasks' setups in ``tasks.py``, the
bandit's reference policy and regularisers in ``bandit.py``, the summaries in ``report.py``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments.rlhf_shaping.bandit import bandit_program
from experiments.rlhf_shaping.config import EXPERIMENT, PRESETS, RLHFShaping
from experiments.rlhf_shaping.report import print_bandit, print_prm, summarise_bandit, summarise_prm
from experiments.rlhf_shaping.schema import schema
from experiments.rlhf_shaping.tasks import PRM_VARIANTS, prm_setup
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams
from jaxrl.envs.rlhf_bandit import RLHFTestbedConfig, build_testbed, describe_testbed
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.sweep import (
    broadcast_runs,
    grid_keys,
    open_run,
    per_seed,
    run_sweep,
    sweep_cli,
)


# ----------------------------------------------------------------------------- runs
def _run(task, program, hp, keys, run_config, cfg: RLHFShaping, store: ResultsStore):
    """Open the task's run and train all conditions x seeds (one vmapped run axis)."""
    steps = run_config["static"]["total_timesteps"]
    run = open_run(
        store, EXPERIMENT, run_config, cfg, f"{task}: {keys.shape[0]} runs x {steps} steps"
    )
    metrics = run_sweep(
        cfg,
        run,
        program,
        keys,
        hp,
        num_chunks=run_config["static"]["num_chunks"],
        postfix_metric="return_gold_reward" if task == "bandit" else "episode_length",
        schema=schema(task),
    )
    return run, metrics


def run_bandit(cfg: RLHFShaping, store: ResultsStore):
    init, chunk, hp, keys, conds, static, testbed, extra = bandit_program(cfg)
    report = describe_testbed(testbed)
    others = [
        describe_testbed(build_testbed(RLHFTestbedConfig(seed=s)))
        for s in range(cfg.testbed_seed + 1, cfg.testbed_seed + 1 + cfg.extra_testbeds)
    ]
    run_config = {
        "experiment": cfg.recorded(),
        "task": "bandit",
        "conditions": [c[0] for c in conds],
        "coefficients": [list(c[2]) for c in conds],
        "static": dataclasses.asdict(static),
        "testbed": dataclasses.asdict(testbed.config),
    }
    run, m = _run("bandit", (init, chunk), hp, keys, run_config, cfg, store)
    summary = summarise_bandit(m, conds, cfg.seeds, static.batch_size)
    summary["testbed"] = report
    summary["other_testbeds"] = others
    summary.update(extra)
    run.write_json("summary", summary)
    run.mark_done()
    print_bandit(EXPERIMENT, summary)
    return run


def run_prm(cfg: RLHFShaping, store: ResultsStore):
    env, env_params, static, transform = prm_setup(cfg)
    trainer = make_train(static, env, transform, env_params)
    nv = len(PRM_VARIANTS)
    n = nv * cfg.seeds
    index = jnp.asarray(per_seed(np.arange(nv), cfg.seeds, np.int32))
    dp = transform.default_params  # ((), (index, branches), ())
    branch_params = broadcast_runs(dp[1][1], n)
    hp = trainer.check(PPOHParams(learning_rate=2.5e-4, gamma=0.99, ent_coef=0.01))
    hp = hp.broadcast(n)._replace(transform=((), (index, branch_params), ()))
    keys = jax.random.key_data(grid_keys(cfg.seed + 1, cfg.seeds, nv))
    run_config = {
        "experiment": cfg.recorded(),
        "task": "prm",
        "conditions": list(PRM_VARIANTS),
        "static": dataclasses.asdict(static),
    }
    run, m = _run("prm", (trainer.init, trainer.chunk), hp, keys, run_config, cfg, store)
    summary = summarise_prm(m, PRM_VARIANTS, cfg.seeds, cfg.prm_horizon, static.batch_size)
    run.write_json("summary", summary)
    run.mark_done()
    print_prm(EXPERIMENT, summary)
    return run


def main(argv=None):
    cfg, store = sweep_cli(PRESETS, __doc__, argv)
    runs = []
    if "bandit" in cfg.tasks:
        runs.append(run_bandit(cfg, store))
    if "prm" in cfg.tasks:
        runs.append(run_prm(cfg, store))
    return runs
