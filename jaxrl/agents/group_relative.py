"""Group-relative policy optimisation (GRPO, Shao et al. 2024; RLOO, Ahmadian et al. 2024) for
any discrete-action env with bounded episodes, on the one trainer protocol.

One update rolls out ``num_groups`` groups of ``group_size`` episodes; the episodes of a group
share their reset key (the same start: in twenty questions, the same hidden target) and differ in
their action samples. Every episode runs at most ``static.max_steps`` steps (default: the env's
``max_steps_in_episode``); steps after its end are masked out. Per-episode returns ``R_i`` and
per-step rewards-to-go ``G_{i,t} = Σ_{t'≥t} γ^{t'−t} r_{i,t'}`` (the reward through the
``RewardTransform``) give the advantage of every step:

* ``"grpo"``: ``A_{i,t} = (G_{i,t} − mean_g R) / (std_g R + eps)`` (DeepSeekMath eq. 3 with the
  reward-to-go in place of the outcome; with an outcome-only reward and γ = 1, ``G_{i,t} = R_i``
  and this is GRPO's outcome advantage exactly);
* ``"rloo"``: ``A_{i,t} = G_{i,t} − (Σ_{j≠i} R_j) / (G − 1)`` (leave-one-out baseline, no std);
* ``"igpo"``: IGPO's turn-level form (Wang et al. 2025): every turn reward is normalised by the
  mean and std of all the group's valid turn rewards, ``r̃ = (r − mean_g r) / (std_g r + eps)``,
  and ``A_{i,t} = Σ_{t'≥t} γ^{t'−t} r̃_{i,t'}`` over the episode's valid turns.

The loss is PPO's clipped surrogate on the ratio ``π_θ / π_old`` (``update_epochs`` full-batch
steps per rollout) plus ``kl_coef`` times GRPO's unbiased KL estimate to a frozen reference
policy, the initial params: ``π_ref/π_θ − log(π_ref/π_θ) − 1`` (DeepSeekMath eq. 4), minus
``ent_coef`` times the entropy; each averaged over the valid steps.

Metrics per update: ``return_env_reward``, ``return_learner_reward`` (mean episode returns),
``episode_length``, ``collapse_fraction`` (fraction of groups whose learner returns are all equal,
IGPO's "advantage collapse"), ``episodes`` (cumulative), ``loss``, ``kl``, ``clip_fraction``,
``entropy``; per chunk ``eval_return``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from jaxrl.agents.eval_config import EvalConfig
from jaxrl.agents.hparams import (
    BASE_BOUNDS,
    NONNEGATIVE,
    PROBABILITY,
    broadcast_hparams,
    check_hparams,
)
from jaxrl.agents.networks import MLP
from jaxrl.agents.rollout import evaluate_policy, reward_channels
from jaxrl.agents.trainer import TrainerBase
from jaxrl.shaping.transform import RewardTransform, Transition, identity


@dataclass(frozen=True)
class GroupStatic(EvalConfig):
    """Shapes and counts (closed over; changing one recompiles)."""

    num_groups: int = 8
    """groups per update (distinct starts)"""
    group_size: int = 8
    """G episodes per group (same reset key, different action samples)"""
    num_updates: int = 100
    """updates per run (a multiple of num_chunks)"""
    update_epochs: int = 2
    """full-batch clipped-surrogate steps per rollout"""
    max_steps: int = 0
    """steps per episode rollout; 0 means the env's max_steps_in_episode"""
    advantage: Literal["grpo", "rloo", "igpo"] = "grpo"
    """group-normalised (GRPO), leave-one-out (RLOO) or turn-normalised (IGPO) advantages"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    std_eps: float = 1e-6
    """eps in GRPO's (G − mean) / (std + eps)"""

    @property
    def batch_episodes(self) -> int:
        return self.num_groups * self.group_size

    @property
    def updates_per_chunk(self) -> int:
        return self.num_updates // self.num_chunks

    def check(self) -> None:
        self.require_positive("num_groups", "num_updates", "update_epochs")
        self.require(self.group_size >= 2, "group_size", "must be >= 2 (a group baseline)")
        super().check()
        self.require(self.max_steps >= 0, "max_steps", "must be >= 0")
        ok = self.advantage in ("grpo", "rloo", "igpo")
        self.require(ok, "advantage", "'grpo', 'rloo' or 'igpo'")
        self.require_sizes("hidden_sizes")
        self.require(self.std_eps > 0, "std_eps", "must be > 0")
        self.require(
            self.num_updates % self.num_chunks == 0,
            "num_chunks",
            f"must divide num_updates={self.num_updates}",
        )


