"""PPO (Schulman et al. 2017) as one jittable, vmappable function of ``(key, hparams)``.

``make_train(static, env, transform) -> train`` where ``train(key, hparams) -> (runner_state,
metrics)``. The reward the learner optimises comes through a ``RewardTransform``; the raw reward
and every ``info`` reward channel are logged alongside it. Episode boundaries follow gymnax 1.0:
the bootstrap discount is γ·(1 − terminated) and the next-state value on the last step of an
episode is V(info["final_observation"]).

``make_train`` gives a :class:`PPOTrainer` (the :mod:`jaxrl.agents.trainer` protocol): for chunked
training (checkpoints, progress, evaluation curves) use ``init`` and ``chunk``; ``trainer(key, hp)``
is exactly ``init`` followed by ``static.num_chunks`` chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from jaxrl._platform import permutation
from jaxrl.agents.gae import gae_advantages
from jaxrl.agents.networks import ActorCritic
from jaxrl.agents.normalizer import RunningStats, normalize, update_stats
from jaxrl.agents.policy import Policy
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.agents.ppo_loss import ppo_loss
from jaxrl.agents.rollout import EpisodeTracker, channel_names, evaluate_policy, step_envs
from jaxrl.agents.trainer import TrainerBase
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
class PPOTrainer(TrainerBase):
    """The trainer protocol (:mod:`jaxrl.agents.trainer`), plus the pieces of one ``update``
    (``rollout``, ``advantages``, ``learn``, in order) for agents built on PPO, such as ORPO,
    which rolls out a second policy and augments rewards before GAE."""

    static: PPOStatic
    transform: RewardTransform
    env: Any
    env_params: Any
    policy: Policy
    network: ActorCritic
    extra_loss: Any = None
    """``extra_loss(params, minibatch: Trajectory, hparams) -> (loss, aux)`` added to PPO's loss"""

    def _vstep(self, keys, env_state, action):
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
            keys, env_state, action, self.env_params
        )

    def _normalize(self, rs: RunnerState, obs: jnp.ndarray) -> jnp.ndarray:
        return normalize(rs.obs_stats, obs, self.static.normalize_obs)

    def init(self, key: jax.Array, hp: PPOHParams) -> RunnerState:
        """Network, Adam state, envs and statistics."""
        static, policy = self.static, self.policy
        obs_shape = self.env.observation_space(self.env_params).shape
        key, k_net, k_env = jax.random.split(key, 3)
        params = self.network.init(k_net, jnp.zeros(obs_shape))
        # The train state keeps only Adam's moments; the clip norm and the (annealed) step size
        # are read from ``hp`` at each step (``_sgd_step``), so they stay vmappable without
        # ``optax.inject_hyperparams``, whose bookkeeping cost ~0.4 ms per update on CPU.
        train_state = TrainState.create(apply_fn=self.network.apply, params=params, tx=_ADAM)
        vreset = jax.vmap(self.env.reset, in_axes=(0, None))
        obs, env_state = vreset(jax.random.split(k_env, static.num_envs), self.env_params)
        _, _, _, _, _, info = jax.eval_shape(
            self._vstep,
            jax.random.split(k_env, static.num_envs),
            env_state,
            jnp.zeros((static.num_envs, *policy.action_shape), policy.action_dtype),
        )
        names = ("env_reward", "learner_reward", *channel_names(info))
        return RunnerState(
            train_state=train_state,
            env_state=env_state,
            obs=obs,
            episode_time=jnp.zeros(static.num_envs, jnp.int32),
            tracker=EpisodeTracker.create(names, static.num_envs),
            transform_state=self.transform.init(hp.transform),
            obs_stats=RunningStats.create(obs_shape),
            key=key,
            update=jnp.zeros((), jnp.int32),
        )

    def _env_step(self, hp: PPOHParams, rs: RunnerState, _):
        key, k_act, k_env = jax.random.split(rs.key, 3)
        obs_n = self._normalize(rs, rs.obs)
        logits, log_std, value = self.network.apply(rs.train_state.params, obs_n)
        u, log_prob = self.policy.sample(logits, log_std, k_act)
        action = self.policy.to_env(u)
        vstep = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))
        stepped, tr, shaped = step_envs(
            vstep, self.env_params, self.transform, hp, rs, action, k_env
        )
        step = Trajectory(
            obs=obs_n,
            next_obs=self._normalize(rs, tr.next_obs),
            u=u,
            log_prob=log_prob,
            value=value,
            reward=shaped,
            terminated=tr.terminated,
            truncated=tr.truncated,
        )
        obs_stats = rs.obs_stats
        if self.static.normalize_obs:
            obs_stats = update_stats(rs.obs_stats, stepped.obs)
        return stepped._replace(obs_stats=obs_stats, key=key), step

    def rollout(self, rs: RunnerState, hp: PPOHParams) -> tuple[RunnerState, Trajectory]:
        """``num_steps`` vector-env steps with ``rs.train_state.params`` -> ``[T, N]`` data."""
        rs = rs._replace(tracker=rs.tracker.reset_window())
        return jax.lax.scan(partial(self._env_step, hp), rs, None, self.static.num_steps)

    def next_values(self, rs: RunnerState, traj: Trajectory) -> jnp.ndarray:
        """``[T, N]`` V(s'_t) under ``rs.train_state.params``; ``rs`` is the state after the
        rollout (its ``obs`` is s_T).

        Inside an episode s'_t = s_{t+1}, whose value the rollout already computed, so
        V(s'_t) is ``traj.value`` shifted by one plus V(s_T): one critic pass on ``[N]`` instead
        of a second pass over all ``[T, N]`` next observations. Where an episode ended, s_{t+1}
        is a reset observation: a terminated step's bootstrap is multiplied by discount 0, and
        only a truncated step needs V(final_observation), computed in a loop over the truncated
        steps (one ``[N]`` critic pass per truncation of the busiest env: none in most updates).
        With running observation normalisation s_{t+1} was normalised with other statistics,
        so then every next observation goes through the critic.
        """
        params = rs.train_state.params
        if self.static.normalize_obs:
            return self.network.apply(params, traj.next_obs)[2]
        v_last = self.network.apply(params, self._normalize(rs, rs.obs))[2]
        v_next = jnp.concatenate([traj.value[1:], v_last[None]])
        env_idx = jnp.arange(traj.truncated.shape[1])

        def fix_first(carry):  # the first truncated step still to fix, per env
            v_next, todo = carry
            t = jnp.argmax(todo, axis=0)  # [N]
            hit = (jnp.arange(todo.shape[0])[:, None] == t) & todo[t, env_idx]
            v_final = self.network.apply(params, traj.next_obs[t, env_idx])[2]
            return jnp.where(hit, v_final, v_next), todo & ~hit

        todo = traj.truncated & ~traj.terminated
        v_next, _ = jax.lax.while_loop(lambda c: c[1].any(), fix_first, (v_next, todo))
        return v_next

    def advantages(self, rs: RunnerState, traj: Trajectory, hp: PPOHParams):
        """GAE on ``traj.reward`` (recompute after augmenting rewards, as ORPO does); ``rs`` is the
        runner state after the rollout."""
        v_next = self.next_values(rs, traj)
        discount = hp.gamma * (1.0 - traj.terminated)
        done = traj.terminated | traj.truncated
        return gae_advantages(traj.reward, discount, traj.value, v_next, done, hp.gae_lambda)

    def _loss(self, hp: PPOHParams, params, mb_traj, mb_adv, mb_targets):
        loss, aux = ppo_loss(
            params,
            self.network.apply,
            self.policy,
            mb_traj,
            mb_adv,
            mb_targets,
            hp,
            self.static.clip_value_loss,
        )
        if self.extra_loss is not None:  # e.g. the action-distribution KL baseline
            extra, extra_aux = self.extra_loss(params, mb_traj, hp)
            loss, aux = loss + extra, {**aux, **extra_aux, "loss_total": loss + extra}
        return loss, aux

    def learn(self, rs: RunnerState, traj: Trajectory, adv, targets, hp: PPOHParams):
        """``update_epochs`` × ``num_minibatches`` clipped-surrogate steps on one rollout."""
        static, train_state = self.static, rs.train_state
        lr = hp.learning_rate
        if static.anneal_lr:  # linear decay to 0 over the run
            lr = lr * (1.0 - rs.update.astype(jnp.float32) / static.num_updates)

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
            grads, aux = jax.grad(partial(self._loss, hp), has_aux=True)(ts.params, *mb)
            return _sgd_step(ts, grads, lr, hp.max_grad_norm), aux

        def epoch(ts, perm):
            mbs = jax.tree.map(
                lambda x: x[perm].reshape(static.num_minibatches, -1, *x.shape[1:]), batch
            )
            return jax.lax.scan(minibatch, ts, mbs)

        train_state, aux = jax.lax.scan(epoch, train_state, perms)
        metrics = {k: v.mean() for k, v in aux.items()}
        metrics.update(rs.tracker.window_means())
        metrics["learning_rate"] = jnp.asarray(lr, jnp.float32)
        rs = rs._replace(train_state=train_state, key=key, update=rs.update + 1)
        return rs, metrics

    def update(self, rs: RunnerState, hp: PPOHParams):
        """One PPO update: ``rollout``, ``advantages``, ``learn``."""
        rs, traj = self.rollout(rs, hp)
        adv, targets = self.advantages(rs, traj, hp)
        return self.learn(rs, traj, adv, targets, hp)

    def evaluate(self, rs: RunnerState, hp: PPOHParams, channel=None):
        """Mean first-episode return ``[]`` of ``channel`` (default ``static.eval_channel``; a
        tuple gives a dict) over fixed evaluation keys."""
        del hp
        static = self.static

        def act(obs, keys):  # obs [E, ...], keys [E]: one sample per env, its own key
            logits, log_std, _ = self.network.apply(rs.train_state.params, self._normalize(rs, obs))
            one = lambda lg, k: self.policy.act(lg, log_std, k, static.deterministic_eval)
            return jax.vmap(one)(logits, keys)

        channel = static.eval_channel if channel is None else channel
        steps = static.eval_length(self.env_params)
        return evaluate_policy(self.env, self.env_params, act, static.eval_keys(), steps, channel)

    def chunk(self, rs: RunnerState, hp: PPOHParams):
        """``static.updates_per_chunk`` updates (metrics ``[per_chunk]``), then one evaluation
        (``eval_return``, ``eval_env_steps``: ``[1]``)."""
        rs, metrics = jax.lax.scan(
            lambda s, _: self.update(s, hp), rs, None, self.static.updates_per_chunk
        )
        metrics["eval_return"] = self.evaluate(rs, hp)[None]
        metrics["eval_env_steps"] = (rs.update * self.static.batch_size)[None]
        return rs, metrics


