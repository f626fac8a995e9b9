"""Expert demonstrations for adversarial imitation: train, roll out, subsample, save, load.

Pipeline (papers.md §3.1; GAIL / liayn ``helpers/dataset.py``):

1. :func:`train_expert` trains an off-policy expert (SAC or TD3) with ``build_trainer``'s
   trainers, over a few seeds, and keeps the seed with the best deterministic evaluation return;
2. :func:`collect_episodes` rolls out ``num_episodes`` episodes of the *deterministic* expert
   (one per vectorised environment, the first episode only, ``max_steps`` long at most);
3. :func:`subsample` keeps every ``every``-th transition of each episode from a random offset
   ``∈ [0, every)`` (GAIL's subsampling, which decorrelates the samples and makes the imitation
   problem harder than behavioural cloning on whole trajectories);
4. :func:`save_demonstrations` / :func:`load_demonstrations` write and read
   ``<run>/<name>.npz`` through the results store (``RunDir.write_metrics``, atomic).

:func:`get_or_make_expert` does 1–4 in a results-store run ``<root>/<experiment>/<run-id>/`` with
``config.json``, ``provenance.json``, ``expert_metrics.npz`` (training curve),
``expert_actor.msgpack`` (the actor's parameters), ``demos.npz`` and ``DONE``, and reuses the
newest finished run with an identical config instead of retraining.

A :class:`Demonstrations` holds flat ``[N, ...]`` numpy arrays (``obs``, ``action``,
``next_obs``, ``terminated``, plus the ``episode`` index and within-episode ``time`` step of
each sample) and ``episode_returns`` ``[E]`` (the true-reward return of each rolled-out episode,
before subsampling). ``next_obs`` is the *final* observation of the step (not the auto-reset
one), as in the replay buffer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import Config
from jaxrl.experiment.metric_specs import OFF_POLICY, SAC, trainer_metrics
from jaxrl.experiment.params_io import save_params
from jaxrl.experiment.results import ResultsStore, RunDir
from jaxrl.experiment.schema import MetricSpec, Schema


class Demonstrations(NamedTuple):
    """Flat expert samples ``[N, ...]`` (numpy) and the rolled-out episodes' returns ``[E]``."""

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    episode: np.ndarray
    time: np.ndarray
    episode_returns: np.ndarray

    @property
    def size(self) -> int:
        return int(self.obs.shape[0])


# --------------------------------------------------------------------------------------------
# roll out, subsample
# --------------------------------------------------------------------------------------------


def collect_episodes(
    env,
    env_params,
    act,
    key,
    num_episodes: int,
    max_steps: int | None = None,
    channel: str = "true_reward",
) -> dict[str, np.ndarray]:
    """Roll out the first episode of ``num_episodes`` parallel environments.

    Args:
      env, env_params: a ``jaxrl.envs.make`` environment.
      act: ``act(obs [E, ...], key [E]) -> action [E, ...]`` (e.g. the deterministic policy).
      key: PRNG key (resets and env noise).
      num_episodes: episodes ``E`` (parallel environments).
      max_steps: rollout length ``T`` (default ``env_params.max_steps_in_episode``).
      channel: reward channel summed into ``returns``.

    Returns:
      numpy dict: ``obs [E, T, ...]``, ``action [E, T, ...]``, ``next_obs [E, T, ...]`` (final
      observation of the step), ``terminated [E, T]``, ``valid [E, T]`` (the step belongs to the
      first episode), ``returns [E]``.
    """
    steps = int(max_steps or env_params.max_steps_in_episode)
    k_reset, k_run = jax.random.split(key)
    vstep = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    @jax.jit
    def rollout(k_reset, k_run):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(k_reset, num_episodes), env_params
        )

        def body(carry, k):
            obs, state, alive = carry
            k_act, k_env = jax.random.split(k)
            action = act(obs, jax.random.split(k_act, num_episodes))
            nobs, state, reward, term, trunc, info = vstep(
                jax.random.split(k_env, num_episodes), state, action, env_params
            )
            src = {**info, "env_reward": reward}
            out = {
                "obs": obs,
                "action": action,
                "next_obs": info["final_observation"],
                "terminated": term.astype(bool),
                "valid": alive,
                "reward": src[channel].astype(jnp.float32),
            }
            alive = alive & ~(term.astype(bool) | trunc.astype(bool))
            return (nobs, state, alive), out

        _, out = jax.lax.scan(
            body, (obs, state, jnp.ones(num_episodes, bool)), jax.random.split(k_run, steps)
        )
        return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), out)  # [E, T, ...]

    out = {k: np.asarray(v) for k, v in rollout(k_reset, k_run).items()}
    out["returns"] = (out.pop("reward") * out["valid"]).sum(axis=1)
    return out