class GroupHParams(NamedTuple):
    """Traced hyperparameters (every leaf may carry a leading vmap axis)."""

    learning_rate: Any = 3e-3
    gamma: Any = 1.0
    """discount of the reward-to-go (1: IGPO/GRPO's undiscounted sum)"""
    clip_eps: Any = 0.2
    kl_coef: Any = 0.0
    """β of the KL penalty to the frozen initial policy"""
    ent_coef: Any = 0.0
    max_grad_norm: Any = 1.0
    transform: Any = ()

    broadcast = broadcast_hparams

    def check(self) -> GroupHParams:
        bounds = {
            **BASE_BOUNDS,
            "clip_eps": PROBABILITY,
            "kl_coef": NONNEGATIVE,
            "ent_coef": NONNEGATIVE,
            "max_grad_norm": (0.0, None),
        }
        return check_hparams(self, bounds, positive=("learning_rate", "max_grad_norm"))


def group_advantages(
    returns: jax.Array, to_go: jax.Array, kind: str = "grpo", eps: float = 1e-6
) -> jax.Array:
    """Per-step advantages ``[K, G, T]`` from per-episode returns ``[K, G]`` and rewards-to-go
    ``[K, G, T]`` (``kind``: ``"grpo"`` or ``"rloo"``; see the module docstring)."""
    g = returns.shape[1]
    if kind == "grpo":
        mean = returns.mean(1, keepdims=True)
        std = returns.std(1, keepdims=True)
        return (to_go - mean[..., None]) / (std[..., None] + eps)
    if kind == "rloo":
        loo = (returns.sum(1, keepdims=True) - returns) / (g - 1)
        return to_go - loo[..., None]
    raise ValueError(f"advantage kind {kind!r}; expected 'grpo' or 'rloo'")


def igpo_advantages(rewards: jax.Array, valid: jax.Array, gamma, eps: float = 1e-6) -> jax.Array:
    """IGPO's advantages ``[K, G, T]``: turn rewards ``[K, G, T]`` normalised over the valid
    turns ``valid [K, G, T]`` of each group, then summed from each turn on (see the module
    docstring); zero on invalid turns."""
    n = jnp.maximum(valid.sum((1, 2), keepdims=True), 1.0)
    mean = jnp.sum(rewards * valid, (1, 2), keepdims=True) / n
    std = jnp.sqrt(jnp.sum((rewards - mean) ** 2 * valid, (1, 2), keepdims=True) / n)
    normalised = (rewards - mean) / (std + eps) * valid
    return rewards_to_go(normalised, gamma) * valid


def rewards_to_go(rewards: jax.Array, gamma) -> jax.Array:
    """``[..., T]`` ``G_t = r_t + γ G_{t+1}`` (masked rewards: zero after an episode's end)."""

    def back(acc, r):
        acc = r + gamma * acc
        return acc, acc

    _, out = jax.lax.scan(back, jnp.zeros(rewards.shape[:-1]), jnp.moveaxis(rewards, -1, 0),
                          reverse=True)  # fmt: skip
    return jnp.moveaxis(out, 0, -1)


class GroupState(NamedTuple):
    params: Any
    ref_params: Any  # frozen reference policy (the initial params)
    opt_state: Any
    transform_state: Any
    key: jax.Array
    episodes: jax.Array  # [] float32 episodes so far


