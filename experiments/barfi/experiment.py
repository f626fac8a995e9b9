"""BARFI (Gupta et al. 2023): learning to blend a primary and an auxiliary reward, vs baselines.

    python -m experiments.barfi --profile quick            # ~minutes on a 2-core CPU
    python -m experiments.barfi --profile paper            # GPU-sized budget (+ MountainCar,
                                                           #  HalfCheetah), 40 seeds
    python -m experiments.barfi --profile quick --resume   # continue interrupted runs

For every environment × aux kind ("good" = helpful heuristic, "bad" = misaligned; papers.md §2.1)
two runs are written under ``results/barfi/`` (config keys ``env``, ``aux``, ``family``):

* ``family = "baselines"``: REINFORCE (``jaxrl.agents.reinforce``) on
  ``primary`` (r_p only), ``naive`` (r_p + r_aux), ``pbrs`` (the BARFI code's potential baseline:
  Φ_t = r_aux,t, "returns minus aux") and ``pbrs_state`` (Φ(s_{t+1}) = r_aux,t, a state
  potential): one vmapped program over methods × seeds;
* ``family = "barfi"``: BARFI (``jaxrl.bilevel.barfi``) with the first-order hypergradient
  (``barfi_fo``, K = 0) and the Neumann series (``barfi_neumann``, K = 5): one vmapped program.

Metrics have a leading axis of ``len(methods) × seeds`` (method-major; ``config["methods"]``):
``primary_return``/``aux_return``/``length`` per episode, and for BARFI per outer step
``gamma_phi``, ``phi_weight``, ``phi_bias``, ``hypergrad_norm``. Method ``m`` reuses the seed
keys of every other method. BARFI runs also store ``timing.json``: seconds per outer step for the
exact (dense IFT), Neumann (K = 5) and first-order hypergradients on one seed.
``python -m paper_figures.barfi`` draws the figures.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.envs.barfi_envs  # noqa: F401  (registers the BARFI envs)
from experiments.barfi.schema import schema
from jaxrl.agents import reinforce as rf
from jaxrl.analysis.stats import bootstrap_ci
from jaxrl.bilevel import barfi
from jaxrl.envs import make
from jaxrl.experiment.sweep import SweepConfig, grid_keys, open_run, per_seed, run_sweep, sweep_cli
from jaxrl.shaping import aux_shaping

EXPERIMENT = "barfi"
BASELINES = ("primary", "naive", "pbrs", "pbrs_state")
BARFIS = ("barfi_fo", "barfi_neumann")
METHODS = BASELINES + BARFIS
#: (aux_coef, pbrs_coef, pbrs_arrival_coef) of each baseline
BASELINE_COEFS = {
    "primary": (0.0, 0.0, 0.0),
    "naive": (1.0, 0.0, 0.0),
    "pbrs": (0.0, 1.0, 0.0),
    "pbrs_state": (0.0, 0.0, 1.0),
}
ENVS = ("gridworld", "cartpole", "mountaincar", "halfcheetah")
ENV_IDS = {
    "gridworld": "barfi_gridworld",
    "cartpole": "cartpole_aux",
    "mountaincar": "mountaincar_sparse_aux",
    "halfcheetah": "halfcheetah_aux",
}


@dataclasses.dataclass(frozen=True)
class BarfiExperiment(SweepConfig):
    seeds: int = 10
    """independent seeds per method"""
    seed: int = 0
    """base PRNG seed"""
    envs: tuple[str, ...] = ("gridworld", "cartpole")
    """environments (gridworld, cartpole, mountaincar, halfcheetah)"""
    auxes: tuple[str, ...] = ("good", "bad")
    """aux reward kinds"""
    gridworld_episodes: int = 300
    cartpole_episodes: int = 300
    mountaincar_episodes: int = 500
    halfcheetah_episodes: int = 9990
    num_chunks: int = 10
    """checkpoints per run (divides episodes / delta)"""
    neumann_k: int = 5
    """Neumann terms of barfi_neumann"""
    timing: bool = True
    """measure seconds per outer step for ift / neumann / first-order"""

    def check(self) -> None:
        super().check()
        self.require(set(self.envs) <= set(ENVS), "envs", f"must be a subset of {ENVS}")
        self.require(set(self.auxes) <= {"good", "bad"}, "auxes", "good and/or bad")
        self.check_positive("num_chunks", "neumann_k", *(f"{e}_episodes" for e in ENVS))

    def episodes(self, env: str) -> int:
        return getattr(self, f"{env}_episodes")


PRESETS = {
    "quick": BarfiExperiment(),
    "paper": BarfiExperiment(
        seeds=40,
        envs=ENVS,
        gridworld_episodes=1980,
        cartpole_episodes=990,
        mountaincar_episodes=480,
        halfcheetah_episodes=9990,
        num_chunks=10,
    ),
}


def setup(env: str, aux: str, cfg: BarfiExperiment):
    """``(env, env_params, features, n_features, reinforce static+hp, barfi static+hp)``."""
    e, p = make(ENV_IDS[env], aux=aux)
    E, chunks = cfg.episodes(env), cfg.num_chunks
    if env == "gridworld":  # papers.md §2.3: RMSprop, γ 0.99, buffer 1000, δ 3, α_N 5e-4
        f, n = rf.fourier_basis([0.0, 0.0], [1.0, 1.0], 3)  # 16 features (BARFI: 16-d basis)
        rs = rf.ReinforceStatic(episodes=E, num_chunks=chunks)
        rh = rf.ReinforceHParams(actor_lr=1e-2, entropy_coef=0.0)
        bs = barfi.BarfiStatic(episodes=E, num_chunks=chunks, buffer_size=100)
        # on-policy inner loop (= naive REINFORCE while φ is frozen); light sweep (8 seeds, 300
        # episodes, reward_l2 {1, 4} x reward_lr {.03, .1} x K {0, 5}): reward_l2 = 4, lr .03 was
        # best on both aux kinds (it pulls φ towards the primary reward when the signal is weak)
        bh = barfi.BarfiHParams(
            actor_lr=1e-2, reward_lr=3e-2, gamma_lr=3e-2, gamma_l2=0.0, reward_l2=4.0
        )
    elif env == "cartpole":  # Fourier basis (independent, order 3: 13 features)
        f, n = rf.fourier_basis([-2.4, -3.0, -0.21, -3.5], [2.4, 3.0, 0.21, 3.5], 3, False)
        rs = rf.ReinforceStatic(episodes=E, num_chunks=chunks)
        rh = rf.ReinforceHParams(actor_lr=1e-2)
        bs = barfi.BarfiStatic(episodes=E, num_chunks=chunks, buffer_size=50)
        bh = barfi.BarfiHParams(actor_lr=1e-2, reward_lr=3e-2, gamma_lr=3e-2)
    elif env == "mountaincar":  # papers.md: actor_lr 1/16, reward_lr 1/64, buffer 50
        f, n = rf.fourier_basis([-1.2, -0.07], [0.6, 0.07], 3)
        rs = rf.ReinforceStatic(episodes=E, num_chunks=chunks)
        rh = rf.ReinforceHParams(actor_lr=0.0625 / 4)
        bs = barfi.BarfiStatic(episodes=E, num_chunks=chunks, buffer_size=50)
        bh = barfi.BarfiHParams(actor_lr=0.0625 / 4, reward_lr=1 / 64, gamma_lr=1 / 64)
    else:  # halfcheetah (GPU profile): Adam in the paper, RMSprop here; gauss_std 0.1
        f = rf.bias_and_raw(10.0)
        n = 1 + int(e.observation_space(p).shape[0])
        rs = rf.ReinforceStatic(episodes=E, num_chunks=chunks)
        rh = rf.ReinforceHParams(actor_lr=1e-4, gauss_std=0.1)
        bs = barfi.BarfiStatic(episodes=E, num_chunks=chunks, buffer_size=50, hess_batch=5)
        bh = barfi.BarfiHParams(actor_lr=1e-4, reward_lr=2.5e-3, gamma_lr=2.5e-3, reward_l2=1.0)
    return e, p, f, n, rs, rh, bs, bh


def _summary(metrics, methods, seeds, frac=0.1) -> dict:
    """IQM and 95% CI over seeds of each method's mean primary return over the last ``frac``."""
    r = np.asarray(metrics["primary_return"])
    last = max(1, int(round(frac * r.shape[1])))
    out = {}
    for i, m in enumerate(methods):
        scores = r[i * seeds : (i + 1) * seeds, -last:].mean(1)
        point, lo, hi = bootstrap_ci(scores, "iqm")
        out[m] = {"iqm": float(point), "lo": float(lo), "hi": float(hi)}
    return out


