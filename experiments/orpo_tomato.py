"""ORPO on the tomato-watering gridworld (Laidlaw, Singhal & Dragan, ICLR'25; papers.md §1).

    python experiments/orpo_tomato.py --profile quick     # ≤ 10 min on a 2-core CPU
    python experiments/orpo_tomato.py --profile paper     # GPU-sized budget (paper PPO settings)
    python experiments/orpo_tomato.py --profile quick --resume

Three parts, each into the results store:

1. **Base (reference) policy** ``results/orpo_tomato_base/<run-id>/``: PPO on the *true* reward
   with ε = 0.1 random actions (papers.md §1.3: a short run, ~9k steps), saved with
   ``save_params`` (``policy.msgpack``). A finished base run with the same base config is reused
   (or name one with ``--base-run``); every ORPO run records which one it loaded.
2. **Sweep** ``results/orpo_tomato/<sweep>-<method>/``: one run directory per (method, divergence,
   state-only) combination, each ONE jit vmapped over ``[n_lambda × seeds]`` (λ = ``aux_coef``).
   The learner optimises the proxy reward (rf = 0.02, ε = 0). Methods: no regularisation, AD-KL,
   and OM with KL / χ² / √χ² on state-action and on state-only occupancies. λ = c · scale with
   papers.md §1.4's dimensionless grids and scales converted to rf = 0.02 (``*_scale`` fields).
   ``metrics.npz`` holds the per-update training metrics, the per-chunk deterministic evaluation,
   ``lam`` ``[N]`` and the headline numbers ``final_true_return`` / ``final_proxy_return``: the
   *exact* expected returns of the final stochastic policy, by forward propagation on the tabular
   MDP (no sampling noise; the same quantity as the exact curves).
3. **Exact curves** ``results/orpo_tomato/<sweep>-exact/``: the λ-optimal tabular policy of
   ``J(π, R̃) − λ D(μ_π ‖ μ_ref)`` per divergence and variant
   (:mod:`jaxrl.regularizers.tomato_exact`), with the base network as the tabular ``π_ref``.

``paper_figures/orpo_tomato.py`` draws true and proxy return against λ from the newest sweep.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents.orpo import ORPOStatic, make_orpo
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import make
from jaxrl.experiment import (
    Config,
    ResultsStore,
    cli,
    config_hash,
    enable_compilation_cache,
    run_chunked,
)
from jaxrl.experiment.params_io import load_params, save_params
from jaxrl.regularizers import tomato_exact
from jaxrl.shaping.transform import from_channel

EXPERIMENT = "orpo_tomato"
BASE_EXPERIMENT = "orpo_tomato_base"
HORIZON = 100

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
class ORPOTomato(Config):
    seeds: int = 5
    """independent training seeds per λ (vmapped together with λ)"""
    seed: int = 0
    """base PRNG seed of the sweep"""
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
    results: str = "results"
    resume: bool = False
    """continue the newest unfinished sweep with the same config"""
    shard: bool = False

    def check(self) -> None:
        self.require(self.seeds >= 1, "seeds", "must be positive")
        unknown = set(self.methods) - set(METHODS)
        self.require(not unknown, "methods", f"unknown {sorted(unknown)}; known {list(METHODS)}")

    def coefs(self, family: str) -> tuple[tuple[float, ...], float]:
        if family == "none":
            return (0.0,), 1.0
        return getattr(self, f"{family}_coefs"), getattr(self, f"{family}_scale")


PRESETS = {
    "quick": ORPOTomato(
        kl_coefs=(0.01, 0.1, 1.0, 10.0),
        sqrt_chi2_coefs=(0.02, 0.05, 0.2, 1.0),
        chi2_coefs=(0.02, 0.05, 0.2, 1.0),
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


def _recorded(cfg: ORPOTomato) -> dict:
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("resume", "results")}


# ----------------------------------------------------------------------------- base policy
def base_setup(cfg: ORPOTomato):
    static = PPOStatic(
        num_envs=cfg.base_num_envs,
        num_steps=cfg.base_num_steps,
        total_timesteps=cfg.base_steps,
        update_epochs=cfg.base_epochs,
        num_minibatches=cfg.base_minibatches,
        hidden_sizes=cfg.hidden_sizes,
        num_chunks=1,
        num_eval_envs=8,
    )
    hp = PPOHParams(
        learning_rate=cfg.learning_rate,
        clip_eps=cfg.clip_eps,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        ent_coef=cfg.base_ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
    )
    config = {
        "reward_factor": cfg.reward_factor,
        "random_action_eps": cfg.base_eps,
        "seed": cfg.base_seed,
        "reward": "true_reward",
        "static": dataclasses.asdict(static),
        "hparams": {k: float(v) for k, v in hp._asdict().items() if k != "transform"},
    }
    return static, hp, config


def exact_returns(env, env_params, network, params):
    """Exact expected true/proxy episode returns (stochastic policy, ε = 0) of network params
    (a leading batch axis is vmapped)."""
    mdp, index = tomato_exact.reachable_tomato_mdp(env, env_params)
    obs = tomato_exact.tabular_observations(env, index)

    def one(p):
        pi = tomato_exact.network_policy(network, p, obs)
        return tomato_exact.policy_returns(mdp, pi, HORIZON)

    return one, mdp, obs


def get_base(cfg: ORPOTomato, store: ResultsStore):
    """(run, params, summary) of the base policy: reuse a finished run or train one."""
    static, hp, config = base_setup(cfg)
    if cfg.base_run:
        run = store.open(BASE_EXPERIMENT, cfg.base_run)
    else:
        h = config_hash(config)
        runs = [r for r in store.finished_runs(BASE_EXPERIMENT) if r.run_id.endswith(f"-{h}")]
        run = max(runs, key=lambda r: r.done_time() or "") if runs else None
    env, _ = make("tomato", level=4, reward_factor=cfg.reward_factor)
    env_params = env.default_params.replace(reward_factor=cfg.reward_factor)
    train_params = env_params.replace(random_action_eps=cfg.base_eps)
    trainer = make_train(static, env, from_channel("true_reward"), train_params)
    template = trainer.network.init(jax.random.key(0), jnp.zeros(env.obs_dim))
    if run is not None and run.is_done:
        print(f"[{EXPERIMENT}] base policy: reusing {run.path}")
        return run, load_params(run, "policy", template), run.read_json("summary")
    run = store.create(BASE_EXPERIMENT, config)
    print(
        f"[{EXPERIMENT}] base policy: PPO on the true reward, eps={cfg.base_eps}, "
        f"{static.total_timesteps} steps -> {run.path}"
    )
    keys = jax.random.key(cfg.base_seed)[None]
    hpb = trainer.check(hp).broadcast(1)
    metrics, state = run_chunked(
        jax.jit(jax.vmap(trainer.init)),
        jax.jit(jax.vmap(trainer.chunk)),
        keys,
        hpb,
        num_chunks=1,
        run=run,
        resume=False,
        progress=False,
        return_state=True,
    )
    params = jax.tree.map(lambda x: x[0], state.train_state.params)
    save_params(run, "policy", params)
    one, _, _ = exact_returns(env, env_params, trainer.network, params)
    ret = {k: float(v) for k, v in one(params).items()}
    # Deterministic (argmax) evaluation with and without the ε-noise, fixed keys.
    det = {}
    for eps in (0.0, cfg.base_eps):
        ev = make_train(static, env, None, env_params.replace(random_action_eps=eps)).evaluate
        out = jax.jit(lambda s, ev=ev: ev(s, hp, ("true_reward", "proxy_reward")))(
            jax.tree.map(lambda x: x[0], state)
        )
        det[f"eps{eps:g}"] = {k: float(v) for k, v in out.items()}
    summary = {
        "exact_true_return": ret["true_reward"],
        "exact_proxy_return": ret["proxy_reward"],
        "note": "exact: expected return of the stochastic policy on the eps=0 env (the ORPO env);"
        " deterministic: argmax policy, 8 fixed evaluation episodes",
        "deterministic": det,
    }
    run.write_json("summary", summary)
    run.mark_done()
    return run, params, summary


# ----------------------------------------------------------------------------- sweep
def orpo_setup(cfg: ORPOTomato, name: str):
    method, divergence, state_only, family = METHODS[name]
    static = PPOStatic(
        num_envs=cfg.num_envs,
        num_steps=cfg.num_steps,
        total_timesteps=cfg.total_timesteps,
        update_epochs=cfg.update_epochs,
        num_minibatches=cfg.num_minibatches,
        hidden_sizes=cfg.hidden_sizes,
        num_chunks=cfg.num_chunks,
        num_eval_envs=4,  # deterministic policy, deterministic env: one episode would do
    )
    orpo = ORPOStatic(
        method=method,
        divergence=divergence,
        state_only=state_only,
        disc_hidden=cfg.disc_hidden,
        disc_epochs=cfg.disc_epochs,
    )
    coefs, scale = cfg.coefs(family)
    lams = np.asarray(coefs, np.float64) * scale
    return static, orpo, coefs, lams


def run_method(cfg, name, store, sweep, base_run, base_params, base_summary, env, env_params):
    static, orpo, coefs, lams = orpo_setup(cfg, name)
    trainer = make_orpo(static, orpo, env, base_params, None, env_params)
    L, n = len(lams), cfg.seeds
    base_hp = PPOHParams(
        learning_rate=cfg.learning_rate,
        clip_eps=cfg.clip_eps,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
    )
    trainer.check(base_hp)
    lam_flat = np.repeat(lams, n).astype(np.float32)  # [L·n]: λ-major, seeds inner
    hp = base_hp._replace(aux_coef=jnp.asarray(lam_flat)).broadcast(L * n)
    # Common random numbers: seed i uses the same key at every λ.
    keys = jnp.tile(jax.random.split(jax.random.key(cfg.seed), n), L)
    run_config = {
        "experiment": _recorded(cfg),
        "method": name,
        "orpo": dataclasses.asdict(orpo),
        "static": dataclasses.asdict(static),
        "coefs": list(coefs),
        "lams": lams.tolist(),
        "base_run": str(base_run.path),
        "base_run_id": base_run.run_id,
    }
    run = store.create(
        EXPERIMENT,
        run_config,
        run_id=f"{sweep}-{name}",
        resume=cfg.resume,
        provenance_extra={"base_run": str(base_run.path)},
    )
    if run.is_done:
        return run
    steps = static.total_timesteps
    print(f"[{EXPERIMENT}] {name}: {L} λ × {n} seeds × {steps} steps -> {run.path}")
    t0 = time.time()
    metrics, state = run_chunked(
        jax.jit(jax.vmap(trainer.init)),
        jax.jit(jax.vmap(trainer.chunk)),
        keys,
        hp,
        num_chunks=static.num_chunks,
        run=run,
        resume=cfg.resume,
        shard=cfg.shard,
        postfix_metric="eval_true_reward",
        return_state=True,
    )
    one, _, _ = exact_returns(env, env_params, trainer.ppo.network, base_params)
    final = jax.jit(jax.vmap(one))(state.current.train_state.params)
    metrics = {
        **metrics,
        "lam": lam_flat,
        "final_true_return": np.asarray(final["true_reward"]),
        "final_proxy_return": np.asarray(final["proxy_reward"]),
    }
    run.write_metrics("metrics", metrics)
    tr = metrics["final_true_return"].reshape(L, n).mean(1)
    pr = metrics["final_proxy_return"].reshape(L, n).mean(1)
    run.write_json(
        "summary",
        {
            "lam": lams,
            "mean_true_return": tr,
            "mean_proxy_return": pr,
            "wall_s": time.time() - t0,
            "base_true_return": base_summary["exact_true_return"],
        },
    )
    run.mark_done()
    for lam, t, p in zip(lams, tr, pr, strict=True):
        print(f"    λ={lam:<9.4g} true {t:6.2f}  proxy {p:6.2f}")
    return run


def exact_grid(coefs: tuple[float, ...], scale: float, per_decade: int) -> np.ndarray:
    lo, hi = np.log10(min(coefs)), np.log10(max(coefs))
    n = max(2, int(round((hi - lo) * per_decade)) + 1)
    return np.logspace(lo, hi, n) * scale


def run_exact(cfg, store, sweep, base_run, base_params, env, env_params, network):
    fams = {}
    for name in cfg.methods:
        method, div, state_only, family = METHODS[name]
        if method == "om":
            coefs, scale = cfg.coefs(family)
            fams[(div, state_only)] = exact_grid(coefs, scale, cfg.exact_coefs_per_decade)
    run = store.create(
        EXPERIMENT,
        {
            "experiment": _recorded(cfg),
            "method": "exact",
            "base_run": str(base_run.path),
            "grids": {f"{d}{'_state' if s else ''}": g.tolist() for (d, s), g in fams.items()},
        },
        run_id=f"{sweep}-exact",
        resume=cfg.resume,
        provenance_extra={"base_run": str(base_run.path)},
    )
    if run.is_done or not fams:
        run.mark_done()
        return run
    t0 = time.time()
    mdp, index = tomato_exact.reachable_tomato_mdp(env, env_params)
    obs = tomato_exact.tabular_observations(env, index)
    pi_ref = tomato_exact.network_policy(network, base_params, obs)
    curves = tomato_exact.exact_curves(
        mdp,
        pi_ref,
        {k: jnp.asarray(v, jnp.float32) for k, v in fams.items()},
        HORIZON,
        steps=cfg.exact_steps,
    )
    arrays = {}
    for (div, state_only), c in curves.items():
        tag = f"{div}{'_state' if state_only else ''}"
        for k, v in c.items():
            arrays[f"{tag}/{k}"] = np.asarray(v)[None]  # [1, L]: the store's leading seed axis
    run.write_metrics("metrics", arrays)
    run.write_json("summary", {"wall_s": time.time() - t0, "n_reachable_states": int(len(index))})
    run.mark_done()
    print(f"[{EXPERIMENT}] exact curves: {len(fams)} variants in {time.time() - t0:.0f}s")
    return run


def main(argv=None):
    cfg = cli(PRESETS, __doc__, args=argv)
    enable_compilation_cache()
    store = ResultsStore(cfg.results)
    base_run, base_params, base_summary = get_base(cfg, store)
    print(
        f"[{EXPERIMENT}] base policy exact true return {base_summary['exact_true_return']:.2f} "
        f"(proxy {base_summary['exact_proxy_return']:.2f})"
    )
    env, _ = make("tomato", level=4, reward_factor=cfg.reward_factor)
    env_params = env.default_params.replace(reward_factor=cfg.reward_factor)
    h = config_hash(_recorded(cfg))
    sweep = None
    if cfg.resume:
        pending = [r for r in store.runs(EXPERIMENT) if f"-{h}-" in r.run_id and not r.is_done]
        if pending:
            sweep = pending[-1].run_id.split(f"-{h}-")[0] + f"-{h}"
    sweep = sweep or f"{time.strftime('%Y%m%d-%H%M%S')}-{h}"
    runs = [
        run_method(cfg, name, store, sweep, base_run, base_params, base_summary, env, env_params)
        for name in cfg.methods
    ]
    if cfg.exact:
        network = make_train(base_setup(cfg)[0], env, None, env_params).network
        runs.append(run_exact(cfg, store, sweep, base_run, base_params, env, env_params, network))
    return runs


if __name__ == "__main__":
    main(sys.argv[1:])
