"""PPO (Schulman et al. 2017) as one jittable, vmappable function of ``(key, hparams)``.

``make_train(static, env, transform) -> train`` where ``train(key, hparams) -> (runner_state,
metrics)``. The reward the learner optimises comes through a ``RewardTransform``; the raw reward
and every ``info`` reward channel are logged alongside it. Episode boundaries follow gymnax 1.0:
the bootstrap discount is γ·(1 − terminated) and the next-state value on the last step of an
episode is V(info["final_observation"]).

For chunked training (checkpoints, progress, evaluation curves) use ``train.init`` and
``train.chunk``; ``train(key, hp)`` is exactly ``init`` followed by ``static.num_chunks`` chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from jaxrl._platform import permutation
from jaxrl.agents.chunked import ChunkedTrainer
from jaxrl.agents.gae import gae_advantages
from jaxrl.agents.networks import ActorCritic
from jaxrl.agents.normalizer import RunningStats, normalize, update_stats
from jaxrl.agents.policy import Policy
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.agents.ppo_loss import ppo_loss
from jaxrl.agents.rollout import EpisodeTracker, channel_names, evaluate_policy, step_envs
from jaxrl.shaping.transform import RewardTransform, identity


class RunnerState(NamedTuple):
    """Everything a run needs to continue bit-identically (what a checkpoint stores)."""

    train_state: TrainState
    env_state: Any
    obs: jnp.ndarray  # [N, *obs_shape] raw observation
    episode_time: jnp.ndarray  # [N] int32 step index within the episode
    tracker: EpisodeTracker
    transform_state: Any
    obs_stats: RunningStats
    key: jax.Array
    update: jnp.ndarray  # [] int32 updates done


class Trajectory(NamedTuple):
    """Per-step data the update needs, ``[T, N, ...]``."""

    obs: jnp.ndarray  # normalised s_t
    next_obs: jnp.ndarray  # normalised s'_t (final observation at episode ends)
    u: jnp.ndarray  # unsquashed action (discrete: the action index)
    log_prob: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray  # transformed reward the learner optimises
    terminated: jnp.ndarray
    truncated: jnp.ndarray


@dataclass(frozen=True, eq=False)  # hashed by identity: jit caches on the callable
class PPOTrainer(ChunkedTrainer):
    """``train(key, hparams)``, plus its pieces: ``init``/``chunk`` for chunked runs and
    ``rollout``/``advantages``/``learn`` (one ``update`` is the three in order) for agents built
    on PPO, such as ORPO, which rolls out a second policy and augments rewards before GAE."""

    static: PPOStatic
    transform: RewardTransform
    init: Any
    chunk: Any
    evaluate: Any
    policy: Policy
    network: Any
    rollout: Any
    advantages: Any
    learn: Any
    update: Any


def epoch_permutations(key: jax.Array, epochs: int, n: int) -> jnp.ndarray:
    """``[epochs, n]``: epoch ``e`` draws ``key, k = split(key); permutation(k, n)``."""

    def next_key(k, _):
        k, k_perm = jax.random.split(k)
        return k, k_perm

    _, k_perms = jax.lax.scan(next_key, key, None, epochs)
    return jax.vmap(lambda k: permutation(k, n))(k_perms)


def make_train(
    static: PPOStatic,
    env,
    transform: RewardTransform | None = None,
    env_params=None,
    extra_loss=None,
) -> PPOTrainer:
    """Build the PPO training function for one environment and one reward transform.

    Args:
      static: shapes and counts (hashable; closed over).
      env: a gymnax-1.0-contract environment (``jaxrl.envs.make``).
      transform: reward transform applied to every step before GAE (default: identity).
      env_params: environment params (default: ``env.default_params``).
      extra_loss: optional ``extra_loss(params, minibatch: Trajectory, hparams) -> (loss, aux)``
        added to PPO's loss (e.g. the action-distribution divergence to a reference policy).
    """
    transform = identity() if transform is None else transform
    env_params = env.default_params if env_params is None else env_params
    policy = Policy.for_env(env, env_params, static.continuous_squash)
    network = ActorCritic(
        policy.action_dim, policy.continuous, static.hidden_sizes, static.activation
    )
    obs_shape = env.observation_space(env_params).shape
    eval_steps = static.eval_length(env_params)
    vstep = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    vreset = jax.vmap(env.reset, in_axes=(0, None))

    def make_tx(learning_rate, max_grad_norm):
        return optax.chain(
            optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=1e-5)
        )

    def init(key: jax.Array, hp: PPOHParams) -> RunnerState:
        key, k_net, k_env = jax.random.split(key, 3)
        params = network.init(k_net, jnp.zeros(obs_shape))
        tx = optax.inject_hyperparams(make_tx)(
            learning_rate=hp.learning_rate, max_grad_norm=hp.max_grad_norm
        )
        train_state = TrainState.create(apply_fn=network.apply, params=params, tx=tx)
        obs, env_state = vreset(jax.random.split(k_env, static.num_envs), env_params)
        _, _, _, _, _, info = jax.eval_shape(
            vstep,
            jax.random.split(k_env, static.num_envs),
            env_state,
            jnp.zeros((static.num_envs, *policy.action_shape), policy.action_dtype),
            env_params,
        )
        names = ("env_reward", "learner_reward", *channel_names(info))
        return RunnerState(
            train_state=train_state,
            env_state=env_state,
            obs=obs,
            episode_time=jnp.zeros(static.num_envs, jnp.int32),
            tracker=EpisodeTracker.create(names, static.num_envs),
            transform_state=transform.init(hp.transform),
            obs_stats=RunningStats.create(obs_shape),
            key=key,
            update=jnp.zeros((), jnp.int32),
        )

    def env_step(hp: PPOHParams, rs: RunnerState, _):
        params = rs.train_state.params
        key, k_act, k_env = jax.random.split(rs.key, 3)
        obs_n = normalize(rs.obs_stats, rs.obs, static.normalize_obs)
        logits, log_std, value = network.apply(params, obs_n)
        u, log_prob = policy.sample(logits, log_std, k_act)
        action = policy.to_env(u)
        stepped, tr, shaped = step_envs(vstep, env_params, transform, hp, rs, action, k_env)
        step = Trajectory(
            obs=obs_n,
            next_obs=normalize(rs.obs_stats, tr.next_obs, static.normalize_obs),
            u=u,
            log_prob=log_prob,
            value=value,
            reward=shaped,
            terminated=tr.terminated,
            truncated=tr.truncated,
        )
        obs_stats = (
            update_stats(rs.obs_stats, stepped.obs) if static.normalize_obs else rs.obs_stats
        )
        return stepped._replace(obs_stats=obs_stats, key=key), step

    def rollout(rs: RunnerState, hp: PPOHParams) -> tuple[RunnerState, Trajectory]:
        """``num_steps`` vector-env steps with ``rs.train_state.params`` -> ``[T, N]`` data."""
        rs = rs._replace(tracker=rs.tracker.reset_window())
        return jax.lax.scan(lambda s, x: env_step(hp, s, x), rs, None, static.num_steps)

    def advantages(rs: RunnerState, traj: Trajectory, hp: PPOHParams):
        """GAE on ``traj.reward`` (recompute after augmenting rewards, as ORPO does)."""
        _, _, v_next = network.apply(rs.train_state.params, traj.next_obs)
        discount = hp.gamma * (1.0 - traj.terminated)
        return gae_advantages(
            traj.reward,
            discount,
            traj.value,
            v_next,
            traj.terminated | traj.truncated,
            hp.gae_lambda,
        )

    def learn(rs: RunnerState, traj: Trajectory, adv, targets, hp: PPOHParams):
        """``update_epochs`` × ``num_minibatches`` clipped-surrogate steps on one rollout."""
        train_state = rs.train_state
        if static.anneal_lr:  # linear decay, set through inject_hyperparams (vmappable lr)
            frac = 1.0 - rs.update.astype(jnp.float32) / static.num_updates
            opt_state = train_state.opt_state
            hyper = {**opt_state.hyperparams, "learning_rate": hp.learning_rate * frac}
            train_state = train_state.replace(opt_state=opt_state._replace(hyperparams=hyper))

        def loss_fn(params, mb_traj, mb_adv, mb_targets):
            loss, aux = ppo_loss(
                params,
                network.apply,
                policy,
                mb_traj,
                mb_adv,
                mb_targets,
                hp,
                static.clip_value_loss,
            )
            if extra_loss is not None:  # e.g. the action-distribution KL baseline
                extra, extra_aux = extra_loss(params, mb_traj, hp)
                loss, aux = loss + extra, {**aux, **extra_aux, "loss_total": loss + extra}
            return loss, aux

        # All epochs' permutations up front (one batched sort, by a sorting network on CPU, instead
        # of one comparator sort per epoch); the same permutations as ``jax.random.permutation``
        # epoch by epoch. Each epoch then shuffles the batch as before (gathering each minibatch's
        # rows inside the minibatch loop instead changes XLA's fusion of the loss, and rounding).
        key, k_epochs = jax.random.split(rs.key)
        perms = epoch_permutations(k_epochs, static.update_epochs, static.batch_size)
        batch = jax.tree.map(
            lambda x: x.reshape(static.batch_size, *x.shape[2:]), (traj, adv, targets)
        )

        def minibatch(ts, mb):
            grads, aux = jax.grad(loss_fn, has_aux=True)(ts.params, *mb)
            return ts.apply_gradients(grads=grads), aux

        def epoch(ts, perm):
            mbs = jax.tree.map(
                lambda x: x[perm].reshape(static.num_minibatches, -1, *x.shape[1:]), batch
            )
            return jax.lax.scan(minibatch, ts, mbs)

        train_state, aux = jax.lax.scan(epoch, train_state, perms)
        metrics = {k: v.mean() for k, v in aux.items()}
        metrics.update(rs.tracker.window_means())
        metrics["learning_rate"] = train_state.opt_state.hyperparams["learning_rate"]
        rs = rs._replace(train_state=train_state, key=key, update=rs.update + 1)
        return rs, metrics

    def update(rs: RunnerState, hp: PPOHParams):
        rs, traj = rollout(rs, hp)
        adv, targets = advantages(rs, traj, hp)
        return learn(rs, traj, adv, targets, hp)

    def evaluate(rs: RunnerState, hp: PPOHParams, channel=None):
        """Mean first-episode return of ``channel`` (default ``static.eval_channel``; a tuple
        gives a dict) over fixed evaluation keys."""
        del hp

        def act(obs, keys):  # obs [E, ...], keys [E]: one sample per env, its own key
            logits, log_std, _ = network.apply(
                rs.train_state.params, normalize(rs.obs_stats, obs, static.normalize_obs)
            )
            one = lambda lg, k: policy.act(lg, log_std, k, static.deterministic_eval)
            return jax.vmap(one)(logits, keys)

        channel = static.eval_channel if channel is None else channel
        return evaluate_policy(env, env_params, act, static.eval_keys(), eval_steps, channel)

    def chunk(rs: RunnerState, hp: PPOHParams):
        rs, metrics = jax.lax.scan(lambda s, _: update(s, hp), rs, None, static.updates_per_chunk)
        # one evaluation per chunk: [1] so chunks concatenate into [num_chunks]
        metrics["eval_return"] = evaluate(rs, hp)[None]
        metrics["eval_env_steps"] = (rs.update * static.batch_size)[None]
        return rs, metrics

    return PPOTrainer(
        static=static,
        transform=transform,
        init=init,
        chunk=chunk,
        evaluate=evaluate,
        policy=policy,
        network=network,
        rollout=rollout,
        advantages=advantages,
        learn=learn,
        update=update,
    )
