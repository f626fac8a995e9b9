"""Shared pieces of the off-policy agents (TD3, SAC): config, collection, critic targets, runner.

An off-policy agent is an :class:`OffPolicyAgent` — four pure functions (``init``, ``explore``,
``update``, ``act``) — and :func:`build_trainer` wraps it into the same trainer API as PPO:
``trainer.init(key, hp)``, ``trainer.chunk(state, hp)`` (for ``jaxrl.experiment.run_chunked``)
and ``trainer(key, hp)`` (the whole run, one ``jit``).

Time structure, per seed::

    round   = train_every vector-env steps (num_envs each) into the replay buffer, then
              updates_per_step gradient updates on uniform minibatches (once the warm-up of
              learning_starts env steps of uniform random actions is over)
    row     = log_interval // (num_envs·train_every) rounds -> one metrics row ("update")
    chunk   = num_rows // num_chunks rows, then one evaluation

Episode boundaries follow gymnax 1.0: the buffer stores ``next_obs = info["final_observation"]``
and ``terminated`` (never ``terminated | truncated``), and every critic target is
:func:`td_target` ``= r + γ(1 − terminated)·V'(s')``, so a time-limit truncation bootstraps from
the final observation. The stored reward is the *transformed* reward (``RewardTransform.apply``
on a ``Transition`` with ``discount = γ(1 − terminated)``); the raw reward and every ``info``
reward channel are logged as ``return_<channel>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxrl.agents import replay_buffer
from jaxrl.agents.networks import MLP
from jaxrl.agents.policy import Policy
from jaxrl.agents.replay_buffer import ReplayBuffer, ReplayTransition
from jaxrl.agents.rollout import EpisodeTracker, channel_names, evaluate_policy, reward_channels
from jaxrl.experiment.config import Config
from jaxrl.shaping.transform import RewardTransform, Transition, check_gamma, identity

# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffPolicyStatic(Config):
    """Shapes and counts shared by TD3 and SAC (closed over; changing one recompiles)."""

    num_envs: int = 1
    """parallel environments per seed"""
    total_timesteps: int = 100_000
    """environment steps per seed (all envs together)"""
    buffer_capacity: int = 100_000
    """replay capacity in transitions per seed; explicit, never derived from total_timesteps"""
    batch_size: int = 256
    """minibatch size of each gradient update"""
    learning_starts: int = 1_000
    """warm-up: env steps (per seed) of uniform random actions before the first update"""
    train_every: int = 1
    """vector-env steps collected per training round"""
    updates_per_step: int = 1
    """gradient updates per training round (replay ratio = this / (num_envs·train_every))"""
    log_interval: int = 1_000
    """env steps per metrics row (rounded down to whole rounds)"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: Literal["tanh", "relu", "gelu"] = "relu"
    store_channels: tuple[str, ...] = ()
    """``info`` reward channels also stored in the buffer (``ReplayTransition.channels``)"""
    num_chunks: int = 1
    """evaluation (and checkpoint) points: the run is ``num_chunks`` equal chunks of rows"""
    num_eval_envs: int = 8
    eval_steps: int = 0
    """steps per evaluation rollout; 0 means the environment's ``max_steps_in_episode``"""
    deterministic_eval: bool = True
    """evaluate the policy's mode (True) or sample from it (False; TD3 is always deterministic)"""
    eval_channel: str = "true_reward"
    """reward channel whose first-episode return the evaluation reports"""
    eval_seed: int = 12345
    """fixed evaluation keys, shared across training seeds (common random numbers)"""

    @property
    def steps_per_round(self) -> int:
        return self.num_envs * self.train_every

    @property
    def rounds_per_row(self) -> int:
        return self.log_interval // self.steps_per_round

    @property
    def num_rows(self) -> int:
        """Metric rows ("updates" in the runner's vocabulary) in the whole run."""
        return self.total_timesteps // (self.rounds_per_row * self.steps_per_round)

    @property
    def rows_per_chunk(self) -> int:
        return self.num_rows // self.num_chunks

    @property
    def env_steps_per_seed(self) -> int:
        """Env steps actually executed per seed (``total_timesteps`` rounded down)."""
        return self.num_rows * self.rounds_per_row * self.steps_per_round

    def check(self) -> None:
        for name in (
            "num_envs",
            "total_timesteps",
            "buffer_capacity",
            "batch_size",
            "train_every",
            "updates_per_step",
            "log_interval",
            "num_chunks",
            "num_eval_envs",
        ):
            self.require(getattr(self, name) > 0, name, "must be positive")
        self.require(self.learning_starts >= 0, "learning_starts", "must be >= 0")
        self.require(self.eval_steps >= 0, "eval_steps", "must be >= 0")
        self.require(
            self.buffer_capacity >= self.num_envs,
            "buffer_capacity",
            f"must hold at least one vector step (num_envs={self.num_envs})",
        )
        self.require(
            self.log_interval >= self.steps_per_round,
            "log_interval",
            f"must be >= num_envs*train_every = {self.steps_per_round}",
        )
        rows = self.total_timesteps // (max(self.rounds_per_row, 1) * self.steps_per_round)
        self.require(
            rows >= self.num_chunks and rows % self.num_chunks == 0,
            "num_chunks",
            f"must divide the number of metric rows {rows} "
            "(= total_timesteps // (log_interval rounded to whole rounds))",
        )


