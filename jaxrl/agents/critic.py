"""Critic pieces of the off-policy agents (TD3, SAC): targets, Polyak averaging, (twin) Q-networks.

Every critic target is :func:`td_target` ``= r + γ(1 − terminated)·V'(s')`` with ``s'`` the final
observation of the step, so a time-limit truncation bootstraps and a termination does not.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from jaxrl.agents.networks import MLP


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
    layer_norm: bool = False  # LayerNorm in the hidden layers (networks.MLP)

    @nn.compact
    def __call__(self, obs, action=None):
        if self.num_actions is not None:
            return MLP(self.hidden_sizes, self.num_actions, self.activation, 1.0, self.layer_norm)(
                obs
            )
        x = jnp.concatenate([obs, action], axis=-1)
        return MLP(self.hidden_sizes, 1, self.activation, 1.0, self.layer_norm)(x)[..., 0]


class TwinCritic(NamedTuple):
    """Two critics as one params pytree with a leading ``[2]`` axis (vmapped init/apply)."""

    net: Critic
    num: int = 2

    @classmethod
    def create(
        cls, hidden_sizes, activation, num_actions: int | None = None, layer_norm: bool = False
    ) -> TwinCritic:
        """Twin :class:`Critic`\\s (``num_actions``: one output per discrete action)."""
        return cls(Critic(tuple(hidden_sizes), activation, num_actions, layer_norm))

    def init(self, key, obs, action=None):
        keys = jax.random.split(key, self.num)
        return jax.vmap(lambda k: self.net.init(k, obs, action))(keys)

    def __call__(self, params, obs, action=None):
        """``[2, B]`` (continuous) or ``[2, B, A]`` (discrete)."""
        return jax.vmap(lambda p: self.net.apply(p, obs, action))(params)


def make_optimizer(learning_rate):
    """Adam with the learning rate as an injected (vmappable, checkpointed) hyperparameter."""
    return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate)


def init_actor_critic(key, actor_net, critic: TwinCritic, obs_shape, action, learning_rate):
    """Actor and twin-critic ``TrainState``\\s on one :func:`make_optimizer` -> ``(actor, critic,
    tx)``; ``action`` is an example action for a continuous critic (``None`` if discrete)."""
    k_actor, k_critic = jax.random.split(key)
    obs = jnp.zeros(obs_shape)
    tx = make_optimizer(learning_rate)
    actor = TrainState.create(apply_fn=None, params=actor_net.init(k_actor, obs), tx=tx)
    critic_ts = TrainState.create(apply_fn=None, params=critic.init(k_critic, obs, action), tx=tx)
    return actor, critic_ts, tx


def critic_step(critic_ts: TrainState, q_values, target):
    """One gradient step of the twin critics on ``Σ_twins mean_B (Q − target)²``.

    ``q_values(params) -> [2, B]`` are the twins' Q of the batch's actions; returns
    ``(critic_ts, loss, mean Q)``.
    """

    def loss_fn(params):
        q = q_values(params)
        return ((q - target) ** 2).mean(axis=1).sum(), q.mean()

    (loss, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(critic_ts.params)
    return critic_ts.apply_gradients(grads=grads), loss, q_mean
