"""ORPO on the tomato-watering gridworld (Laidlaw, Singhal & Dragan, ICLR'25; papers.md §1).

    python -m experiments.orpo_tomato --profile quick     # ≤ 10 min on a 2-core CPU
    python -m experiments.orpo_tomato --profile paper     # GPU-sized budget (paper PPO settings)
    python -m experiments.orpo_tomato --profile quick --resume

Three parts, each into the results store:

1. **Base (reference) policy** ``results/orpo_tomato_base/<run-id>/``: PPO on the *true* reward
   with ε = 0.1 random actions (papers.md §1.3: a short run, ~9k steps), saved with
   ``save_params`` (``policy.msgpack``). A finished base run with the same base config is reused
   (or name one with ``--base-run``); every ORPO run records which one it loaded.
2. **Sweep** ``results/orpo_tomato/<sweep>-<method>/``: one run directory per (method, divergence,
   state-only) combination. Each method is vmapped over ``[n_lambda × seeds]`` (λ = ``aux_coef``)
   and all methods train side by side in ONE jit per chunk (:mod:`experiments.orpo_tomato.grid`;
   checkpoints in the scratch run ``<sweep>-grid``, deleted when every method's run is written).
   The learner optimises the proxy reward (rf = 0.02, ε = 0). Methods: no regularisation, AD-KL,
   and OM with KL / χ² / √χ² on state-action and on state-only occupancies. λ = c · scale with
   papers.md §1.4's dimensionless grids and scales converted to rf = 0.02 (``*_scale`` fields).
   ``metrics.npz`` holds the per-update training metrics, the per-chunk deterministic evaluation,
   ``lam`` ``[N]`` and the headline numbers ``final_true_return`` / ``final_proxy_return``: the
   *exact* expected returns of the final stochastic policy, by forward propagation on the tabular
   MDP (no sampling noise; the same quantity as the exact curves).
3. **Exact curves** ``results/orpo_tomato/<sweep>-exact/``: the λ-optimal tabular policy of
   ``J(π, R̃) − λ D(μ_π ‖ μ_ref)`` per divergence and variant
   (:mod:`jaxrl.envs.tomato_exact`), with the base network as the tabular ``π_ref``.

``python -m paper_figures.orpo_tomato`` draws true and proxy return against λ from the newest sweep.
The base policy (part 1) is in ``base.py``, the configuration in ``config.py``.
"""

from __future__ import annotations

import dataclasses
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.orpo_tomato.base import (
    EXPERIMENT,
    HORIZON,
    base_setup,
    exact_returns,
    get_base,
    ppo_hparams,
    ppo_static,
    tomato_env,
)
from experiments.orpo_tomato.config import METHODS, PRESETS, ORPOTomato
from experiments.orpo_tomato.grid import SEP, grid_program, split_metrics
from experiments.orpo_tomato.schema import curve_key, exact_schema, family_tag, schema
from jaxrl.agents.orpo import ORPOStatic, make_orpo
from jaxrl.agents.ppo import make_train
from jaxrl.config import config_hash
from jaxrl.envs import tomato_exact
from jaxrl.experiment.runner import run_chunked
from jaxrl.experiment.sweep import grid_keys, open_run, per_seed, sweep_cli


# ----------------------------------------------------------------------------- sweep
def _sweep_run(sweep: str, method: str, base_run) -> dict:
    """``ResultsStore.create`` arguments of one run of a sweep: its id and the base run used."""
    return {"run_id": f"{sweep}-{method}", "provenance_extra": {"base_run": str(base_run.path)}}


def orpo_setup(cfg: ORPOTomato, name: str):
    method, divergence, state_only, family = METHODS[name]
    static = ppo_static(cfg, base=False)
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


def prepare_method(cfg, name, store, sweep, base_run, base_params, env, env_params) -> dict:
    """Open the method's run directory and build its trainer, keys ``[L·n]`` and hparams."""
    static, orpo, coefs, lams = orpo_setup(cfg, name)
    trainer = make_orpo(static, orpo, env, base_params, None, env_params)
    L, n = len(lams), cfg.seeds
    base_hp = ppo_hparams(cfg, cfg.ent_coef)
    trainer.check(base_hp)
    lam_flat = per_seed(lams, n).astype(np.float32)  # [L·n]: λ-major, seeds inner
    hp = base_hp._replace(aux_coef=jnp.asarray(lam_flat)).broadcast(L * n)
    keys = grid_keys(cfg.seed, n, L)  # common random numbers: seed i has one key at every λ
    run_config = {
        "experiment": cfg.recorded(),
        "method": name,
        "orpo": dataclasses.asdict(orpo),
        "static": dataclasses.asdict(static),
        "coefs": list(coefs),
        "lams": lams.tolist(),
        "base_run": str(base_run.path),
        "base_run_id": base_run.run_id,
    }
    label = f"{name}: {L} λ × {n} seeds × {static.total_timesteps} steps"
    run = open_run(store, EXPERIMENT, run_config, cfg, label, **_sweep_run(sweep, name, base_run))
    return {"run": run, "trainer": trainer, "keys": keys, "hp": hp, "lams": lams, "lam": lam_flat}


