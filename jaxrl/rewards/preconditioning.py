"""Pessimistic reward preconditioning with a learned forward model ("PURPLE"; papers.md §3.2).

Blondé et al.'s ``reward_type='gail_mod_f'`` (``liayn-pytorch``): a small forward model
``f(s, a) → s'`` is trained by MSE on agent transitions, and the reward is multiplied by

    ψ(s, a) = clamp(exp(−GP_f(s, a) / σ), ψ_min, 1),
    GP_f(s, a) = relu(‖∇_{(s,a)} Σ_i f_i(s, a)‖₂ − f_targ)²,

(the gradient of the *summed* prediction, per sample; ``f_targ`` ∈ {5, …, 10}, liayn default 9;
``ψ_min = 0.7``) where σ is a running standard deviation of GP_f (here the shared parallel-Welford
:class:`~jaxrl.shaping.stream.RunningStats` over every batch ψ was computed on, starting from
one pseudo-sample of variance 1 with weight 1e-4; ``σ = sqrt(var) + 1e-8``). ψ ∈ [ψ_min, 1] drops
where the learned dynamics are locally steep. For a non-negative reward (the minimax GAIL reward
``softplus(D)``) ``ψ·r ≤ r``, so every policy's Q under ``ψ·r`` is below its Q under ``r``:
the preconditioning is pessimistic (theory check 11). For a negative reward it is optimistic.

API: :class:`PurpleConfig` (static), :func:`init_purple`, :func:`train_forward_model_step`
(one Adam step on the MSE), :func:`forward_grad_penalty`, :func:`psi_from_penalty`,
:func:`precondition` (``(ψ·r, ψ, new running stats)``), and the reward transform
:func:`purple_preconditioning` (params: the forward model's params; state: the running stats),
which chains after :func:`jaxrl.rewards.adversarial.adversarial_reward`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxrl.rewards.penalties import input_gradient_norms
from jaxrl.shaping.stream import RunningStats, update_running_stats
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
Params = Any


class ForwardModel(nn.Module):
    """``[..., obs_dim + action_dim] -> [..., obs_dim]`` MLP predicting s'."""

    obs_dim: int
    hidden_sizes: tuple[int, ...] = (100, 100)

    @nn.compact
    def __call__(self, x):
        for h in self.hidden_sizes:
            x = nn.leaky_relu(nn.Dense(h)(x), 0.1)
        return nn.Dense(self.obs_dim)(x)


@dataclass(frozen=True)
class PurpleConfig:
    """Static settings. ``f_targ`` and ``psi_min`` are floats here; :func:`precondition` also
    takes them as traced overrides."""

    obs_dim: int
    action_dim: int
    hidden_sizes: tuple[int, ...] = (100, 100)
    learning_rate: float = 1e-3
    f_targ: float = 9.0
    psi_min: float = 0.7

    def network(self) -> ForwardModel:
        return ForwardModel(self.obs_dim, tuple(self.hidden_sizes))


@flax.struct.dataclass
class PurpleState:
    """Forward-model params, optimizer state and the running GP_f moments."""

    params: Params
    opt_state: Any
    moments: RunningStats  # of GP_f, one scalar sample per (s, a)
    config: PurpleConfig = flax.struct.field(pytree_node=False)


def init_purple(key: Array, config: PurpleConfig) -> PurpleState:
    params = config.network().init(key, jnp.zeros((1, config.obs_dim + config.action_dim)))
    tx = optax.adam(config.learning_rate)
    return PurpleState(params, tx.init(params), RunningStats.create(), config)


def _sa(obs: Array, action: Array) -> Array:
    obs = jnp.asarray(obs, jnp.result_type(float))
    return jnp.concatenate([obs, jnp.asarray(action, obs.dtype)], axis=-1)


@jax.jit
def train_forward_model_step(
    state: PurpleState, obs: Array, action: Array, next_obs: Array
) -> tuple[PurpleState, dict[str, Array]]:
    """One Adam step on ``mean ‖f(s, a) − s'‖²`` over a batch ``[B, ...]``; returns ``mse``."""
    config = state.config
    x = _sa(obs, action)

    def loss_fn(params):
        pred = config.network().apply(params, x)
        return jnp.mean(jnp.sum(jnp.square(pred - next_obs), axis=-1))

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = optax.adam(config.learning_rate).update(grads, state.opt_state)
    return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state), {
        "mse": loss
    }


def forward_grad_penalty(
    config: PurpleConfig, params: Params, obs: Array, action: Array, f_targ: Array | None = None
) -> Array:
    """Per-sample ``GP_f = relu(‖∇_{(s,a)} Σ_i f_i(s, a)‖ − f_targ)²``, shape ``[*B]``."""
    f_targ = config.f_targ if f_targ is None else f_targ
    x = _sa(obs, action)
    lead = x.shape[:-1]
    net = config.network()
    norms = input_gradient_norms(
        lambda xi: jnp.sum(net.apply(params, xi)), x.reshape(-1, x.shape[-1])
    )
    return jnp.square(jax.nn.relu(norms - f_targ)).reshape(lead)


def psi_from_penalty(gp: Array, sigma: Array, psi_min: Array = 0.7) -> Array:
    """``ψ = clamp(exp(−gp/σ), ψ_min, 1)`` (gp ≥ 0 gives ψ ≤ 1 before the clamp)."""
    return jnp.clip(jnp.exp(-jnp.asarray(gp) / sigma), psi_min, 1.0)


def precondition(
    config: PurpleConfig,
    params: Params,
    moments: RunningStats,
    reward: Array,
    obs: Array,
    action: Array,
    update_stats: bool = True,
    psi_min: Array | None = None,
    f_targ: Array | None = None,
) -> tuple[Array, Array, RunningStats]:
    """``(ψ·r, ψ, moments')``: running moments are updated with this batch's GP_f first (if
    ``update_stats``), then ``σ`` = their std is used. ``params`` is treated as constant."""
    psi_min = config.psi_min if psi_min is None else psi_min
    params = jax.lax.stop_gradient(params)
    gp = forward_grad_penalty(config, params, obs, action, f_targ)
    if update_stats:
        moments = update_running_stats(moments, gp)
    psi = psi_from_penalty(gp, jnp.sqrt(moments.var) + 1e-8, psi_min)
    reward = jnp.asarray(reward)
    return reward * psi.astype(reward.dtype), psi, moments


def purple_preconditioning(config: PurpleConfig, params: Params = None) -> RewardTransform:
    """RewardTransform ``r → ψ(s, a)·r``; params = forward-model params (an outer loop trains
    them with :func:`train_forward_model_step`), state = the :class:`RunningStats` of GP_f."""

    def init(params):
        del params
        return RunningStats.create()

    def apply(params, state, transition: Transition):
        r, _, state = precondition(
            config, params, state, transition.reward, transition.obs, transition.action
        )
        return r, state

    return RewardTransform(init, apply, params)
