"""TD3 (Fujimoto et al. 2018) as one jittable, vmappable function of ``(key, hparams)``.

Clipped double Q, target policy smoothing (noise σ=0.2 clipped to ±0.5, in units of the half
action range), delayed actor and target updates (every ``policy_delay`` critic updates), Polyak
averaging τ=0.005, Gaussian exploration noise, uniform-random warm-up. Continuous actions only.
Options (static, off by default): ``layer_norm`` actor and critics, ``n_step`` targets
(:mod:`jaxrl.agents.nstep`), DAC ``absorbing`` states (:mod:`jaxrl.agents.absorbing`).

``make_train(static, env, transform) -> trainer``; ``trainer(key, hp)`` runs everything,
``trainer.init``/``trainer.chunk`` run it in chunks (``jaxrl.experiment.run_chunked``), as
for every agent built on :mod:`jaxrl.agents.offpolicy_common`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from jaxrl.agents import nstep
from jaxrl.agents.absorbing import prepare_env
from jaxrl.agents.critic import TwinCritic, critic_step, init_actor_critic, polyak, td_target
from jaxrl.agents.hparams import POLYAK_BOUNDS, broadcast_hparams, check_hparams
from jaxrl.agents.networks import MLP
from jaxrl.agents.offpolicy_common import OffPolicyAgent, OffPolicyTrainer, build_trainer
from jaxrl.agents.offpolicy_config import OffPolicyStatic
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

    broadcast = broadcast_hparams

    def check(self) -> TD3HParams:
        noise = ("exploration_noise", "target_noise", "target_noise_clip")
        bounds = {**POLYAK_BOUNDS, **{name: (0.0, None) for name in noise}}
        return check_hparams(self, bounds, positive=("learning_rate",))


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
    env = prepare_env(env, static.absorbing, env_params)
    policy = Policy.for_env(env, env_params, "tanh")
    if not policy.continuous:
        raise ValueError("TD3 needs a continuous (Box) action space; use SAC for discrete actions")
    low, high = jnp.asarray(policy.low), jnp.asarray(policy.high)
    half_range = 0.5 * (high - low)
    actor_net = MLP(
        static.hidden_sizes, policy.action_dim, static.activation, layer_norm=static.layer_norm
    )
    critic = TwinCritic.create(static.hidden_sizes, static.activation, layer_norm=static.layer_norm)
    obs_shape = env.observation_space(env_params).shape

    def pi(params, obs):
        return squash_action(actor_net.apply(params, obs), low, high, "tanh")

    def init(key, hp: TD3HParams) -> TD3State:
        action = jnp.zeros(policy.action_dim)
        actor, critic_ts, _ = init_actor_critic(
            key, actor_net, critic, obs_shape, action, hp.learning_rate
        )
        return TD3State(
            actor=actor,
            critic=critic_ts,
            actor_target=actor.params,
            critic_target=critic_ts.params,
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
        # n-step window -> (first step, Σ γ^k r, bootstrap step); one-step: as is, discount γ
        batch, gamma = nstep.target_inputs(batch, hp.gamma)
        # CRITIC: clipped double Q with target policy smoothing
        eps = jax.random.normal(key, batch.action.shape)
        noise = jnp.clip(hp.target_noise * eps, -hp.target_noise_clip, hp.target_noise_clip)
        next_action = jnp.clip(
            pi(state.actor_target, batch.next_obs) + noise * half_range, low, high
        )
        next_q = critic(state.critic_target, batch.next_obs, next_action).min(axis=0)
        target = td_target(batch.reward, batch.terminated, gamma, next_q)

        q_values = lambda params: critic(params, batch.obs, batch.action)  # [2, B]
        critic_ts, critic_loss, q_mean = critic_step(state.critic, q_values, target)
        state = state._replace(critic=critic_ts)

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