class Rollout(NamedTuple):
    """``[T, B, ...]`` (B = num_groups * group_size, group-major)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    reward: jax.Array  # learner (transformed) reward, masked
    env_reward: jax.Array  # masked
    valid: jax.Array  # float32: the step belongs to the episode


@dataclass(frozen=True, eq=False)
class GroupTrainer(TrainerBase):
    """GRPO / RLOO on the trainer protocol (see the module docstring)."""

    static: GroupStatic
    transform: RewardTransform
    env: Any
    env_params: Any
    network: Any

    @property
    def horizon(self) -> int:
        return self.static.max_steps or int(self.env_params.max_steps_in_episode)

    def _logits(self, params, obs):
        return self.network.apply(params, obs)

    def init(self, key: jax.Array, hp: GroupHParams) -> GroupState:
        key, k_net = jax.random.split(key)
        obs_shape = self.env.observation_space(self.env_params).shape
        params = self.network.init(k_net, jnp.zeros(obs_shape))
        return GroupState(
            params=params,
            ref_params=params,
            opt_state=_ADAM.init(params),
            transform_state=self.transform.init(hp.transform),
            key=key,
            episodes=jnp.zeros((), jnp.float32),
        )

    def rollout(self, gs: GroupState, hp: GroupHParams):
        """``num_groups × group_size`` episodes of at most ``horizon`` steps -> :class:`Rollout`."""
        s = self.static
        k, g, b = s.num_groups, s.group_size, s.batch_episodes
        key, k_reset, k_steps = jax.random.split(gs.key, 3)
        reset_keys = jnp.repeat(jax.random.split(k_reset, k), g, axis=0)  # shared in a group
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(reset_keys, self.env_params)
        vstep = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))

        def body(carry, inp):
            obs, env_state, alive, t_state = carry
            t, kt = inp
            k_act, k_env = jax.random.split(kt)
            logits = self._logits(gs.params, obs)
            action = jax.random.categorical(k_act, logits).astype(jnp.int32)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], 1)[:, 0]
            nobs, env_state, r, term, trunc, info = vstep(
                jax.random.split(k_env, b), env_state, action, self.env_params
            )
            term = term.astype(bool)
            trunc = (trunc.astype(bool) | (t == self.horizon - 1)) & ~term
            tr = Transition(
                obs=obs,
                action=action,
                reward=r.astype(jnp.float32),
                next_obs=info["final_observation"],
                terminated=term,
                truncated=trunc,
                discount=hp.gamma * (1.0 - term),
                channels=reward_channels(info),
                time=jnp.full((b,), t, jnp.int32),
            )
            shaped, t_state = self.transform.apply(hp.transform, t_state, tr)
            out = Rollout(obs, action, log_prob, shaped * alive, tr.reward * alive, alive)
            alive = alive * (1.0 - (term | trunc).astype(jnp.float32))
            return (nobs, env_state, alive, t_state), out

        steps = (jnp.arange(self.horizon), jax.random.split(k_steps, self.horizon))
        init = (obs, env_state, jnp.ones(b, jnp.float32), gs.transform_state)
        (_, _, _, t_state), ro = jax.lax.scan(body, init, steps)
        return gs._replace(key=key, transform_state=t_state), ro

    def advantages(self, ro: Rollout, hp: GroupHParams):
        """``([T, B] advantages, [K, G] learner returns)``."""
        s = self.static
        shape = (s.num_groups, s.group_size, self.horizon)
        rew = ro.reward.T.reshape(shape)
        to_go = rewards_to_go(rew, hp.gamma)
        returns = rew.sum(-1)
        if s.advantage == "igpo":
            valid = ro.valid.T.reshape(shape)
            adv = igpo_advantages(rew, valid, hp.gamma, s.std_eps)
        else:
            adv = group_advantages(returns, to_go, s.advantage, s.std_eps)
        return adv.reshape(s.batch_episodes, self.horizon).T, returns

    def _loss(self, params, ref_params, ro: Rollout, adv, hp: GroupHParams):
        logp_all = jax.nn.log_softmax(self._logits(params, ro.obs))
        logp = jnp.take_along_axis(logp_all, ro.action[..., None], -1)[..., 0]
        ref_all = jax.nn.log_softmax(self._logits(ref_params, ro.obs))
        ref = jnp.take_along_axis(ref_all, ro.action[..., None], -1)[..., 0]
        ratio = jnp.exp(logp - ro.log_prob)
        clipped = jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps)
        surrogate = jnp.minimum(ratio * adv, clipped * adv)
        kl = jnp.exp(ref - logp) - (ref - logp) - 1.0  # DeepSeekMath eq. 4 (k3 estimator)
        entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, -1)
        n = jnp.maximum(ro.valid.sum(), 1.0)
        mean = lambda x: jnp.sum(x * ro.valid) / n
        loss = -mean(surrogate) + hp.kl_coef * mean(kl) - hp.ent_coef * mean(entropy)
        clip_frac = mean((jnp.abs(ratio - 1.0) > hp.clip_eps).astype(jnp.float32))
        return loss, {"loss": loss, "kl": mean(kl), "entropy": mean(entropy),
                      "clip_fraction": clip_frac}  # fmt: skip

    def update(self, gs: GroupState, hp: GroupHParams):
        s = self.static
        gs, ro = self.rollout(gs, hp)
        adv, returns = self.advantages(ro, hp)
        grad_fn = jax.grad(self._loss, has_aux=True)

        def epoch(carry, _):
            params, opt_state = carry
            grads, aux = grad_fn(params, gs.ref_params, ro, adv, hp)
            grads, _ = optax.clip_by_global_norm(hp.max_grad_norm).update(grads, optax.EmptyState())
            updates, opt_state = _ADAM.update(grads, opt_state, params)
            params = optax.apply_updates(params, jax.tree.map(lambda u: -hp.learning_rate * u,
                                                              updates))  # fmt: skip
            return (params, opt_state), aux

        (params, opt_state), aux = jax.lax.scan(
            epoch, (gs.params, gs.opt_state), None, s.update_epochs
        )
        gs = gs._replace(
            params=params, opt_state=opt_state, episodes=gs.episodes + s.batch_episodes
        )
        spread = returns.max(1) - returns.min(1)
        metrics = {k: v[0] for k, v in aux.items()}  # before the first step (on-policy)
        metrics.update(
            return_learner_reward=returns.mean(),
            return_env_reward=ro.env_reward.sum(0).mean(),
            episode_length=ro.valid.sum(0).mean(),
            collapse_fraction=(spread <= 1e-6).astype(jnp.float32).mean(),
            episodes=gs.episodes,
        )
        return gs, metrics

    def evaluate(self, gs: GroupState, hp: GroupHParams) -> jax.Array:
        """Mean first-episode return of ``static.eval_channel`` over the fixed eval keys."""
        del hp
        s = self.static

        def act(obs, keys):
            logits = self._logits(gs.params, obs)
            if s.deterministic_eval:
                return jnp.argmax(logits, -1).astype(jnp.int32)
            return jax.vmap(jax.random.categorical)(keys, logits).astype(jnp.int32)

        return evaluate_policy(
            self.env, self.env_params, act, s.eval_keys(), self.horizon, s.eval_channel
        )

    def chunk(self, gs: GroupState, hp: GroupHParams):
        """``updates_per_chunk`` updates (metrics ``[per_chunk]``), then ``eval_return [1]``."""
        gs, metrics = jax.lax.scan(
            lambda c, _: self.update(c, hp), gs, None, self.static.updates_per_chunk
        )
        metrics["eval_return"] = self.evaluate(gs, hp)[None]
        return gs, metrics


_ADAM = optax.scale_by_adam(eps=1e-5)
"""Adam's moments (the step size is the traced ``hp.learning_rate``, applied in ``update``)."""


class _PolicyNet(nn.Module):
    hidden_sizes: tuple[int, ...]
    num_actions: int

    @nn.compact
    def __call__(self, obs):
        return MLP(self.hidden_sizes, self.num_actions, "tanh", 0.01)(obs)


def make_train(
    static: GroupStatic, env, transform: RewardTransform | None = None, env_params=None
) -> GroupTrainer:
    """The group-relative trainer for one discrete-action env and one reward transform."""
    env_params = env.default_params if env_params is None else env_params
    space = env.action_space(env_params)
    if not hasattr(space, "n"):
        raise ValueError(f"group_relative needs a discrete action space, got {space}")
    network = _PolicyNet(tuple(static.hidden_sizes), int(space.n))
    transform = identity() if transform is None else transform
    return GroupTrainer(static, transform, env, env_params, network)


__all__ = [
    "GroupHParams",
    "GroupStatic",
    "GroupTrainer",
    "group_advantages",
    "igpo_advantages",
    "make_train",
    "rewards_to_go",
]
