"""The configuration of ``experiments.rlhf_shaping``: the sweep dataclass and its profiles (its own
module, so the task and bandit modules import it without importing the runner)."""

from __future__ import annotations

import dataclasses

from jaxrl.experiment.sweep import SeededSweep

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
        self.check_nonnegative("kl_coefs", "chi2_coefs", "reward_kl", "extra_testbeds")
        self.check_positive("bandit_steps", "prm_steps", "prm_horizon", "prm_n_required")
        self.check_positive("num_chunks")
        self.require(self.bandit_lr > 0, "bandit_lr", "must be > 0")


PRESETS = {
    "quick": RLHFShaping(),
    "paper": RLHFShaping(seeds=20, bandit_steps=262_144, prm_steps=262_144, num_chunks=16),
}