def subsample(episodes: dict[str, np.ndarray], every: int, seed: int = 0) -> Demonstrations:
    """GAIL-style subsampling: per episode, steps ``o, o + every, o + 2·every, …`` of its valid
    part, with a random offset ``o ~ U{0, …, every − 1}`` (numpy ``seed``; ``o`` is capped at the
    episode's last step so that no episode is dropped). ``every=1`` keeps everything."""
    if every < 1:
        raise ValueError(f"subsample every={every}; expected >= 1")
    rng = np.random.default_rng(seed)
    valid = np.asarray(episodes["valid"], bool)
    picks = []
    for e in range(valid.shape[0]):
        length = int(valid[e].sum())  # the first episode is a prefix of the rollout
        if length == 0:
            continue
        offset = min(int(rng.integers(0, every)), length - 1)
        t = np.arange(offset, length, every)
        picks.append(np.stack([np.full_like(t, e), t], axis=1))
    idx = np.concatenate(picks) if picks else np.zeros((0, 2), int)
    e, t = idx[:, 0], idx[:, 1]
    return Demonstrations(
        obs=np.asarray(episodes["obs"])[e, t],
        action=np.asarray(episodes["action"])[e, t],
        next_obs=np.asarray(episodes["next_obs"])[e, t],
        terminated=np.asarray(episodes["terminated"], bool)[e, t],
        episode=e.astype(np.int32),
        time=t.astype(np.int32),
        episode_returns=np.asarray(episodes["returns"], np.float32),
    )


# --------------------------------------------------------------------------------------------
# results store
# --------------------------------------------------------------------------------------------


#: ``demos.npz``: one row per kept sample, and the rolled-out episodes' returns.
DEMOS_SCHEMA = Schema(
    "demonstrations",
    (
        MetricSpec("obs", "float32", ("sample", "obs_dim"), "observation"),
        MetricSpec("action", "float32", ("sample", "action_dim"), "expert action"),
        MetricSpec("next_obs", "float32", ("sample", "obs_dim"), "next observation"),
        MetricSpec("terminated", "bool", ("sample",), "the step ended the episode (not truncated)"),
        MetricSpec("episode", "int32", ("sample",), "index of the sample's episode"),
        MetricSpec("time", "int32", ("sample",), "within-episode time step of the sample"),
        MetricSpec("episode_returns", "float32", ("episode",), "undiscounted episode returns"),
    ),
)


def expert_schema(algo: str) -> Schema:
    """``expert_metrics.npz``: the off-policy expert's training metrics ``[seed, ...]``."""
    train = OFF_POLICY + (SAC if algo == "sac" else ())
    return Schema("expert", trainer_metrics(train, run="seed"))


def save_demonstrations(run: RunDir, demos: Demonstrations, name: str = "demos"):
    """Write ``demos`` to ``<run>/<name>.npz`` (atomic), validated against
    :data:`DEMOS_SCHEMA`."""
    return run.write_metrics(name, demos._asdict(), schema=DEMOS_SCHEMA)


def load_demonstrations(run: RunDir, name: str = "demos") -> Demonstrations:
    """Read ``<run>/<name>.npz`` back into :class:`Demonstrations`.

    Raises:
      SchemaError: the file does not match :data:`DEMOS_SCHEMA`.
    """
    d = run.load_metrics(name, schema=DEMOS_SCHEMA)
    return Demonstrations(**{k: d[k] for k in Demonstrations._fields})


