"""PBRS vs a misleading potential vs a non-potential "bicycle" bonus, on sparse-reward tasks.

    python experiments/pbrs.py --profile quick            # ~minutes on a 2-core CPU
    python experiments/pbrs.py --profile paper            # more steps (GPU or a long CPU run)
    python experiments/pbrs.py --profile quick --resume   # continue interrupted runs

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

Each run also stores ``reference.json``: the exact optimum of every shaped MDP (value iteration
on the shaped ``[S, A, S']`` table built by the *same* transform through ``apply_to_table``) and
that policy's true return, so the figure can show where each variant must converge.
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents import q_learning
from jaxrl.agents.ppo import make_train as make_ppo
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import RewardChannels, make
from jaxrl.envs.gridworld import LAVA_DETOUR, OPEN_6X6, GridWorld, gridworld
from jaxrl.experiment import Config, ResultsStore, cli, enable_compilation_cache, run_chunked
from jaxrl.mdp import expected_return, greedy_policy, value_iteration
from jaxrl.shaping import (
    RewardTransform,
    Transition,
    apply_to_table,
    chain,
    from_channel,
    mountain_car_energy,
    mountain_car_height,
    potential_based,
    potential_from_table,
)

EXPERIMENT = "pbrs"
TASKS = ("grid_q", "grid_ppo", "mcar_ppo", "pitfall_q")
VARIANTS = ("none", "pbrs_good", "pbrs_misleading", "bonus")
PITFALL_VARIANTS = ("none", "pbrs", "naive_pbrs")
MCAR_GAMMA = 0.99
#: shaping weights (good Φ, misleading Φ, bonus) of each variant: one vmappable params tuple.
WEIGHTS = {
    "none": (0, 0, 0),
    "pbrs_good": (1, 0, 0),
    "pbrs_misleading": (0, 1, 0),
    "bonus": (0, 0, 1),
}
PITFALL_WEIGHTS = {"none": (0, 0), "pbrs": (1, 0), "naive_pbrs": (0, 1)}


@dataclasses.dataclass(frozen=True)
class PBRSConfig(Config):
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
    results: str = "results"
    """results root directory"""
    resume: bool = False
    """continue the newest unfinished run with the same config from its last checkpoint"""
    shard: bool = False
    """shard the (variant x seed) axis over all local devices"""

    def check(self) -> None:
        self.require(self.seeds >= 1, "seeds", "must be positive")
        self.require(set(self.tasks) <= set(TASKS), "tasks", f"must be a subset of {TASKS}")
        self.require(0 < self.grid_gamma < 1, "grid_gamma", "must be in (0, 1)")
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
    ),
}


# ----------------------------------------------------------------------------- transforms
def progress_bonus(progress_fn, coefficient: float = 1.0) -> RewardTransform:
    """The non-potential "bicycle" bonus ``r + c·1[progress(s') > progress(s)]``.

    Pays for every step that makes progress (closer to the goal, higher up the hill) and charges
    nothing for undoing it, so it is not potential-based: going back and forth earns ``c`` every
    other step. ``progress_fn(obs [*B, ...]) -> [*B]``; ``c`` is the (vmappable) params.
    """

    def apply(params, state, tr: Transition):
        gain = progress_fn(tr.next_obs) > progress_fn(tr.obs)
        return tr.reward + params * gain.astype(jnp.result_type(tr.reward, float)), state

    return RewardTransform(lambda p: (), apply, jnp.asarray(coefficient))


def naive_potential(phi_fn, gamma: float, coefficient: float = 1.0) -> RewardTransform:
    """The *buggy* PBRS ``r + c·(γΦ(s') − Φ(s))`` that ignores ``terminated`` (Φ(terminal) ≠ 0).

    Its return telescopes to ``G − Φ(s₀) + γ^N Φ(s_N)`` on an episode that terminates in s_N
    (Grześ 2017), so a positive Φ at the goal pays a bonus that shrinks with episode length.
    """

    def apply(params, state, tr: Transition):
        F = gamma * phi_fn(tr.next_obs) - phi_fn(tr.obs)
        return tr.reward + params * F, state

    return RewardTransform(lambda p: (), apply, jnp.asarray(coefficient), gamma)


def progress_potential(grid: GridWorld, scale: float):
    """``Φ(s) = scale·(1 − d(s)/D)`` ∈ [0, scale]: 0 at the farthest cell, ``scale`` at the goal
    (d = Manhattan distance to the goal, D its maximum). Returns ``(phi_fn, values [S])``."""
    values = jnp.asarray(scale * (1.0 - grid.distance / grid.max_distance), jnp.float32)
    return potential_from_table(values), values


def grid_transform(grid: GridWorld, gamma: float, scale: float, c: float) -> RewardTransform:
    """chain(PBRS good Φ, PBRS misleading Φ, bicycle bonus); params select the variant.

    Good: the progress potential ``scale·(1 − d/D)``; misleading: ``scale·d/D`` (its mirror
    image, largest far from the goal); bonus: ``c·1[d(s') < d(s)]``.
    """
    good, _ = progress_potential(grid, scale)
    misleading = lambda o: scale - good(o)
    dist = potential_from_table(jnp.asarray(grid.distance, jnp.float32))
    return chain(
        potential_based(good, gamma=gamma),
        potential_based(misleading, gamma=gamma),
        progress_bonus(lambda o: -dist(o), c),
    )


def pitfall_transform(grid: GridWorld, gamma: float, scale: float) -> RewardTransform:
    """chain(correct PBRS, naive PBRS) of the progress potential ``scale·(1 − d/D)``."""
    phi, _ = progress_potential(grid, scale)
    return chain(potential_based(phi, gamma=gamma), naive_potential(phi, gamma))


def mcar_transform(cfg: PBRSConfig) -> RewardTransform:
    """chain(sparse reward, PBRS energy, PBRS −height, uphill bonus) for MountainCar-v0."""
    energy = mountain_car_energy(cfg.mcar_energy_scale)
    e_goal = float(energy(jnp.array([0.5, 0.0])))  # Φ ≈ 0 at the goal: no big step at the end
    height = mountain_car_height(1.0)
    return chain(
        from_channel("sparse_reward"),
        potential_based(lambda o: energy(o) - e_goal, gamma=MCAR_GAMMA),
        potential_based(lambda o: -cfg.mcar_height_scale * height(o), gamma=MCAR_GAMMA),
        progress_bonus(height, cfg.mcar_bonus),
    )


def variant_params(weights: dict, names, seeds: int, transform: RewardTransform):
    """The chain's params with a leading ``[V·seeds]`` axis (variant-major): each shaping
    transform's default coefficient times the variant's weight; ``()`` entries are kept."""
    w = np.repeat(np.array([weights[v] for v in names], np.float32), seeds, axis=0)
    out, i = [], 0
    for default in transform.default_params:
        if isinstance(default, tuple) and not default:
            out.append(())
            continue
        out.append(jnp.asarray(w[:, i] * np.float32(default)))
        i += 1
    if i != w.shape[1]:
        raise ValueError(f"{w.shape[1]} weights per variant for {i} shaping transforms")
    return tuple(out)


def seed_keys(seeds: int, n_variants: int, seed: int = 0):
    """The same ``seeds`` keys for every variant (common random numbers), variant-major."""
    keys = jax.random.split(jax.random.key(seed), seeds)
    return keys[jnp.tile(jnp.arange(seeds), n_variants)]


# ----------------------------------------------------------------------------- exact reference
def exact_reference(grid: GridWorld, transform: RewardTransform, params, names) -> dict:
    """Per variant: the true return of the optimal policy of the shaped MDP (value iteration on
    the table the transform itself produces) and its greedy policy as arrows."""
    with jax.enable_x64(True):
        mdp = jax.tree.map(
            lambda x: (
                jnp.asarray(x, jnp.float64)
                if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
                else jnp.asarray(x)
            ),
            grid.mdp,
        )
        _, q_true = value_iteration(mdp)
        j_star = float(expected_return(mdp, greedy_policy(q_true)))
        out = {"optimal_true_return": j_star, "variants": {}}
        n = len(names)
        seeds = len(jax.tree.leaves(params)[0]) // n
        for i, name in enumerate(names):
            p = jax.tree.map(lambda x, i=i: jnp.asarray(x)[i * seeds], params)
            R = apply_to_table(transform, mdp.R, mdp.gamma, mdp.terminal_mask, params=p)
            _, q = value_iteration(mdp.replace(R=jnp.asarray(R, jnp.float64)))
            pi = greedy_policy(q)
            out["variants"][name] = {
                "shaped_optimum_true_return": float(expected_return(mdp, pi)),
                "policy": grid.render_policy(pi),
            }
    return out


# ----------------------------------------------------------------------------- runners
def grouped(chunk, k: int):
    """A run_chunked chunk that runs ``k`` trainer chunks (metrics concatenated in time)."""

    def run(state, hp):
        state, m = jax.lax.scan(lambda s, _: chunk(s, hp), state, None, k)
        return state, {name: v.reshape(-1, *v.shape[2:]) for name, v in m.items()}

    return run


def _record(cfg: PBRSConfig, task: str, extra: dict) -> dict:
    recorded = {
        k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("resume", "results", "tasks")
    }
    return {"experiment": recorded, "task": task, **extra}


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
    n = len(names) * cfg.seeds
    hp = q_learning.QLearningHParams(alpha=cfg.q_alpha, epsilon=cfg.q_epsilon, transform=params)
    hp = trainer.check(hp).broadcast(n)
    run = store.create(
        EXPERIMENT,
        _record(
            cfg,
            task,
            {
                "variants": list(names),
                "layout": list(grid.layout),
                "static": dataclasses.asdict(static),
                "agent": "q_learning",
            },
        ),
        resume=cfg.resume,
    )

    def chunk(st, h):
        st, m = trainer.chunk(st, h)
        return st, {k: jnp.asarray(v)[None] for k, v in m.items()}

    init = jax.jit(jax.vmap(lambda k, h: trainer.init(k, h)))
    step = jax.jit(jax.vmap(grouped(chunk, cfg.q_evals // cfg.checkpoints)))
    print(
        f"[{EXPERIMENT}] {task}: {len(names)} variants x {cfg.seeds} seeds x {steps} steps "
        f"-> {run.path}"
    )
    metrics = run_chunked(
        init,
        step,
        seed_keys(cfg.seeds, len(names)),
        hp,
        num_chunks=cfg.checkpoints,
        run=run,
        resume=cfg.resume,
        shard=cfg.shard,
        postfix_metric=None,
        metrics_name="raw",
    )
    # q_learning's metric names (they were renamed once while this was written; accept both)
    greedy, steps_key = "eval_greedy_return", "eval_env_steps"
    out = _split({"true_return": metrics[greedy]}, names, cfg.seeds, ["true_return"])
    out["env_steps"] = np.asarray(metrics[steps_key])[: cfg.seeds]
    return _finish(run, out, exact_reference(grid, transform, params, names), names, task)


def run_ppo(task: str, cfg: PBRSConfig, store: ResultsStore):
    names = VARIANTS
    if task == "grid_ppo":
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
        transform = mcar_transform(cfg)
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
    params = variant_params(WEIGHTS, names, cfg.seeds, transform)
    n = len(names) * cfg.seeds
    hp = trainer.check(hp._replace(transform=params)).broadcast(n)
    run = store.create(
        EXPERIMENT,
        _record(
            cfg,
            task,
            {
                "variants": list(names),
                "agent": "ppo",
                "static": dataclasses.asdict(static),
                "hparams": {
                    k: np.asarray(v)[0].tolist()
                    for k, v in hp._asdict().items()
                    if k != "transform"
                },
                "layout": list(grid.layout) if grid else None,
            },
        ),
        resume=cfg.resume,
    )

    def chunk(rs, h):
        rs, m = trainer.chunk(rs, h)
        if grid is not None:  # exact J of the mode policy (the deterministic evaluation policy)
            logits = rs.train_state.apply_fn(
                rs.train_state.params, jnp.eye(grid.n_states, dtype=jnp.float32)
            )[0]
            m["exact_return"] = expected_return(grid.mdp, greedy_policy(logits))[None]
        return rs, m

    init = jax.jit(jax.vmap(trainer.init))
    step = jax.jit(jax.vmap(grouped(chunk, cfg.ppo_evals // cfg.checkpoints)))
    print(
        f"[{EXPERIMENT}] {task}: {len(names)} variants x {cfg.seeds} seeds x "
        f"{static.total_timesteps} steps -> {run.path}"
    )
    metrics = run_chunked(
        init,
        step,
        seed_keys(cfg.seeds, len(names)),
        hp,
        num_chunks=cfg.checkpoints,
        run=run,
        resume=cfg.resume,
        shard=cfg.shard,
        postfix_metric="eval_return",
        metrics_name="raw",
    )
    keep = ["eval_return"] + (["exact_return"] if grid is not None else [])
    out = _split(metrics, names, cfg.seeds, keep)
    out = {k.replace("exact_return", "true_return"): v for k, v in out.items()}
    if grid is None:
        out = {k.replace("eval_return", "true_return"): v for k, v in out.items()}
    out["env_steps"] = np.asarray(metrics["eval_env_steps"])[: cfg.seeds]
    ref = exact_reference(grid, transform, params, names) if grid is not None else {}
    return _finish(run, out, ref, names, task)


def _finish(run, out: dict, reference: dict, names, task: str):
    run.write_metrics("metrics", out)
    run.write_json("reference", reference)
    run.mark_done()
    for name in names:
        final = out[f"{name}/true_return"][:, -1]
        ref = reference.get("variants", {}).get(name, {}).get("shaped_optimum_true_return")
        ref_txt = "" if ref is None else f"; shaped optimum's true return {ref:.3f}"
        print(
            f"[{EXPERIMENT}] {task} {name:>16}: final true return mean {final.mean():.3f} "
            f"(min {final.min():.3f}, max {final.max():.3f}){ref_txt}"
        )
    return run


def main(argv=None):
    cfg = cli(PRESETS, __doc__, args=argv)
    enable_compilation_cache()
    store = ResultsStore(cfg.results)
    runners = {"grid_q": run_q, "pitfall_q": run_q, "grid_ppo": run_ppo, "mcar_ppo": run_ppo}
    return [runners[task](task, cfg, store) for task in cfg.tasks]


if __name__ == "__main__":
    main(sys.argv[1:])
