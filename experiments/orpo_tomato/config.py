"""The configuration of ``experiments.orpo_tomato``: methods, λ grids, the sweep dataclass and its
profiles (its own module, so the base-policy module imports it without importing the runner)."""

from __future__ import annotations

import dataclasses

from jaxrl.experiment.sweep import SeededSweep

#: method name -> (ORPO method, divergence, state_only, grid family)
METHODS = {
    "none": ("none", "kl", False, "none"),
    "ad_kl": ("ad_kl", "kl", False, "kl"),
    "om_kl": ("om", "kl", False, "kl"),
    "om_chi2": ("om", "chi2", False, "chi2"),
    "om_sqrt_chi2": ("om", "sqrt_chi2", False, "sqrt_chi2"),
    "om_kl_state": ("om", "kl", True, "kl"),
    "om_chi2_state": ("om", "chi2", True, "chi2"),
    "om_sqrt_chi2_state": ("om", "sqrt_chi2", True, "sqrt_chi2"),
}

#: papers.md §1.4 dimensionless grids (README); χ² has no published grid, it uses the √χ² one.
KL_GRID = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
SQRT_CHI2_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclasses.dataclass(frozen=True)
class ORPOTomato(SeededSweep):
    seeds: int = 5
    """independent training seeds per λ (vmapped together with λ)"""
    reward_factor: float = 0.02
    """tomato reward factor (the paper code's 0.02; proxy-optimal true return 2.36)"""
    # ---- base policy (PPO on the true reward, ε-random actions)
    base_steps: int = 9216
    """environment steps of the base PPO run (paper: 3 RLlib iterations ≈ 9k)"""
    base_num_envs: int = 8
    base_num_steps: int = 128
    base_epochs: int = 8
    base_minibatches: int = 8
    base_eps: float = 0.1
    """random-action probability while training the base policy"""
    base_ent_coef: float = 0.01
    base_seed: int = 0
    base_run: str = ""
    """reuse this orpo_tomato_base run id ("" = newest finished one with the same base config,
    else train a new one)"""
    # ---- ORPO / PPO on the proxy
    total_timesteps: int = 98_304
    """environment steps of the learner per run (the reference rollouts come on top)"""
    num_envs: int = 16
    num_steps: int = 128
    update_epochs: int = 8
    num_minibatches: int = 8
    hidden_sizes: tuple[int, ...] = (64, 64)
    """policy and value MLPs (the base policy uses the same architecture)"""
    learning_rate: float = 1e-3
    clip_eps: float = 0.05
    """the paper's 0.05: with 0.2 (and 4 epochs) PPO settles on watering within 1e5 steps and
    never finds the bucket (measured: true = proxy = 9.6 on 5/5 seeds); with 0.05 and 8 epochs
    all 5 seeds hack the proxy within 5e4 steps (true 2.26, proxy 46.8 at 2e5 steps)"""
    gamma: float = 0.99
    gae_lambda: float = 0.98
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    disc_hidden: tuple[int, ...] = (64, 64)
    disc_epochs: int = 8
    num_chunks: int = 4
    """deterministic-evaluation points per run"""
    methods: tuple[str, ...] = tuple(METHODS)
    # ---- λ grids: λ = c · scale (per-step reward units, rf = 0.02)
    kl_coefs: tuple[float, ...] = KL_GRID
    sqrt_chi2_coefs: tuple[float, ...] = SQRT_CHI2_GRID
    chi2_coefs: tuple[float, ...] = SQRT_CHI2_GRID
    kl_scale: float = 0.08
    """papers.md: tomato KL scale 0.8 at rf 0.2, i.e. 0.08 at rf 0.02 (also AD-KL's β)"""
    sqrt_chi2_scale: float = 0.05
    """papers.md: tomato √χ² scale 0.05 (matches rf 0.02)"""
    chi2_scale: float = 0.05
    """no published χ² scale: the √χ² one"""
    # ---- exact tabular curves
    exact: bool = True
    exact_steps: int = 300
    """Adam steps of each exact ascent"""
    exact_coefs_per_decade: int = 4
    """the exact curves use a log grid over each method's c range, this many per decade"""

    def check(self) -> None:
        super().check()
        unknown = set(self.methods) - set(METHODS)
        self.require(not unknown, "methods", f"unknown {sorted(unknown)}; known {list(METHODS)}")
        self.check_nonnegative("kl_coefs", "sqrt_chi2_coefs", "chi2_coefs", "reward_factor")
        self.check_positive("base_steps", "total_timesteps", "num_envs", "num_steps", "num_chunks")
        self.check_positive("hidden_sizes", "disc_hidden", "update_epochs", "num_minibatches")
        for name in ("base_eps", "gamma", "gae_lambda"):
            self.require(0 <= getattr(self, name) <= 1, name, "must be in [0, 1]")

    def coefs(self, family: str) -> tuple[tuple[float, ...], float]:
        if family == "none":
            return (0.0,), 1.0
        return getattr(self, f"{family}_coefs"), getattr(self, f"{family}_scale")


PRESETS = {
    # 4 seeds and 3 λ per family (88 runs), not 5 and 4 (145): the sweep is ORPO's pure run
    # time. Session 36: the claims on the first 4 seeds of a 5-seed run without each family's
    # smallest λ (c = 0.01 for KL, 0.02 for (√)χ²: there every OM and AD method hacked the
    # proxy, as at the next λ for KL) were those of the full run; the 4-seed run equalled the
    # 5-seed run's first 4 seeds bit for bit, but the 3-λ run rounds differently (a narrower
    # vmap; same keys): other numbers, the same three verdicts (make reproduce).
    "quick": ORPOTomato(
        seeds=4,
        kl_coefs=(0.1, 1.0, 10.0),
        sqrt_chi2_coefs=(0.05, 0.2, 1.0),
        chi2_coefs=(0.05, 0.2, 1.0),
    ),
    # Paper PPO settings (papers.md §1.4, RLlib → PureJaxRL mapping): batch 3000 ≈ 30×100 per
    # policy, lr 1e-3, clip 0.05, GAE 0.98, 8 epochs of minibatch ~128, vf coef 0.01, grad clip
    # 0.1, 4×512 tanh MLPs, 500 iterations; the full λ grids.
    "paper": ORPOTomato(
        seeds=5,
        base_steps=9600,
        base_num_envs=32,
        base_num_steps=100,
        base_epochs=8,
        base_minibatches=25,
        total_timesteps=1_600_000,
        num_envs=32,
        num_steps=100,
        update_epochs=8,
        num_minibatches=25,
        hidden_sizes=(512, 512, 512, 512),
        clip_eps=0.05,
        vf_coef=0.01,
        max_grad_norm=0.1,
        disc_hidden=(256, 256),
        disc_epochs=16,
        num_chunks=20,
        exact_steps=1000,
    ),
}