@dataclasses.dataclass(frozen=True)
class ExpertConfig(Config):
    """How the expert is trained and how its demonstrations are drawn (hashed into the run id)."""

    env: str = "Pendulum-v1"
    algo: Literal["sac", "td3"] = "sac"
    total_timesteps: int = 12_000
    """expert training steps per seed"""
    seeds: int = 2
    """expert seeds trained in parallel; the best (deterministic eval return) is kept"""
    seed: int = 1000
    learning_rate: float = 1e-3
    gamma: float = 0.99
    hidden_sizes: tuple[int, ...] = (64, 64)
    batch_size: int = 128
    learning_starts: int = 1000
    num_envs: int = 1
    """parallel environments per expert seed"""
    num_chunks: int = 4
    num_episodes: int = 20
    """demonstration episodes rolled out with the deterministic policy"""
    subsample_every: int = 10
    """GAIL subsampling period (the paper uses 20 on 1000-step MuJoCo episodes)"""
    min_return: float | None = None
    """expert-quality gate: the best seed's final deterministic evaluation return must reach it;
    else another round is trained, up to ``max_rounds`` rounds (None: no gate)"""
    max_rounds: int = 1
    round_mode: Literal["continue", "fresh"] = "continue"
    """what a round after the first trains: ``continue`` the same seeds for another
    ``total_timesteps`` steps (one longer run, stopped at the first round that meets the gate;
    the replay buffer holds all ``max_rounds`` rounds), or ``fresh`` seeds from scratch"""

    def check(self) -> None:
        for f in (
            "total_timesteps",
            "seeds",
            "num_episodes",
            "subsample_every",
            "num_chunks",
            "max_rounds",
        ):
            self.require(getattr(self, f) > 0, f, "must be positive")
        self.require(self.round_mode in ("continue", "fresh"), "round_mode", "continue or fresh")


def _buffer_rounds(cfg: ExpertConfig) -> int:
    """Rounds of transitions one seed's replay buffer holds: all of them when rounds continue."""
    return cfg.max_rounds if cfg.round_mode == "continue" else 1


