"""PBRS vs a misleading potential vs a non-potential "bicycle" bonus, on sparse-reward tasks.

    python -m experiments.pbrs --profile quick            # ~minutes on a 2-core CPU
    python -m experiments.pbrs --profile paper            # more steps (GPU or a long CPU run)
    python -m experiments.pbrs --profile quick --resume   # continue interrupted runs
    python -m experiments.pbrs --profile quick --brax     # + sparse Brax Hopper (long on a CPU)

Four shaping variants of one sparse true reward, each trained on ``seeds`` seeds (the variants
and seeds are one vmapped axis, and variant ``v`` reuses the seed keys of every other variant):

* ``none``: the sparse true reward only;
* ``pbrs_good``: + ``γ(1 − terminated)Φ(s') − Φ(s)`` with a helpful Φ (gridworld: the progress
  potential ``scale·(1 − d/D)``, d = Manhattan distance to the goal, D its maximum; MountainCar:
  mechanical energy, shifted so Φ ≈ 0 at the goal);
* ``pbrs_misleading``: the same PBRS with a Φ that points the wrong way (gridworld:
  ``scale·d/D``; MountainCar: ``−height``). Still potential-based, so the optimal policies are
  unchanged (Ng et al. 1999); only learning may be slower;
* ``bonus``: + ``c·1[progress(s') > progress(s)]`` (a step towards the goal / uphill) with no
  penalty for going back. Not potential-based: a "toward, back, toward, ..." loop earns ``c``
  every other step forever, which beats finishing under γ (Randløv & Alstrøm 1998's bicycle).

Tasks (one results directory each under ``results/pbrs/``, config key ``"task"``):

* ``grid_q``: tabular Q-learning on a 6x6 gridworld (``jaxrl.envs.gridworld.OPEN_6X6``);
  curve = the exact discounted true return ``J(greedy(Q))`` (noise-free).
* ``grid_ppo``: PPO on the same gridworld (one-hot observations); curves = the exact
  ``J(mode policy)`` and the evaluation return of ``true_reward``.
* ``mcar_ppo``: PPO on sparse MountainCar-v0: the learner's base reward is the channel
  ``sparse_reward`` = 1 on reaching the goal (terminated), 0 otherwise; curve = its evaluation
  return (success rate of the deterministic policy over fixed evaluation episodes).
* ``pitfall_q``: the terminal-potential pitfall (Grześ 2017). Q-learning on
  ``jaxrl.envs.gridworld.LAVA_DETOUR`` with the progress potential ``Φ = scale·(1 − d/D)``
  (largest at the goal), implemented correctly (Φ(terminal) = 0: ``potential_based``) and naively
  (``F = γΦ(s') − Φ(s)`` on every step, ignoring ``terminated``). The naive version adds a
  terminal bonus ``γΦ(goal)`` that favours short episodes and flips the optimum to the lava route.

* ``brax_ppo`` (``--brax``; on in the paper profile): PPO on sparse Brax Hopper
  (:mod:`experiments.pbrs.brax_task`): base reward = ``sparse_reward`` = m(x') − m(x) with
  m(x) = max(⌊x/d⌋, 0) (+1 per d metres of net forward progress of the torso); variants
  ``none``, ``pbrs_good`` (Φ = scale·x, the distance travelled) and ``bonus`` (c·1[x' > x]);
  curve = the sparse return of the deterministic policy (milestones reached in one episode).
  Not in the quick profile: on the shared 2-core CPU, 3 variants x 4 seeds x 131k steps took
  8 min 15 s wall (compilation included); ``--brax`` adds it, the paper profile has it on.

Each run also stores ``reference.json``: the exact optimum of every shaped MDP (value iteration
on the shaped ``[S, A, S']`` table built by the *same* transform through ``apply_to_table``) and
that policy's true return, so the figure can show where each variant must converge.

The shaped rewards and the exact reference are in ``shaping.py``; the two
pitfalls (``progress_bonus``, ``naive_potential``) are library transforms
(:mod:`jaxrl.shaping.baselines`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from experiments.pbrs.brax_task import BRAX_GAMMA, hopper_transform, make_sparse_hopper
from experiments.pbrs.schema import raw_schema, schema
from experiments.pbrs.shaping import (
    MCAR_GAMMA,
    exact_reference,
    grid_transform,
    mcar_transform,
    pitfall_transform,
    variant_params,
)
from jaxrl.agents import q_learning
from jaxrl.agents.ppo import make_train as make_ppo
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import RewardChannels, make
from jaxrl.envs.gridworld import LAVA_DETOUR, OPEN_6X6, gridworld
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.sweep import (
    SweepConfig,
    grid_keys,
    open_run,
    print_final,
    run_sweep,
    sweep_cli,
)
from jaxrl.mdp import expected_return, greedy_policy

EXPERIMENT = "pbrs"
TASKS = ("grid_q", "grid_ppo", "mcar_ppo", "pitfall_q")
VARIANTS = ("none", "pbrs_good", "pbrs_misleading", "bonus")
PITFALL_VARIANTS = ("none", "pbrs", "naive_pbrs")
#: shaping weights (good Φ, misleading Φ, bonus) of each variant: one vmappable params tuple.
WEIGHTS = {
    "none": (0, 0, 0),
    "pbrs_good": (1, 0, 0),
    "pbrs_misleading": (0, 1, 0),
    "bonus": (0, 0, 1),
}
PITFALL_WEIGHTS = {"none": (0, 0), "pbrs": (1, 0), "naive_pbrs": (0, 1)}
BRAX_TASKS = ("brax_ppo",)
BRAX_VARIANTS = ("none", "pbrs_good", "bonus")
#: shaping weights (PBRS Φ = scale·x, progress bonus) of each Brax variant
BRAX_WEIGHTS = {"none": (0, 0), "pbrs_good": (1, 0), "bonus": (0, 1)}
#: config fields that only the Brax task reads (left out of the other tasks' run records)
BRAX_FIELDS = (
    "brax",
    "brax_ppo_steps",
    "brax_episode_length",
    "brax_milestone",
    "brax_phi_scale",
    "brax_bonus",
)


@dataclasses.dataclass(frozen=True)
class PBRSConfig(SweepConfig):
    seeds: int = 10
    """independent training seeds per variant (all variants x seeds are one vmapped axis)"""
    tasks: tuple[str, ...] = TASKS
    """tasks to run, each into its own results directory"""
    grid_gamma: float = 0.95
    """discount of the gridworld MDPs (Q-learning and PPO learners use the same γ)"""
    grid_max_steps: int = 100
    """gridworld time limit (truncation)"""
    grid_phi_scale: float = 1.0
    """scale of the gridworld potentials: good Φ = scale·(1 − d/D), misleading scale·d/D"""
    grid_bonus: float = 0.2
    """c of the gridworld bicycle bonus (loops are optimal for c > ≈0.114 at γ = 0.95)"""
    q_steps: int = 40_000
    """Q-learning environment steps per seed"""
    q_evals: int = 80
    """evaluation points (exact J(greedy Q)) per Q-learning run"""
    q_alpha: float = 0.1
    q_epsilon: float = 0.1
    pitfall_phi_scale: float = 3.0
    """scale of the pitfall's progress potential Φ = scale·(1 − d/D) (flips for scale > ≈1.5)"""
    pitfall_steps: int = 200_000
    """Q-learning steps per seed on the pitfall gridworld"""
    grid_ppo_steps: int = 32_768
    """PPO environment steps per seed on the gridworld"""
    mcar_ppo_steps: int = 196_608
    """PPO environment steps per seed on sparse MountainCar"""
    mcar_energy_scale: float = 10.0
    """scale of the (good) energy potential on MountainCar"""
    mcar_height_scale: float = 1.0
    """scale of the (misleading) −height potential on MountainCar"""
    mcar_bonus: float = 0.05
    """c of the MountainCar uphill bonus (loops beat the goal for c/(2(1−γ)) > 1)"""
    ppo_evals: int = 16
    """evaluation points per PPO run"""
    checkpoints: int = 4
    """checkpoint (and progress) points per run; must divide the evaluation counts"""
    shard: bool = False
    """shard the (variant x seed) axis over all local devices"""
    brax: bool = False
    """also run ``brax_ppo`` (sparse Brax Hopper; slow on a CPU)"""
    brax_ppo_steps: int = 262_144
    """PPO environment steps per seed on sparse Brax Hopper"""
    brax_episode_length: int = 500
    """Brax Hopper time limit (truncation), also the evaluation horizon"""
    brax_milestone: float = 0.5
    """d: metres between the sparse reward's milestones (+1 per d metres of forward progress)"""
    brax_phi_scale: float = 10.0
    """Φ = scale·x of the Brax PBRS variant (x: torso position in metres)"""
    brax_bonus: float = 0.05
    """c of the Brax progress bonus c·1[x' > x]"""

    @property
    def all_tasks(self) -> tuple[str, ...]:
        """``tasks``, plus ``brax_ppo`` when ``brax`` is set."""
        extra = tuple(t for t in BRAX_TASKS if self.brax and t not in self.tasks)
        return (*self.tasks, *extra)

    def check(self) -> None:
        super().check()
        known = TASKS + BRAX_TASKS
        self.require(set(self.tasks) <= set(known), "tasks", f"must be a subset of {known}")
        self.check_positive("brax_ppo_steps", "brax_episode_length")
        for name in ("brax_milestone", "brax_phi_scale"):
            self.require(getattr(self, name) > 0, name, "must be > 0")
        self.require(self.brax_bonus >= 0, "brax_bonus", "must be >= 0")
        self.require(0 < self.grid_gamma < 1, "grid_gamma", "must be in (0, 1)")
        self.check_positive("checkpoints", "q_evals", "ppo_evals", "grid_max_steps")
        self.check_positive("q_steps", "pitfall_steps", "grid_ppo_steps", "mcar_ppo_steps")
        for name in ("q_alpha", "q_epsilon"):
            self.require(0 <= getattr(self, name) <= 1, name, "must be in [0, 1]")
        for name in ("q_evals", "ppo_evals"):
            self.require(
                getattr(self, name) % self.checkpoints == 0,
                name,
                "must be a multiple of checkpoints",
            )
        for name in ("q_steps", "pitfall_steps"):
            self.require(
                getattr(self, name) % self.q_evals == 0, name, "must be a multiple of q_evals"
            )