_ADAM = optax.scale_by_adam(eps=1e-5)
"""Adam's moment estimates: the only optimiser state (the step size is applied in ``_sgd_step``)"""


def _sgd_step(ts: TrainState, grads, learning_rate, max_grad_norm) -> TrainState:
    """``optax.chain(clip_by_global_norm(max_grad_norm), adam(learning_rate, eps=1e-5))`` with
    both hyperparameters traced: the same operations in the same order as that chain."""
    grads, _ = optax.clip_by_global_norm(max_grad_norm).update(grads, optax.EmptyState())
    updates, opt_state = ts.tx.update(grads, ts.opt_state, ts.params)
    updates, _ = optax.scale(-1 * learning_rate).update(updates, optax.EmptyState())
    params = optax.apply_updates(ts.params, updates)
    return ts.replace(step=ts.step + 1, params=params, opt_state=opt_state)


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
    """Build the PPO trainer for one environment and one reward transform.

    Args:
      static: shapes and counts (hashable; closed over).
      env: a gymnax-1.0-contract environment (``jaxrl.envs.make``).
      transform: reward transform applied to every step before GAE (default: identity).
      env_params: environment params (default: ``env.default_params``).
      extra_loss: optional ``extra_loss(params, minibatch: Trajectory, hparams) -> (loss, aux)``
        added to PPO's loss (e.g. the action-distribution divergence to a reference policy).
    """
    env_params = env.default_params if env_params is None else env_params
    policy = Policy.for_env(env, env_params, static.continuous_squash)
    network = ActorCritic(
        policy.action_dim, policy.continuous, static.hidden_sizes, static.activation
    )
    return PPOTrainer(
        static=static,
        transform=identity() if transform is None else transform,
        env=env,
        env_params=env_params,
        policy=policy,
        network=network,
        extra_loss=extra_loss,
    )
