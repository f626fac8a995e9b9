"""SAC (Haarnoja et al. 2018) with twin Q and a learned temperature, jittable and vmappable.

Continuous actions: tanh-squashed Gaussian policy (state-dependent log σ in [−5, 2]), target
entropy −|A|. Discrete actions: the discrete SAC variant (Christodoulou 2019): the policy is a
categorical, expectations over actions are exact sums, and the target entropy is
``target_entropy_ratio · log|A|`` (rejax's convention, so the CartPole comparison is like for like).

Each gradient update: critic (clipped double Q, soft target with the current α), then actor on
the updated critic, then α; the critic target network follows by Polyak averaging (τ). The
twin critics, their targets and their loss are :mod:`jaxrl.agents.critic`'s; replay, collection
and metrics are the off-policy runner's (:func:`~jaxrl.agents.offpolicy_common.build_trainer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax.training.train_state import TrainState

from jaxrl.agents import nstep
from jaxrl.agents.absorbing import prepare_env
from jaxrl.agents.critic import TwinCritic, critic_step, init_actor_critic, polyak, td_target
from jaxrl.agents.hparams import POLYAK_BOUNDS, broadcast_hparams, check_hparams
from jaxrl.agents.networks import MLP
from jaxrl.agents.offpolicy_common import OffPolicyAgent, OffPolicyTrainer, build_trainer
from jaxrl.agents.offpolicy_config import OffPolicyStatic
from jaxrl.agents.policy import Policy
from jaxrl.distributions import diag_gaussian, squash_action
from jaxrl.shaping.transform import RewardTransform

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass(frozen=True)
class SACStatic(OffPolicyStatic):
    """SAC's static config: the shared off-policy fields."""


class SACHParams(NamedTuple):
    """Traced hyperparameters: every leaf may carry a leading vmap axis."""

    learning_rate: Any = 3e-4
    """Adam step size of actor, critics and temperature"""
    gamma: Any = 0.99
    tau: Any = 0.005
    init_alpha: Any = 1.0
    target_entropy_ratio: Any = 0.98
    """discrete actions only: target entropy = ratio · log|A| (continuous: −|A|)"""
    transform: Any = ()
    """the reward transform's params pytree"""

    broadcast = broadcast_hparams

    def check(self) -> SACHParams:
        temperature = {"init_alpha": (0.0, None), "target_entropy_ratio": (0.0, 1.0)}
        return check_hparams(
            self, {**POLYAK_BOUNDS, **temperature}, positive=("learning_rate", "init_alpha")
        )


class SACState(NamedTuple):
    actor: TrainState
    critic: TrainState
    critic_target: Any
    log_alpha: TrainState  # params: {"log_alpha": []}