def broadcast_hparams(hp, n: int):
    """Give every leaf a leading axis of size ``n`` (leaves already ``[n, ...]`` are kept)."""

    def lead(x):
        x = jnp.asarray(x)
        return x if x.ndim and x.shape[0] == n else jnp.broadcast_to(x, (n, *x.shape))

    return jax.tree.map(lead, hp)


def check_hparams(hp, bounds: dict[str, tuple[float | None, float | None]], positive=()):
    """Raise ``ValueError`` naming a non-finite or out-of-bounds field; returns ``hp``."""
    cls = type(hp).__name__
    for name, (lo, hi) in bounds.items():
        value = jnp.asarray(getattr(hp, name))
        if not bool(jnp.all(jnp.isfinite(value))):
            raise ValueError(f"{cls}.{name} is not finite: {value}")
        if lo is not None and bool(jnp.any(value < lo)):
            raise ValueError(f"{cls}.{name} must be >= {lo}, got {value}")
        if hi is not None and bool(jnp.any(value > hi)):
            raise ValueError(f"{cls}.{name} must be <= {hi}, got {value}")
    for name in positive:
        if bool(jnp.any(jnp.asarray(getattr(hp, name)) <= 0)):
            raise ValueError(f"{cls}.{name} must be > 0, got {getattr(hp, name)}")
    return hp


# --------------------------------------------------------------------------------------------
# critic pieces
# --------------------------------------------------------------------------------------------


def td_target(reward, terminated, gamma, next_value):
    """One-step critic target ``r + γ(1 − terminated)·V'(s')`` (``[B]``; no gradient).

    ``next_value`` must be computed at the *final* observation of the step (what the buffer
    stores as ``next_obs``), so a truncated step (``terminated=False``) bootstraps from the state
    the time limit cut, and a terminal step does not bootstrap at all.
    """
    discount = gamma * (1.0 - jnp.asarray(terminated, jnp.float32))
    return jax.lax.stop_gradient(reward + discount * next_value)


def polyak(target, online, tau):
    """``target ← (1 − τ)·target + τ·online`` leaf by leaf."""
    return jax.tree.map(lambda t, o: t + tau * (o - t), target, online)


class Critic(nn.Module):
    """``Q(s, a) -> [...]`` for continuous actions, ``Q(s) -> [..., A]`` for discrete."""

    hidden_sizes: tuple[int, ...]
    activation: str
    num_actions: int | None = None  # discrete: outputs one value per action

    @nn.compact
    def __call__(self, obs, action=None):
        if self.num_actions is not None:
            return MLP(self.hidden_sizes, self.num_actions, self.activation)(obs)
        x = jnp.concatenate([obs, action], axis=-1)
        return MLP(self.hidden_sizes, 1, self.activation)(x)[..., 0]


class TwinCritic(NamedTuple):
    """Two critics as one params pytree with a leading ``[2]`` axis (vmapped init/apply)."""

    net: Critic
    num: int = 2

    def init(self, key, obs, action=None):
        keys = jax.random.split(key, self.num)
        return jax.vmap(lambda k: self.net.init(k, obs, action))(keys)

    def __call__(self, params, obs, action=None):
        """``[2, B]`` (continuous) or ``[2, B, A]`` (discrete)."""
        return jax.vmap(lambda p: self.net.apply(p, obs, action))(params)


def make_optimizer(learning_rate):
    """Adam with the learning rate as an injected (vmappable, checkpointed) hyperparameter."""
    return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate)


def random_action(policy: Policy, key, num: int):
    """Uniform random actions ``[num, ...]`` (warm-up): box-uniform or uniform over indices."""
    if policy.continuous:
        return jax.random.uniform(
            key, (num, policy.action_dim), minval=policy.low, maxval=policy.high
        )
    return jax.random.randint(key, (num,), 0, policy.action_dim, dtype=jnp.int32)


