"""TD3 (Fujimoto et al. 2018) as one jittable, vmappable function of ``(key, hparams)``.

Clipped double Q, target policy smoothing (noise σ=0.2 clipped to ±0.5, in units of the half
action range), delayed actor and target updates (every ``policy_delay`` critic updates), Polyak
averaging τ=0.005, Gaussian exploration noise, uniform-random warm-up. Continuous actions only.

``make_train(static, env, transform) -> trainer``; ``trainer(key, hp)`` runs everything,
``trainer.init``/``trainer.chunk`` run it in chunks (``jaxrl.experiment.run_chunked``). Shared
machinery (replay, collection, critic targets, metrics) is in ``offpolicy_common``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from jaxrl.agents.networks import MLP
from jaxrl.agents.offpolicy_common import (
    Critic,
    OffPolicyAgent,
    OffPolicyStatic,
    OffPolicyTrainer,
    TwinCritic,
    broadcast_hparams,
    build_trainer,
    check_hparams,
    make_optimizer,
    polyak,
    td_target,
)
from jaxrl.agents.policy import Policy
from jaxrl.distributions import squash_action
from jaxrl.shaping.transform import RewardTransform


@dataclass(frozen=True)
class TD3Static(OffPolicyStatic):
    """TD3's static config: the shared off-policy fields plus the actor delay."""

    policy_delay: int = 2
    """critic updates per actor (and target) update"""

    def check(self) -> None:
        super().check()
        self.require(self.policy_delay > 0, "policy_delay", "must be positive")


class TD3HParams(NamedTuple):
    """Traced hyperparameters: every leaf may carry a leading vmap axis.

    Noise scales are in units of the half action range ``(high − low)/2``.
    """

    learning_rate: Any = 3e-4
    gamma: Any = 0.99
    tau: Any = 0.005
    exploration_noise: Any = 0.1
    target_noise: Any = 0.2
    target_noise_clip: Any = 0.5
    transform: Any = ()
    """the reward transform's params pytree"""

    def broadcast(self, n: int) -> TD3HParams:
        return broadcast_hparams(self, n)

    def check(self) -> TD3HParams:
        return check_hparams(
            self,
            {
                "learning_rate": (0.0, None),
                "gamma": (0.0, 1.0),
                "tau": (0.0, 1.0),
                "exploration_noise": (0.0, None),
                "target_noise": (0.0, None),
                "target_noise_clip": (0.0, None),
            },
            positive=("learning_rate",),
        )


class TD3State(NamedTuple):
    actor: TrainState
    critic: TrainState
    actor_target: Any
    critic_target: Any
    updates: jnp.ndarray  # [] int32 critic updates done
    actor_loss: jnp.ndarray  # [] last actor loss (reported between delayed actor updates)


def make_train(
    static: TD3Static,
    env,
    transform: RewardTransform | None = None,
    env_params=None,
) -> OffPolicyTrainer:
    """Build the TD3 trainer for one (continuous-action) environment and reward transform."""
    env_params = env.default_params if env_params is None else env_params
    policy = Policy.for_env(env, env_params, "tanh")
    if not policy.continuous:
        raise ValueError("TD3 needs a continuous (Box) action space; use SAC for discrete actions")
    low, high = jnp.asarray(policy.low), jnp.asarray(policy.high)
    half_range = 0.5 * (high - low)
    actor_net = MLP(static.hidden_sizes, policy.action_dim, static.activation)
    critic = TwinCritic(Critic(static.hidden_sizes, static.activation))
    obs_shape = env.observation_space(env_params).shape

    def pi(params, obs):
        return squash_action(actor_net.apply(params, obs), low, high, "tanh")

    def init(key, hp: TD3HParams) -> TD3State:
        k_actor, k_critic = jax.random.split(key)
        obs = jnp.zeros(obs_shape)
        actor_params = actor_net.init(k_actor, obs)
        critic_params = critic.init(k_critic, obs, jnp.zeros(policy.action_dim))
        tx = make_optimizer(hp.learning_rate)
        return TD3State(
            actor=TrainState.create(apply_fn=None, params=actor_params, tx=tx),
            critic=TrainState.create(apply_fn=None, params=critic_params, tx=tx),
            actor_target=actor_params,
            critic_target=critic_params,
            updates=jnp.zeros((), jnp.int32),
            actor_loss=jnp.zeros((), jnp.float32),
        )

    def explore(state: TD3State, obs, key, hp: TD3HParams):
        a = pi(state.actor.params, obs)
        noise = hp.exploration_noise * half_range * jax.random.normal(key, a.shape)
        return jnp.clip(a + noise, low, high)

    def act(state: TD3State, obs, key, deterministic: bool):
        del key, deterministic  # TD3's policy is deterministic
        return pi(state.actor.params, obs)

    def update(state: TD3State, batch, key, hp: TD3HParams):
        # CRITIC: clipped double Q with target policy smoothing
        eps = jax.random.normal(key, batch.action.shape)
        noise = jnp.clip(hp.target_noise * eps, -hp.target_noise_clip, hp.target_noise_clip)
        next_action = jnp.clip(
            pi(state.actor_target, batch.next_obs) + noise * half_range, low, high
        )
        next_q = critic(state.critic_target, batch.next_obs, next_action).min(axis=0)
        target = td_target(batch.reward, batch.terminated, hp.gamma, next_q)

        def critic_loss_fn(params):
            q = critic(params, batch.obs, batch.action)  # [2, B]
            return ((q - target) ** 2).mean(axis=1).sum(), q.mean()

        (critic_loss, q_mean), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic.params
        )
        state = state._replace(critic=state.critic.apply_gradients(grads=grads))

        # ACTOR (delayed): maximise Q1(s, π(s)), then move both targets
        def actor_step(state: TD3State) -> TD3State:
            def actor_loss_fn(params):
                a = pi(params, batch.obs)
                q1 = critic.net.apply(
                    jax.tree.map(lambda p: p[0], state.critic.params), batch.obs, a
                )
                return -q1.mean()

            loss, grads = jax.value_and_grad(actor_loss_fn)(state.actor.params)
            actor = state.actor.apply_gradients(grads=grads)
            return state._replace(
                actor=actor,
                actor_target=polyak(state.actor_target, actor.params, hp.tau),
                critic_target=polyak(state.critic_target, state.critic.params, hp.tau),
                actor_loss=loss,
            )

        state = jax.lax.cond(
            state.updates % static.policy_delay == 0, actor_step, lambda s: s, state
        )
        state = state._replace(updates=state.updates + 1)
        metrics = {
            "critic_loss": critic_loss,
            "actor_loss": state.actor_loss,
            "q_mean": q_mean,
        }
        return state, metrics

    agent = OffPolicyAgent(init=init, explore=explore, update=update, act=act)
    return build_trainer(static, env, env_params, transform, policy, agent)
