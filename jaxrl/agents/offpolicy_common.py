"""The off-policy runner shared by TD3, SAC and SAM: collection into the replay buffer, rounds of
gradient updates, metric rows, chunks with evaluation.

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

Options of :class:`OffPolicyStatic` (all off by default): ``n_step > 1`` stores ``truncated`` too
and hands the agent :class:`~jaxrl.agents.nstep.NStepWindow` batches (:mod:`jaxrl.agents.nstep`);
``absorbing`` samples DAC self-loops and rewrites terminal transitions
(:mod:`jaxrl.agents.absorbing`; the agent wraps its env in ``AbsorbingIndicator``);
``layer_norm`` is the agents' network option.

The config (:class:`OffPolicyStatic`, :mod:`jaxrl.agents.offpolicy_config`), the critic pieces
(:mod:`jaxrl.agents.critic`) and the hyperparameter helpers (:mod:`jaxrl.agents.hparams`) live
in their own modules and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.agents import nstep, replay_buffer
from jaxrl.agents.absorbing import AbsorbingIndicator
from jaxrl.agents.critic import Critic, TwinCritic, make_optimizer, polyak, td_target
from jaxrl.agents.hparams import broadcast_hparams, check_hparams
from jaxrl.agents.offpolicy_config import OffPolicyStatic
from jaxrl.agents.policy import Policy
from jaxrl.agents.replay_buffer import ReplayBuffer, ReplayTransition
from jaxrl.agents.rollout import EpisodeTracker, channel_names, evaluate_policy, step_envs
from jaxrl.agents.trainer import TrainerBase
from jaxrl.shaping.transform import RewardTransform, Transition, identity

__all__ = [  # the runner, plus the pieces re-exported from their own modules
    "Critic",
    "OffPolicyAgent",
    "OffPolicyState",
    "OffPolicyStatic",
    "OffPolicyTrainer",
    "TwinCritic",
    "broadcast_hparams",
    "build_trainer",
    "check_hparams",
    "make_optimizer",
    "polyak",
    "random_action",
    "replay_transition",
    "td_target",
]


# --------------------------------------------------------------------------------------------
# collection
# --------------------------------------------------------------------------------------------


def random_action(policy: Policy, key, num: int):
    """Uniform random actions ``[num, ...]`` (warm-up): box-uniform or uniform over indices."""
    if policy.continuous:
        return jax.random.uniform(
            key, (num, policy.action_dim), minval=policy.low, maxval=policy.high
        )
    return jax.random.randint(key, (num,), 0, policy.action_dim, dtype=jnp.int32)


def example_transition(
    store_channels, obs, action, info, store_truncated: bool = False
) -> ReplayTransition:
    """One zero ``ReplayTransition`` shaped like a single env step (the buffer's layout;
    ``truncated`` only with ``store_truncated``, for n-step windows); raises ``KeyError`` if a
    channel to store is not in the env's ``info``."""
    missing = [c for c in store_channels if c not in info]
    if missing:
        raise KeyError(f"store_channels {missing} not in info; available: {sorted(info)}")
    return ReplayTransition(
        obs=obs,
        action=action,
        reward=jnp.zeros((), jnp.float32),
        next_obs=obs,
        terminated=jnp.zeros((), bool),
        channels={c: jnp.zeros((), jnp.float32) for c in store_channels},
        truncated=jnp.zeros((), bool) if store_truncated else None,
    )


def replay_transition(batch: ReplayTransition, gamma) -> Transition:
    """A replay minibatch ``[B]`` as a reward transform sees it (for learned rewards that
    relabel sampled batches, e.g. SAM's discriminator). The buffer keeps no ``truncated`` flag
    or episode time: both are zeros."""
    zeros = jnp.zeros(batch.terminated.shape, jnp.int32)
    return Transition(
        obs=batch.obs,
        action=batch.action,
        reward=batch.reward,
        next_obs=batch.next_obs,
        terminated=batch.terminated,
        truncated=zeros.astype(bool),
        discount=gamma * (1.0 - batch.terminated),
        channels=batch.channels,
        time=zeros,
    )


# --------------------------------------------------------------------------------------------
# runner
# --------------------------------------------------------------------------------------------


class OffPolicyAgent(NamedTuple):
    """The algorithm-specific part of an off-policy learner (all pure, unbatched over seeds).

    init(key, hp) -> agent_state
    explore(agent_state, obs [N, ...], key, hp) -> env action [N, ...]   (behaviour policy)
    update(agent_state, batch, key, hp) -> (agent_state, {name: []}); batch is a
        ReplayTransition [B], or an nstep.NStepWindow [B, n] when static.n_step > 1
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
class OffPolicyTrainer(TrainerBase):
    """``trainer(key, hp)`` for the whole run, or ``init``/``chunk`` for chunked runs."""

    static: OffPolicyStatic
    transform: RewardTransform
    policy: Policy
    agent: OffPolicyAgent
    init: Any
    chunk: Any
    row: Any
    evaluate: Any


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
    if static.absorbing and not isinstance(env, AbsorbingIndicator):
        raise ValueError(
            f"absorbing=True needs the env wrapped in AbsorbingIndicator (the agent's make_train "
            f"does it with jaxrl.agents.absorbing.prepare_env), got {env!r}"
        )
    n = static.num_envs
    eval_steps = static.eval_length(env_params)
    vstep = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    vreset = jax.vmap(env.reset, in_axes=(0, None))

    def init(key: jax.Array, hp) -> OffPolicyState:
        key, k_agent, k_env = jax.random.split(key, 3)
        obs, env_state = vreset(jax.random.split(k_env, n), env_params)
        action = random_action(policy, k_env, n)
        _, _, _, _, _, info = jax.eval_shape(
            vstep, jax.random.split(k_env, n), env_state, action, env_params
        )
        names = ("env_reward", "learner_reward", *channel_names(info))
        example = example_transition(
            static.store_channels, obs[0], action[0], info, static.n_step > 1
        )
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
        rs, tr, shaped = step_envs(vstep, env_params, transform, hp, rs, action, k_env)
        buffer = replay_buffer.add(
            rs.buffer,
            ReplayTransition(
                obs=tr.obs,
                action=action,
                reward=shaped,
                next_obs=tr.next_obs,
                terminated=tr.terminated,
                channels={c: tr.channels[c] for c in static.store_channels},
                truncated=tr.truncated if static.n_step > 1 else None,
            ),
        )
        return rs._replace(buffer=buffer, key=key, env_steps=rs.env_steps + n)

    def gradient_updates(hp, rs: OffPolicyState):
        """``updates_per_step`` updates on fresh uniform minibatches -> (rs, mean metrics)."""
        key, k_upd = jax.random.split(rs.key)

        def one(agent_state, k):
            k_sample, k_agent = jax.random.split(k)
            if static.n_step == 1 and not static.absorbing:
                batch = replay_buffer.sample(rs.buffer, k_sample, static.batch_size)
            else:  # an NStepWindow (n_step > 1) and/or DAC absorbing-state rewriting
                batch = nstep.sample(
                    rs.buffer,
                    k_sample,
                    static.batch_size,
                    static.n_step,
                    static.num_envs,
                    static.absorbing,
                )
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
        channel = static.eval_channel if channel is None else channel
        return evaluate_policy(env, env_params, act, static.eval_keys(), eval_steps, channel)

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