# --------------------------------------------------------------------------------------------
# runner
# --------------------------------------------------------------------------------------------


class OffPolicyAgent(NamedTuple):
    """The algorithm-specific part of an off-policy learner (all pure, unbatched over seeds).

    init(key, hp) -> agent_state
    explore(agent_state, obs [N, ...], key, hp) -> env action [N, ...]   (behaviour policy)
    update(agent_state, batch: ReplayTransition [B], key, hp) -> (agent_state, {name: []})
    act(agent_state, obs [E, ...], key, deterministic: bool) -> env action [E, ...]   (eval)
    """

    init: Callable
    explore: Callable
    update: Callable
    act: Callable


class OffPolicyState(NamedTuple):
    """Everything a run needs to continue bit-identically (what a checkpoint stores)."""

    agent: Any
    buffer: ReplayBuffer
    env_state: Any
    obs: jnp.ndarray  # [N, *obs_shape]
    episode_time: jnp.ndarray  # [N] int32
    tracker: EpisodeTracker
    transform_state: Any
    key: jax.Array
    env_steps: jnp.ndarray  # [] int32 env steps done (all envs)
    update: jnp.ndarray  # [] int32 metric rows done


@dataclass(frozen=True, eq=False)  # hashed by identity: jit caches on the callable
class OffPolicyTrainer:
    """``trainer(key, hp)`` for the whole run, or ``init``/``chunk`` for chunked runs."""

    static: OffPolicyStatic
    transform: RewardTransform
    policy: Policy
    agent: OffPolicyAgent
    init: Any
    chunk: Any
    row: Any
    evaluate: Any

    def check(self, hparams, allow_gamma_mismatch: bool = False):
        """Validate concrete hyperparameters before compiling (bad values, γ mismatch)."""
        check_gamma(self.transform, hparams.gamma, allow_gamma_mismatch)
        return hparams.check()

    def __call__(self, key: jax.Array, hparams):
        state = self.init(key, hparams)
        state, metrics = jax.lax.scan(
            lambda s, _: self.chunk(s, hparams), state, None, self.static.num_chunks
        )
        metrics = {k: v.reshape(-1, *v.shape[2:]) for k, v in metrics.items()}
        return state, metrics


