"""RLHF reward shaping (PAR and baselines), χ² vs KL regularisation, and PRM Clip/Delta.

    python experiments/rlhf_shaping.py --profile quick     # a few minutes on a 2-core CPU
    python experiments/rlhf_shaping.py --profile paper     # more seeds and steps (GPU)

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
``summary.json`` (peak/final values with 95% bootstrap CIs); ``paper_figures/rlhf_shaping.py``
draws the figures. The tasks' setups are in ``experiments/_rlhf_tasks.py``, the bandit's
reference policy and regularisers in ``_rlhf_bandit.py``, the summaries in ``_rlhf_report.py``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams
from jaxrl.envs.rlhf_bandit import RLHFTestbedConfig, build_testbed, describe_testbed
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.sweep import (
    SeededSweep,
    broadcast_runs,
    grid_keys,
    open_run,
    per_seed,
    run_sweep,
    sweep_cli,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # siblings, also when loaded by path
from _rlhf_bandit import bandit_program, divergence_estimates, exp_linearised  # noqa: E402
from _rlhf_report import print_bandit, print_prm, summarise_bandit, summarise_prm  # noqa: E402
from _rlhf_tasks import PRM_VARIANTS, SHAPINGS, prm_setup  # noqa: E402

#: the experiment's names, also those of its sibling modules (for tests and notebooks)
__all__ = [
    "PRM_VARIANTS",
    "SHAPINGS",
    "TASKS",
    "RLHFShaping",
    "divergence_estimates",
    "exp_linearised",
    "main",
]

EXPERIMENT = "rlhf_shaping"
TASKS = ("bandit", "prm")


@dataclasses.dataclass(frozen=True)
class RLHFShaping(SeededSweep):
    seeds: int = 5
    """training seeds per condition (conditions x seeds is one vmapped axis)"""
    tasks: tuple[str, ...] = TASKS
    """which tasks to run"""
    testbed_seed: int = 0
    """seed of the RLHF testbed (gold reward, reference policy, preference data, RM)"""
    bandit_steps: int = 65_536
    """environment steps (= sampled responses) per seed on the bandit"""
    bandit_lr: float = 5e-4
    reward_kl: float = 0.03
    """per-token KL-in-reward coefficient of every shaping condition (RLHF's usual penalty)"""
    kl_coefs: tuple[float, ...] = (0.1, 0.3, 1.0)
    """in-loss KL estimator coefficients (papers.md §1.3), one condition each"""
    chi2_coefs: tuple[float, ...] = (0.1, 0.3, 1.0)
    """in-loss √χ² estimator coefficients, one condition each"""
    par_k: float = 1.0
    ceiling_sigmas: float = 1.0
    """Ceil-c with c = (proxy mean + this many stds) of the reference policy's responses"""
    prm_steps: int = 65_536
    """environment steps per seed on the repeated-step MDP"""
    prm_horizon: int = 30
    prm_n_required: int = 3
    clip_eta: float = 1.0
    """Clip's threshold η: min(r − η, 0)"""
    delta_keep_last: bool = False
    num_chunks: int = 4
    """checkpoint/progress points per run"""
    extra_testbeds: int = 5
    """also report reference/gold-optimal/proxy-optimal gold for this many other testbeds"""

    def check(self) -> None:
        super().check()
        self.require(set(self.tasks) <= set(TASKS), "tasks", f"must be a subset of {TASKS}")


PRESETS = {
    "quick": RLHFShaping(),
    "paper": RLHFShaping(seeds=20, bandit_steps=262_144, prm_steps=262_144, num_chunks=16),
}


# ----------------------------------------------------------------------------- runs
def looped_init(init):
    """``init_fn(keys, hp)`` that initialises run by run (one jitted single-run init, stacked).

    Workaround for a CPU deadlock: under ``vmap``, flax's orthogonal initialiser becomes batched
    LAPACK QR custom calls (jaxlib's ``ParallelBatchMap``); when two run concurrently on a
    2-thread XLA pool each blocks a pool thread waiting for sub-tasks queued behind the other,
    and ``jit(vmap(trainer.init))`` hangs forever (seen with jax/jaxlib 0.10.2 on 2 cores).
    """
    single = jax.jit(init)

    def init_fn(keys, hp):
        states = [
            single(keys[i], jax.tree.map(lambda x, i=i: x[i], hp)) for i in range(keys.shape[0])
        ]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *states)

    return init_fn


def _run(task, program, hp, keys, run_config, cfg: RLHFShaping, store: ResultsStore):
    """Open the task's run and train all conditions x seeds (init looped, chunk vmapped)."""
    steps = run_config["static"]["total_timesteps"]
    run = open_run(
        store, EXPERIMENT, run_config, cfg, f"{task}: {keys.shape[0]} runs x {steps} steps"
    )
    init, chunk = program
    metrics = run_sweep(
        cfg,
        run,
        (looped_init(init), chunk),
        keys,
        hp,
        num_chunks=run_config["static"]["num_chunks"],
        init_batched=True,
        postfix_metric="return_gold_reward" if task == "bandit" else "episode_length",
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


if __name__ == "__main__":
    main(sys.argv[1:])