def run_family(env, aux, family, cfg, store):
    e, p, f, n, rs, rh, bs, bh = setup(env, aux, cfg)
    S = cfg.seeds
    if family == "baselines":
        methods = BASELINES
        coefs = per_seed([BASELINE_COEFS[m] for m in methods], S, np.float32)
        hp = rh._replace(transform=(coefs[:, 0], coefs[:, 1], coefs[:, 2]))
        hp = hp.broadcast(len(methods) * S)
        trainer = rf.make_train(rs, e, f, n, p, transform=aux_shaping())
        static = rs
    else:
        methods = BARFIS
        ks = per_seed([0, cfg.neumann_k], S, np.int32)
        hp = bh._replace(neumann_K=ks).broadcast(len(methods) * S)
        trainer = barfi.make_train(bs, e, f, n, p)
        static = bs
    run_config = {
        "experiment": cfg.recorded(),
        "env": env,
        "env_id": ENV_IDS[env],
        "aux": aux,
        "family": family,
        "methods": list(methods),
        "seeds": S,
        "static": dataclasses.asdict(static),
        "hparams": jax.tree.map(lambda x: np.asarray(x)[::S].tolist(), hp._asdict()),
    }
    label = f"{env}/{aux}/{family}: {len(methods)} methods x {S} seeds"
    run = open_run(store, EXPERIMENT, run_config, cfg, label)
    keys = grid_keys(cfg.seed, S, len(methods))
    t0 = time.time()
    metrics = run_sweep(
        cfg, run, trainer, keys, hp, postfix_metric="primary_return", schema=schema(family)
    )
    summary = _summary(metrics, methods, S)
    run.write_json("summary", {"wall_s": time.time() - t0, "final_primary_return": summary})
    if family == "barfi" and cfg.timing and env in ("gridworld", "cartpole"):
        run.write_json("timing", time_outer_steps(env, aux, cfg))
    run.mark_done()
    for m, s in summary.items():
        print(f"  {m:>14}: final primary return IQM {s['iqm']:.1f} [{s['lo']:.1f}, {s['hi']:.1f}]")
    return run