def build_trainer(
    static: OffPolicyStatic,
    env,
    env_params,
    transform: RewardTransform | None,
    policy: Policy,
    agent: OffPolicyAgent,
) -> OffPolicyTrainer:
    """Wrap ``agent`` into the chunked trainer API (see the module docstring)."""
    transform = identity() if transform is None else transform
    n = static.num_envs
    eval_steps = static.eval_steps or int(env_params.max_steps_in_episode)
    vstep = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    vreset = jax.vmap(env.reset, in_axes=(0, None))

    def init(key: jax.Array, hp) -> OffPolicyState:
        key, k_agent, k_env = jax.random.split(key, 3)
        obs, env_state = vreset(jax.random.split(k_env, n), env_params)
        action = random_action(policy, k_env, n)
        _, _, _, _, _, info = jax.eval_shape(
            vstep, jax.random.split(k_env, n), env_state, action, env_params
        )
        missing = [c for c in static.store_channels if c not in info]
        if missing:
            raise KeyError(f"store_channels {missing} not in info; available: {sorted(info)}")
        example = ReplayTransition(
            obs=obs[0],
            action=action[0],
            reward=jnp.zeros((), jnp.float32),
            next_obs=obs[0],
            terminated=jnp.zeros((), bool),
            channels={c: jnp.zeros((), jnp.float32) for c in static.store_channels},
        )
        names = ("env_reward", "learner_reward", *channel_names(info))
        return OffPolicyState(
            agent=agent.init(k_agent, hp),
            buffer=replay_buffer.init(example, static.buffer_capacity),
            env_state=env_state,
            obs=obs,
            episode_time=jnp.zeros(n, jnp.int32),
            tracker=EpisodeTracker.create(names, n),
            transform_state=transform.init(hp.transform),
            key=key,
            env_steps=jnp.zeros((), jnp.int32),
            update=jnp.zeros((), jnp.int32),
        )

    def env_step(hp, rs: OffPolicyState) -> OffPolicyState:
        """One vector-env step: act, step, transform the reward, track episodes, store."""
        key, k_act, k_env = jax.random.split(rs.key, 3)
        warm = rs.env_steps < static.learning_starts
        action = jax.lax.cond(
            warm,
            lambda: random_action(policy, k_act, n).astype(policy.action_dtype),
            lambda: agent.explore(rs.agent, rs.obs, k_act, hp).astype(policy.action_dtype),
        )
        next_obs, env_state, reward, term, trunc, info = vstep(
            jax.random.split(k_env, n), rs.env_state, action, env_params
        )
        final_obs = info["final_observation"]
        term, trunc = term.astype(bool), trunc.astype(bool) & ~term.astype(bool)
        channels = reward_channels(info)
        tr = Transition(
            obs=rs.obs,
            action=action,
            reward=reward.astype(jnp.float32),
            next_obs=final_obs,
            terminated=term,
            truncated=trunc,
            discount=hp.gamma * (1.0 - term),
            channels=channels,
            time=rs.episode_time,
        )
        shaped, transform_state = transform.apply(hp.transform, rs.transform_state, tr)
        shaped = jnp.asarray(shaped, jnp.float32)
        ended = term | trunc
        tracker = rs.tracker.step(
            {"env_reward": tr.reward, "learner_reward": shaped, **channels}, ended
        )
        buffer = replay_buffer.add(
            rs.buffer,
            ReplayTransition(
                obs=rs.obs,
                action=action,
                reward=shaped,
                next_obs=final_obs,
                terminated=term,
                channels={c: channels[c] for c in static.store_channels},
            ),
        )
        return rs._replace(
            buffer=buffer,
            env_state=env_state,
            obs=next_obs,
            episode_time=jnp.where(ended, 0, rs.episode_time + 1),
            tracker=tracker,
            transform_state=transform_state,
            key=key,
            env_steps=rs.env_steps + n,
        )

    def gradient_updates(hp, rs: OffPolicyState):
        """``updates_per_step`` updates on fresh uniform minibatches -> (rs, mean metrics)."""
        key, k_upd = jax.random.split(rs.key)

        def one(agent_state, k):
            k_sample, k_agent = jax.random.split(k)
            batch = replay_buffer.sample(rs.buffer, k_sample, static.batch_size)
            return agent.update(agent_state, batch, k_agent, hp)

        agent_state, metrics = jax.lax.scan(
            one, rs.agent, jax.random.split(k_upd, static.updates_per_step)
        )
        return rs._replace(agent=agent_state, key=key), {k: v.mean() for k, v in metrics.items()}

    def train_round(hp, rs: OffPolicyState):
        rs = jax.lax.fori_loop(0, static.train_every, lambda _, s: env_step(hp, s), rs)
        learning = rs.env_steps >= static.learning_starts
        shapes = jax.eval_shape(lambda s: gradient_updates(hp, s)[1], rs)
        skip = lambda s: (s, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes))
        rs, metrics = jax.lax.cond(learning, lambda s: gradient_updates(hp, s), skip, rs)
        return rs, (metrics, learning.astype(jnp.float32))

    def row(rs: OffPolicyState, hp):
        """``rounds_per_row`` rounds -> one metrics row (losses averaged over learning rounds)."""
        rs = rs._replace(tracker=rs.tracker.reset_window())
        rs, (metrics, learned) = jax.lax.scan(
            lambda s, _: train_round(hp, s), rs, None, static.rounds_per_row
        )
        count = learned.sum()
        out = {k: (v * learned).sum() / jnp.maximum(count, 1.0) for k, v in metrics.items()}
        out.update(rs.tracker.window_means())
        out["env_steps"] = rs.env_steps
        out["learning_rounds"] = count
        return rs._replace(update=rs.update + 1), out

    def evaluate(rs: OffPolicyState, hp, channel=None):
        """Mean first-episode return of ``channel`` (default ``static.eval_channel``; a tuple
        gives a dict) over fixed evaluation keys."""
        del hp
        act = lambda obs, key: agent.act(rs.agent, obs, key, static.deterministic_eval)
        keys = jax.random.split(jax.random.key(static.eval_seed), static.num_eval_envs)
        channel = static.eval_channel if channel is None else channel
        return evaluate_policy(env, env_params, act, keys, eval_steps, channel)

    def chunk(rs: OffPolicyState, hp):
        rs, metrics = jax.lax.scan(lambda s, _: row(s, hp), rs, None, static.rows_per_chunk)
        metrics["eval_return"] = evaluate(rs, hp)[None]
        metrics["eval_env_steps"] = rs.env_steps[None]
        return rs, metrics

    return OffPolicyTrainer(
        static=static,
        transform=transform,
        policy=policy,
        agent=agent,
        init=init,
        chunk=chunk,
        row=row,
        evaluate=evaluate,
    )