def _expert_trainer(cfg: ExpertConfig):
    from jaxrl.agents import sac, td3
    from jaxrl.envs import make

    env, env_params = make(cfg.env)
    mod, static_cls, hp_cls = {
        "sac": (sac, sac.SACStatic, sac.SACHParams),
        "td3": (td3, td3.TD3Static, td3.TD3HParams),
    }[cfg.algo]
    static = static_cls(
        num_envs=cfg.num_envs,
        total_timesteps=cfg.total_timesteps,
        buffer_capacity=min(max(cfg.total_timesteps * _buffer_rounds(cfg), 1000), 1_000_000),
        batch_size=cfg.batch_size,
        learning_starts=min(cfg.learning_starts, cfg.total_timesteps // 4),
        log_interval=max(cfg.total_timesteps // (4 * cfg.num_chunks), cfg.num_envs),
        hidden_sizes=cfg.hidden_sizes,
        num_chunks=cfg.num_chunks,
        num_eval_envs=8,
    )
    trainer = mod.make_train(static, env, env_params=env_params)
    hp = hp_cls(learning_rate=cfg.learning_rate, gamma=cfg.gamma)
    return env, env_params, trainer, hp


def expert_round_keys(seed: int, r: int, seeds: int) -> jax.Array:
    """Training keys ``[seeds]`` of the expert's round ``r``: round 0 splits ``key(seed)`` (the
    keys of :func:`~jaxrl.experiment.sweep.grid_keys`), round ``r ≥ 1`` splits
    ``fold_in(key(seed), r)``. Not ``key(seed + r)``: the demonstrations are rolled out with
    ``key(seed + 1)``, whose split children would be round 1's training keys."""
    root = jax.random.key(seed)
    return jax.random.split(root if r == 0 else jax.random.fold_in(root, r), seeds)


def train_expert(cfg: ExpertConfig, run: RunDir | None = None, progress: bool = True):
    """Train ``cfg.seeds`` experts per round until the best final deterministic evaluation return
    reaches ``cfg.min_return`` (one round without a gate; at most ``cfg.max_rounds``). Round 0
    starts from the keys of :func:`expert_round_keys`; round ``r ≥ 1`` continues round ``r - 1``'s
    agents (``round_mode="continue"``: their state, buffer and keys, so ``r + 1`` rounds are one
    run of ``(r + 1) · total_timesteps`` steps) or starts fresh seeds from round ``r``'s keys
    (``"fresh"``). Round ``r`` writes ``expert_metrics`` (round 0) or ``expert_metrics_<r>``.
    Returns ``(env, env_params, trainer, agent_state, metrics, best)``: the best (seed, round)
    state by final evaluation return (unbatched), every round's metrics concatenated on the seed
    axis, and the best's index on that axis (``round · seeds + seed``)."""
    from jaxrl.experiment.sweep import run_sweep

    env, env_params, trainer, hp = _expert_trainer(cfg)
    hp = trainer.check(hp).broadcast(cfg.seeds)
    rounds, agents, state = [], [], None
    for r in range(cfg.max_rounds):
        program, init_batched = trainer, False
        if r > 0 and cfg.round_mode == "continue":
            program, init_batched = (lambda _keys, _hp, s=state: s, trainer.chunk), True
        metrics, state = run_sweep(
            None,
            run,
            program,
            expert_round_keys(cfg.seed, r, cfg.seeds),
            hp,
            num_chunks=trainer.static.num_chunks,
            init_batched=init_batched,
            progress=progress,
            metrics_name="expert_metrics" if r == 0 else f"expert_metrics_{r}",
            schema=expert_schema(cfg.algo),
            return_state=True,
        )
        rounds.append(metrics)
        agents.append(state.agent)
        best_return = max(float(np.max(m["eval_return"][:, -1])) for m in rounds)
        if cfg.min_return is None or best_return >= cfg.min_return:
            break
    metrics = {k: np.concatenate([m[k] for m in rounds]) for k in rounds[0]}
    best = int(np.argmax(metrics["eval_return"][:, -1]))
    agent_state = jax.tree.map(lambda x: x[best % cfg.seeds], agents[best // cfg.seeds])
    return env, env_params, trainer, agent_state, metrics, best


def make_expert_demonstrations(
    cfg: ExpertConfig, run: RunDir | None = None, progress: bool = True
) -> tuple[Demonstrations, dict[str, Any]]:
    """Train the expert, roll out and subsample its demonstrations; save everything in ``run``
    (if given) except the ``DONE`` marker. Returns ``(demos, summary)``."""
    env, env_params, trainer, agent_state, metrics, best = train_expert(cfg, run, progress)
    act = lambda obs, keys: trainer.agent.act(agent_state, obs, keys[0], True)
    episodes = collect_episodes(
        env, env_params, act, jax.random.key(cfg.seed + 1), cfg.num_episodes
    )
    demos = subsample(episodes, cfg.subsample_every, seed=cfg.seed + 2)
    summary = {
        "best_seed": best,
        "train_eval_return_final": metrics["eval_return"][:, -1].tolist(),
        "rounds": len(metrics["eval_return"]) // cfg.seeds,
        "round_mode": cfg.round_mode,
        "round_steps": cfg.total_timesteps,
        "min_return": cfg.min_return,
        "gate_met": cfg.min_return is None
        or float(metrics["eval_return"][best, -1]) >= cfg.min_return,
        "demo_return_mean": float(demos.episode_returns.mean()),
        "demo_return_std": float(demos.episode_returns.std()),
        "num_samples": demos.size,
    }
    if run is not None:
        save_params(run, "expert_actor", agent_state.actor.params)
        save_demonstrations(run, demos)
        run.write_json("expert_summary", summary)
    return demos, summary


def get_or_make_expert(
    cfg: ExpertConfig,
    store: ResultsStore,
    experiment: str = "lipschitz_gail_expert",
    progress: bool = True,
) -> tuple[Demonstrations, dict[str, Any], RunDir]:
    """Reuse the newest finished expert run with an identical config, or make one (with DONE)."""
    from jaxrl.config import to_json_dict

    want = to_json_dict(cfg)
    for run in sorted(store.finished_runs(experiment), key=lambda r: r.run_id, reverse=True):
        if run.config == want and (run.path / "demos.npz").exists():
            return load_demonstrations(run), run.read_json("expert_summary"), run
    run = store.create(experiment, cfg)
    demos, summary = make_expert_demonstrations(cfg, run, progress)
    run.mark_done()
    return demos, summary, run