def run_grid(cfg, store, sweep, base_run, base_summary, env, env_params, setups, final_fn):
    """Train every unfinished method of ``setups`` (name -> :func:`prepare_method`) as one
    jitted program per chunk (:func:`~experiments.orpo_tomato.grid.grid_program`), with its
    checkpoints in the scratch run ``<sweep>-grid`` (deleted once every method's run is
    written); then write each method's ``metrics.npz`` and ``summary.json`` and mark it done."""
    todo = {m: s for m, s in setups.items() if not s["run"].is_done}
    if not todo:
        return
    grid_config = {"experiment": cfg.recorded(), "methods": list(todo), "base_run": base_run.run_id}
    grid = store.create(EXPERIMENT, grid_config, f"{sweep}-grid", resume=cfg.resuming)
    init, chunk = grid_program({m: s["trainer"] for m, s in todo.items()})
    t0 = time.time()
    metrics, state = run_chunked(
        init,
        chunk,
        {m: s["keys"] for m, s in todo.items()},
        {m: s["hp"] for m, s in todo.items()},
        num_chunks=cfg.num_chunks,
        run=grid,
        resume=cfg.resuming,
        shard=cfg.shard,
        tensorboard=cfg.tensorboard,
        postfix_metric=f"{next(iter(todo))}{SEP}eval_true_reward",
        return_state=True,
        metrics_name="grid_metrics",
    )
    wall = time.time() - t0
    for name, s in todo.items():
        final = final_fn(state[name].current.train_state.params)
        m = {
            **split_metrics(metrics, name),
            "lam": s["lam"],
            "final_true_return": np.asarray(final["true_reward"]),
            "final_proxy_return": np.asarray(final["proxy_reward"]),
        }
        run = s["run"]
        run.write_metrics("metrics", m, schema=schema(name))
        L = len(s["lams"])
        tr = m["final_true_return"].reshape(L, -1).mean(1)
        pr = m["final_proxy_return"].reshape(L, -1).mean(1)
        run.write_json(
            "summary",
            {
                "lam": s["lams"],
                "mean_true_return": tr,
                "mean_proxy_return": pr,
                "wall_s": wall,
                "wall_note": f"the whole grid ({', '.join(todo)}), trained together",
                "base_true_return": base_summary["exact_true_return"],
            },
        )
        run.mark_done()
        print(f"[{EXPERIMENT}] {name}:")
        for lam, t, p in zip(s["lams"], tr, pr, strict=True):
            print(f"    λ={lam:<9.4g} true {t:6.2f}  proxy {p:6.2f}")
    if (grid.path / "tb").is_dir():  # --tensorboard: keep the events beside the first method
        shutil.move(grid.path / "tb", next(iter(todo.values()))["run"].path / "tb")
    shutil.rmtree(grid.path)  # scratch: its checkpoints are no longer needed
    print(f"[{EXPERIMENT}] {len(todo)} methods trained together in {wall:.0f}s")


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
    run_config = {
        "experiment": cfg.recorded(),
        "method": "exact",
        "base_run": str(base_run.path),
        "grids": {f"{d}{'_state' if s else ''}": g.tolist() for (d, s), g in fams.items()},
    }
    run = open_run(store, EXPERIMENT, run_config, cfg, **_sweep_run(sweep, "exact", base_run))
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
        horizon=HORIZON,
        steps=cfg.exact_steps,
    )
    arrays = {}
    for (div, state_only), c in curves.items():
        tag = family_tag(div, state_only)
        for k, v in c.items():
            arrays[curve_key(tag, k)] = np.asarray(v)[None]  # [1, L]: the store's leading axis
    # sorted: the order of config.json's "grids", from which the figure rebuilds the schema
    tags = sorted(family_tag(*f) for f in curves)
    run.write_metrics("metrics", arrays, schema=exact_schema(tags))
    run.write_json("summary", {"wall_s": time.time() - t0, "n_reachable_states": int(len(index))})
    run.mark_done()
    print(f"[{EXPERIMENT}] exact curves: {len(fams)} variants in {time.time() - t0:.0f}s")
    return run


def main(argv=None):
    cfg, store = sweep_cli(PRESETS, __doc__, argv)
    base_run, base_params, base_summary = get_base(cfg, store)
    print(
        f"[{EXPERIMENT}] base policy exact true return {base_summary['exact_true_return']:.2f} "
        f"(proxy {base_summary['exact_proxy_return']:.2f})"
    )
    env, env_params = tomato_env(cfg.reward_factor)
    h = config_hash(cfg.recorded())
    sweep = None
    if cfg.resuming:  # the newest unfinished sweep of this config, else the newest finished one
        mine = [r for r in store.runs(EXPERIMENT) if f"-{h}-" in r.run_id]
        pending = [r for r in mine if not r.is_done] or mine
        if pending:
            sweep = pending[-1].run_id.split(f"-{h}-")[0] + f"-{h}"
    sweep = sweep or f"{time.strftime('%Y%m%d-%H%M%S')}-{h}"
    setups = {
        name: prepare_method(cfg, name, store, sweep, base_run, base_params, env, env_params)
        for name in cfg.methods
    }
    if setups:
        network = next(iter(setups.values()))["trainer"].ppo.network
        one, _, _ = exact_returns(env, env_params, network, base_params)
        final_fn = jax.jit(jax.vmap(one))  # one compile for every method: the same network
        run_grid(cfg, store, sweep, base_run, base_summary, env, env_params, setups, final_fn)
    runs = [s["run"] for s in setups.values()]
    if cfg.exact:
        network = make_train(base_setup(cfg)[0], env, None, env_params).network
        runs.append(run_exact(cfg, store, sweep, base_run, base_params, env, env_params, network))
    return runs