def time_outer_steps(env, aux, cfg, reps: int = 20) -> dict:
    """Seconds per BARFI outer step (one seed, jitted) for ift / neumann (K) / first order."""
    e, p, f, n, rs, rh, bs, bh = setup(env, aux, cfg)
    out = {}
    for name, kind, K in (
        ("ift", "ift", 0),
        ("neumann", "neumann", cfg.neumann_k),
        ("first_order", "neumann", 0),
    ):
        tr = barfi.make_train(dataclasses.replace(bs, hypergrad=kind), e, f, n, p)
        hp = bh._replace(neumann_K=jnp.int32(K), transform=tr.transform.default_params)
        theta = tr.policy.init(jax.random.key(0))
        keys = jax.random.split(jax.random.key(1), bs.delta + bs.hess_batch)
        eps = jax.vmap(lambda k, tr=tr, th=theta: tr.collect(th, k, 0.1))(keys)
        new = jax.tree.map(lambda x: x[: bs.delta], eps)
        old = jax.tree.map(lambda x: x[bs.delta :], eps)
        step = jax.jit(lambda t, a, b, tr=tr, hp=hp: tr.outer_step(t, a, b, hp)[0])
        jax.block_until_ready(step(theta, new, old))
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            jax.block_until_ready(step(theta, new, old))
            times.append(time.perf_counter() - t0)
        out[name] = float(np.median(times))  # median: robust to a shared, busy CPU
    n_theta = sum(x.size for x in jax.tree.leaves(theta))
    out["n_theta"] = int(n_theta)
    out["hess_batch"] = bs.hess_batch
    print(
        f"  outer step seconds ({env}, |θ| = {n_theta}): "
        + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in out.items() if isinstance(v, float))
    )
    return out


def main(argv=None):
    cfg, store = sweep_cli(PRESETS, __doc__, argv)
    runs = []
    for env in cfg.envs:
        for aux in cfg.auxes:
            for family in ("baselines", "barfi"):
                runs.append(run_family(env, aux, family, cfg, store))
    return runs