PRESETS = {
    "quick": PBRSConfig(),
    "paper": PBRSConfig(
        seeds=32,
        q_steps=100_000,
        q_evals=100,
        pitfall_steps=400_000,
        grid_ppo_steps=131_072,
        mcar_ppo_steps=1_048_576,
        ppo_evals=32,
        brax=True,
        brax_ppo_steps=2_097_152,
    ),
}


# ----------------------------------------------------------------------------- runners
def grouped(chunk, k: int):
    """A run_chunked chunk that runs ``k`` trainer chunks (metrics concatenated in time)."""

    def run(state, hp):
        state, m = jax.lax.scan(lambda s, _: chunk(s, hp), state, None, k)
        return state, {name: v.reshape(-1, *v.shape[2:]) for name, v in m.items()}

    return run


def _train(task, cfg: PBRSConfig, store, names, program, hp, evals: int, steps: int, extra):
    """Open the task's run and train all ``names`` x seeds (one vmapped program); ``program`` is
    ``(init, chunk)`` with ``evals`` chunks in all, ``cfg.checkpoints`` of them per checkpoint."""
    # the Brax fields are left out of the other tasks' records (their runs stay resumable)
    skip = ("brax",) if task in BRAX_TASKS else BRAX_FIELDS  # ``brax`` only picks tasks
    record = {"experiment": cfg.recorded("tasks", *skip), "task": task, "variants": list(names)}
    record.update(extra)
    label = f"{task}: {len(names)} variants x {cfg.seeds} seeds x {steps} steps"
    run = open_run(store, EXPERIMENT, record, cfg, label)
    init, chunk = program
    metrics = run_sweep(
        cfg,
        run,
        (init, grouped(chunk, evals // cfg.checkpoints)),
        grid_keys(0, cfg.seeds, len(names)),  # base seed 0 (no ``seed`` field)
        hp,
        num_chunks=cfg.checkpoints,
        postfix_metric="eval_return" if extra["agent"] == "ppo" else None,
        metrics_name="raw",
        schema=raw_schema(task),
    )
    return run, metrics


def _split(metrics: dict, names, seeds: int, keep) -> dict:
    """``[V·seeds, T]`` -> ``"<variant>/<metric>": [seeds, T]``."""
    out = {}
    for key in keep:
        v = np.asarray(metrics[key]).reshape(len(names), seeds, *metrics[key].shape[1:])
        for i, name in enumerate(names):
            out[f"{name}/{key}"] = v[i]
    return out


def run_q(task: str, cfg: PBRSConfig, store: ResultsStore):
    pitfall = task == "pitfall_q"
    grid = gridworld(LAVA_DETOUR if pitfall else OPEN_6X6, gamma=cfg.grid_gamma)
    if pitfall:
        transform = pitfall_transform(grid, cfg.grid_gamma, cfg.pitfall_phi_scale)
        names, weights, steps = PITFALL_VARIANTS, PITFALL_WEIGHTS, cfg.pitfall_steps
    else:
        transform = grid_transform(grid, cfg.grid_gamma, cfg.grid_phi_scale, cfg.grid_bonus)
        names, weights, steps = VARIANTS, WEIGHTS, cfg.q_steps
    static = q_learning.QLearningStatic(
        num_steps=steps, eval_every=steps // cfg.q_evals, max_episode_steps=cfg.grid_max_steps
    )
    trainer = q_learning.make_train(static, grid.mdp, transform)
    params = variant_params(weights, names, cfg.seeds, transform)
    hp = q_learning.QLearningHParams(alpha=cfg.q_alpha, epsilon=cfg.q_epsilon, transform=params)
    hp = trainer.check(hp).broadcast(len(names) * cfg.seeds)
    extra = {
        "layout": list(grid.layout),
        "static": dataclasses.asdict(static),
        "agent": "q_learning",
    }

    run, metrics = _train(
        task, cfg, store, names, (trainer.init, trainer.chunk), hp, cfg.q_evals, steps, extra
    )
    out = _split({"true_return": metrics["eval_greedy_return"]}, names, cfg.seeds, ["true_return"])
    out["env_steps"] = np.asarray(metrics["eval_env_steps"])[: cfg.seeds]
    return _finish(run, out, exact_reference(grid, transform, params, names), names, task)


def run_ppo(task: str, cfg: PBRSConfig, store: ResultsStore):
    names, weights = (BRAX_VARIANTS, BRAX_WEIGHTS) if task == "brax_ppo" else (VARIANTS, WEIGHTS)
    if task == "brax_ppo":
        grid = None
        env, env_params = make_sparse_hopper(cfg.brax_milestone, cfg.brax_episode_length)
        transform = hopper_transform(cfg.brax_phi_scale, cfg.brax_bonus)
        static = PPOStatic(
            num_envs=16,
            num_steps=64,
            total_timesteps=cfg.brax_ppo_steps,
            num_chunks=cfg.ppo_evals,
            num_eval_envs=4,
            eval_channel="sparse_reward",
            normalize_obs=True,
        )
        hp = PPOHParams(learning_rate=3e-4, gamma=BRAX_GAMMA, ent_coef=0.0)
    elif task == "grid_ppo":
        grid = gridworld(OPEN_6X6, gamma=cfg.grid_gamma)
        env, env_params = make("tabular", mdp=grid.mdp, max_steps=cfg.grid_max_steps)
        transform = grid_transform(grid, cfg.grid_gamma, cfg.grid_phi_scale, cfg.grid_bonus)
        static = PPOStatic(
            num_envs=4,
            num_steps=64,
            total_timesteps=cfg.grid_ppo_steps,
            num_chunks=cfg.ppo_evals,
            num_eval_envs=1,
            eval_steps=cfg.grid_max_steps,
        )
        hp = PPOHParams(learning_rate=2.5e-3, gamma=cfg.grid_gamma, ent_coef=0.01)
    else:
        grid = None
        env, env_params = make("MountainCar-v0")
        env = RewardChannels(
            env, {"sparse_reward": lambda o, r, info: jnp.asarray(info["terminated"], jnp.float32)}
        )
        transform = mcar_transform(cfg.mcar_energy_scale, cfg.mcar_height_scale, cfg.mcar_bonus)
        static = PPOStatic(
            num_envs=8,
            num_steps=128,
            total_timesteps=cfg.mcar_ppo_steps,
            num_chunks=cfg.ppo_evals,
            num_eval_envs=8,
            eval_channel="sparse_reward",
        )
        hp = PPOHParams(learning_rate=2.5e-3, gamma=MCAR_GAMMA, ent_coef=0.01)
    trainer = make_ppo(static, env, transform, env_params)
    params = variant_params(weights, names, cfg.seeds, transform)
    hp = trainer.check(hp._replace(transform=params)).broadcast(len(names) * cfg.seeds)
    extra = {
        "agent": "ppo",
        "static": dataclasses.asdict(static),
        "hparams": {
            k: np.asarray(v)[0].tolist() for k, v in hp._asdict().items() if k != "transform"
        },
        "layout": list(grid.layout) if grid else None,
    }

    def chunk(rs, h):
        rs, m = trainer.chunk(rs, h)
        if grid is not None:  # exact J of the mode policy (the deterministic evaluation policy)
            logits = rs.train_state.apply_fn(
                rs.train_state.params, jnp.eye(grid.n_states, dtype=jnp.float32)
            )[0]
            m["exact_return"] = expected_return(grid.mdp, greedy_policy(logits))[None]
        return rs, m

    steps = static.total_timesteps
    program = (trainer.init, chunk)
    run, metrics = _train(task, cfg, store, names, program, hp, cfg.ppo_evals, steps, extra)
    keep = ["eval_return"] + (["exact_return"] if grid is not None else [])
    out = _split(metrics, names, cfg.seeds, keep)
    out = {k.replace("exact_return", "true_return"): v for k, v in out.items()}
    if grid is None:
        out = {k.replace("eval_return", "true_return"): v for k, v in out.items()}
    out["env_steps"] = np.asarray(metrics["eval_env_steps"])[: cfg.seeds]
    ref = exact_reference(grid, transform, params, names) if grid is not None else {}
    return _finish(run, out, ref, names, task)


def _finish(run, out: dict, reference: dict, names, task: str):
    run.write_metrics("metrics", out, schema=schema(task, names))
    run.write_json("reference", reference)
    run.mark_done()
    for name in names:
        final = out[f"{name}/true_return"][:, -1]
        ref = reference.get("variants", {}).get(name, {}).get("shaped_optimum_true_return")
        ref_txt = "" if ref is None else f"; shaped optimum's true return {ref:.3f}"
        print_final(f"[{EXPERIMENT}] {task} {name:>16}", final, digits=3, suffix=ref_txt)
    return run


def main(argv=None):
    cfg, store = sweep_cli(PRESETS, __doc__, argv)
    runners = {"grid_q": run_q, "pitfall_q": run_q, "grid_ppo": run_ppo, "mcar_ppo": run_ppo}
    runners["brax_ppo"] = run_ppo
    return [runners[task](task, cfg, store) for task in cfg.all_tasks]