def tanh_log_det(u):
    """``Σ log(1 − tanh(u)²)`` over the last axis, computed stably."""
    return jnp.sum(2.0 * (np.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def temperature_step(log_alpha: TrainState, entropy, goal) -> TrainState:
    """One step on SAC's temperature loss ``log α · (H − H̄)``: raises α when the policy's
    entropy ``H`` is below its target ``H̄`` (Haarnoja et al. 2018b, eq. 18)."""
    gap = jax.lax.stop_gradient(entropy - goal)
    grads = jax.grad(lambda la: la["log_alpha"] * gap)(log_alpha.params)
    return log_alpha.apply_gradients(grads=grads)


def make_train(
    static: SACStatic,
    env,
    transform: RewardTransform | None = None,
    env_params=None,
) -> OffPolicyTrainer:
    """Build the SAC trainer for one environment (continuous or discrete) and reward transform."""
    env_params = env.default_params if env_params is None else env_params
    env = prepare_env(env, static.absorbing, env_params)
    policy = Policy.for_env(env, env_params, "tanh")
    continuous, dim = policy.continuous, policy.action_dim
    out = 2 * dim if continuous else dim
    actor_net = MLP(static.hidden_sizes, out, static.activation, layer_norm=static.layer_norm)
    num_actions = None if continuous else dim
    critic = TwinCritic.create(
        static.hidden_sizes, static.activation, num_actions, static.layer_norm
    )
    obs_shape = env.observation_space(env_params).shape
    if continuous:
        low, high = jnp.asarray(policy.low), jnp.asarray(policy.high)

    def gaussian(params, obs):
        mean, raw = jnp.split(actor_net.apply(params, obs), 2, axis=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)
        return mean, log_std

    def sample(params, obs, key):
        """Continuous: ``(env action, log π)`` with log π in tanh space (box scale omitted)."""
        mean, log_std = gaussian(params, obs)
        u, log_prob = diag_gaussian(mean, log_std).sample_and_log_prob(seed=key)
        return squash_action(u, low, high, "tanh"), log_prob - tanh_log_det(u)

    def categorical(params, obs):
        """Discrete: ``(probs, log probs)`` ``[B, A]``."""
        log_probs = jax.nn.log_softmax(actor_net.apply(params, obs), axis=-1)
        return jnp.exp(log_probs), log_probs

    target_entropy = -float(dim)

    def init(key, hp: SACHParams) -> SACState:
        action = jnp.zeros(dim) if continuous else None
        actor, critic_ts, tx = init_actor_critic(
            key, actor_net, critic, obs_shape, action, hp.learning_rate
        )
        log_alpha = jnp.log(jnp.asarray(hp.init_alpha, jnp.float32))
        return SACState(
            actor=actor,
            critic=critic_ts,
            critic_target=critic_ts.params,
            log_alpha=TrainState.create(apply_fn=None, params={"log_alpha": log_alpha}, tx=tx),
        )

    def act(state: SACState, obs, key, deterministic: bool):
        if continuous:
            if deterministic:
                return squash_action(gaussian(state.actor.params, obs)[0], low, high, "tanh")
            return sample(state.actor.params, obs, key)[0]
        logits = actor_net.apply(state.actor.params, obs)
        if deterministic:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return jax.random.categorical(key, logits).astype(jnp.int32)

    def explore(state: SACState, obs, key, hp: SACHParams):
        del hp
        return act(state, obs, key, deterministic=False)

    def update(state: SACState, batch, key, hp: SACHParams):
        k_next, k_pi = jax.random.split(key)
        batch, gamma = nstep.target_inputs(batch, hp.gamma)  # n-step window -> (batch, γ^m)
        alpha = jnp.exp(state.log_alpha.params["log_alpha"])
        actor_params = state.actor.params

        # CRITIC: soft clipped-double-Q target at the final observation
        if continuous:
            next_a, next_logp = sample(actor_params, batch.next_obs, k_next)
            next_q = critic(state.critic_target, batch.next_obs, next_a).min(axis=0)
            next_v = next_q - alpha * next_logp
        else:
            probs, logp = categorical(actor_params, batch.next_obs)
            next_q = critic(state.critic_target, batch.next_obs).min(axis=0)  # [B, A]
            next_v = jnp.sum(probs * (next_q - alpha * logp), axis=-1)
        target = td_target(batch.reward, batch.terminated, gamma, next_v)

        def q_values(params):
            if continuous:
                return critic(params, batch.obs, batch.action)  # [2, B]
            q_all = critic(params, batch.obs)  # [2, B, A]
            return jnp.take_along_axis(q_all, batch.action[None, :, None], axis=-1)[..., 0]

        critic_ts, critic_loss, q_mean = critic_step(state.critic, q_values, target)

        # ACTOR on the updated critic
        def actor_loss_fn(params):
            if continuous:
                a, logp = sample(params, batch.obs, k_pi)
                q = critic(critic_ts.params, batch.obs, a).min(axis=0)
                return jnp.mean(alpha * logp - q), -logp.mean()
            probs, logp = categorical(params, batch.obs)
            q = critic(critic_ts.params, batch.obs).min(axis=0)
            loss = jnp.sum(probs * (alpha * logp - q), axis=-1).mean()
            return loss, -jnp.sum(probs * logp, axis=-1).mean()

        (actor_loss, entropy), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(actor_params)
        actor_ts = state.actor.apply_gradients(grads=grads)

        goal = target_entropy if continuous else hp.target_entropy_ratio * np.log(dim)
        alpha_ts = temperature_step(state.log_alpha, entropy, goal)

        state = SACState(
            actor=actor_ts,
            critic=critic_ts,
            critic_target=polyak(state.critic_target, critic_ts.params, hp.tau),
            log_alpha=alpha_ts,
        )
        losses = dict(critic_loss=critic_loss, actor_loss=actor_loss, q_mean=q_mean)
        return state, {**losses, "alpha": alpha, "entropy": entropy}

    agent = OffPolicyAgent(init=init, explore=explore, update=update, act=act)
    return build_trainer(static, env, env_params, transform, policy, agent)
