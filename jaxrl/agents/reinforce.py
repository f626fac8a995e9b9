"""REINFORCE and episodic actor-critic with linear or MLP policies on fixed state features.

The agents of BARFI's experiments (papers.md §2.2): softmax (discrete) or Gaussian (continuous)
policies on a fixed feature map ``x(s)`` (a Fourier basis here), trained one episode at a time.

* **Episodes** are collected with a fixed maximum length ``T`` as fixed-shape ``[T]`` arrays with a
  ``mask`` (:func:`collect_episode`, one ``lax.scan``; the env auto-resets and steps after the end
  are masked out). ``T`` must be ≥ the env's ``max_steps_in_episode``, so every episode ends
  (terminated or truncated) inside the window.
* **REINFORCE** ascends ``Σ_t m_t G_t log π(a_t|s_t) + c_H Σ_t m_t H(π(·|s_t))`` with the
  Monte-Carlo return ``G_t = Σ_k γ^k r_{t+k}`` inside the episode (a truncated episode is
  treated as ended: REINFORCE has nothing to bootstrap with). ``gamma_t_weight`` multiplies
  the t-th term by ``γ^t`` (the unbiased discounted policy gradient; off by default).
* **Actor-critic** (``actor_critic=True``): a linear/MLP critic V on the same features, TD(0)
  errors ``δ_t = r_t + γ(1 − terminated_t)V(s'_t) − V(s_t)``, with ``s'_t`` the final observation on
  the last step, so a truncated episode bootstraps and a terminated one does not. One batch update
  of actor (``Σ δ_t log π``) and critic (``−½Σ δ_t²``, semi-gradient) per episode.
* **Reward.** The learner's per-step reward is ``r_p + aux_coef·r_aux + pbrs_coef·F`` with the
  primary reward ``r_p`` (``info["true_reward"]``), the aux reward (``info["aux_reward"]``) and
  the PBRS term ``F_t = γ(1 − terminated_t)Φ_{t+1} − Φ_t`` that uses the aux reward of each step
  as its potential, ``Φ_t = r_aux,t``, and ``Φ = 0`` after the last step of an episode
  (:func:`jaxrl.shaping.potential.potential_shaping`). This is BARFI's ``REINFORCEPotential``
  ("returns minus aux": the shaped return is ``G_t − Φ_t``) and ``ActorCriticPotential``. The three
  baselines are hyperparameter points of one trainer, so ``vmap`` runs them together:
  primary only (0, 0), naive sum (1, 0), PBRS (0, 1). ``pbrs_arrival_coef`` adds the
  state-potential variant :func:`pbrs_arrival_term` (Φ(s_{t+1}) = r_aux,t).

``make_train(static, env, features, env_params) -> ReinforceTrainer`` with ``init(key, hp)`` and
``chunk(state, hp) -> (state, metrics)`` for :func:`jaxrl.experiment.run_chunked`; metrics are
per episode: ``primary_return`` (undiscounted), ``aux_return``, ``length``.

Optimiser: RMSprop with a traced learning rate (``optax.rmsprop(1)`` then scaled), as BARFI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partialmethod
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.agents.hparams import broadcast_hparams
from jaxrl.config import Config
from jaxrl.shaping.potential import potential_shaping

Array = Any
FeaturesFn = Callable[[Array], Array]


# ----------------------------------------------------------------------------- features
def fourier_basis(low, high, order: int, coupled: bool = True) -> tuple[FeaturesFn, int]:
    """Fourier basis ``cos(π c·s̃)`` on ``s̃ = clip((s − low)/(high − low), 0, 1)``.

    ``coupled=True``: all ``(order + 1)^d`` integer vectors ``c ∈ {0..order}^d`` (Konidaris et
    al. 2011); ``False``: the constant plus ``cos(π k s̃_i)``, k = 1..order, per dimension
    (``1 + d·order`` features). Returns ``(features_fn, n_features)``; ``features_fn`` maps
    ``[*B, d] -> [*B, F]`` float32.
    """
    low = np.asarray(low, np.float32)
    high = np.asarray(high, np.float32)
    d = low.shape[0]
    if coupled:
        c = np.stack(np.meshgrid(*[np.arange(order + 1)] * d, indexing="ij"), -1).reshape(-1, d)
    else:
        rows = [np.zeros(d)] + [k * np.eye(d)[i] for i in range(d) for k in range(1, order + 1)]
        c = np.stack(rows)
    c = jnp.asarray(c, jnp.float32)

    def features(obs):
        s = jnp.clip((jnp.asarray(obs, jnp.float32) - low) / (high - low), 0.0, 1.0)
        return jnp.cos(jnp.pi * s @ c.T)

    return features, int(c.shape[0])


def bias_and_raw(scale) -> FeaturesFn:
    """``[1, obs/scale]`` features (e.g. for MuJoCo/Brax obs)."""
    scale = np.asarray(scale, np.float32)

    def features(obs):
        x = jnp.asarray(obs, jnp.float32) / scale
        return jnp.concatenate([jnp.ones((*x.shape[:-1], 1), x.dtype), x], -1)

    return features


# ----------------------------------------------------------------------------- policies
@dataclass(frozen=True)
class PolicySpec:
    """A softmax (``continuous=False``) or Gaussian policy on features; linear if no hidden layer.

    Params are a list of ``(W, b)`` layers (tanh between them); the linear policy's single layer
    starts at zero (uniform softmax / zero mean), hidden layers use a scaled normal init.
    """

    n_features: int
    action_dim: int
    continuous: bool = False
    hidden_sizes: tuple[int, ...] = ()

    def init(self, key) -> list:
        sizes = (self.n_features, *self.hidden_sizes, self.action_dim)
        layers = []
        for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            key, k = jax.random.split(key)
            last = i == len(sizes) - 2
            w = jnp.zeros((m, n)) if last else jax.random.normal(k, (m, n)) / math.sqrt(m)
            layers.append((w, jnp.zeros((n,))))
        return layers

    def out(self, params, feat):
        """Logits (discrete) or mean (continuous) ``[*B, A]``."""
        h = feat
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jnp.tanh(h)
        return h

    def log_prob(self, params, feat, action, std=0.1):
        o = self.out(params, feat)
        if self.continuous:
            z = (action - o) / std
            return jnp.sum(-0.5 * z**2 - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi), -1)
        logp = jax.nn.log_softmax(o)
        return jnp.take_along_axis(logp, jnp.asarray(action, jnp.int32)[..., None], -1)[..., 0]

    def entropy(self, params, feat, std=0.1):
        o = self.out(params, feat)
        if self.continuous:
            per = 0.5 * jnp.log(2 * jnp.pi * jnp.e * std**2)
            return jnp.full(o.shape[:-1], self.action_dim * per)
        logp = jax.nn.log_softmax(o)
        return -jnp.sum(jnp.exp(logp) * logp, -1)

    def sample(self, params, feat, key, std=0.1):
        o = self.out(params, feat)
        if self.continuous:
            return o + std * jax.random.normal(key, o.shape)
        return jax.random.categorical(key, o).astype(jnp.int32)

    def mode(self, params, feat):
        o = self.out(params, feat)
        return o if self.continuous else jnp.argmax(o, -1).astype(jnp.int32)

    @classmethod
    def for_env(cls, env, env_params, n_features, hidden_sizes=()) -> PolicySpec:
        space = env.action_space(env_params)
        if hasattr(space, "n"):
            return cls(n_features, int(space.n), False, tuple(hidden_sizes))
        return cls(n_features, int(space.shape[0]), True, tuple(hidden_sizes))


# ----------------------------------------------------------------------------- episodes
class Episode(NamedTuple):
    """One episode in a fixed ``[T]`` window (leading batch axes allowed)."""

    obs: Array  # [T, *obs] the state each step leaves
    next_obs: Array  # [T, *obs] arrival state (final observation on the last step)
    action: Array  # [T, *act]
    reward: Array  # [T] primary reward (info["true_reward"])
    aux: Array  # [T] info["aux_reward"] (0 if the env has none)
    mask: Array  # [T] float, 1 on steps of the episode
    terminated: Array  # [T] bool (True at most on the last step)
    truncated: Array  # [T] bool


def collect_episode(env, env_params, policy: PolicySpec, features: FeaturesFn, T: int):
    """``collect(params, key, std) -> Episode``: one episode from a reset, ``T`` env steps."""

    def collect(params, key, std=0.1):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, env_params)

        def step(carry, k):
            obs, state, alive = carry
            k_act, k_env = jax.random.split(k)
            action = policy.sample(params, features(obs), k_act, std)
            nobs, state, reward, term, trunc, info = env.step(k_env, state, action, env_params)
            aux = info.get("aux_reward", jnp.zeros((), jnp.float32))
            out = Episode(
                obs=obs,
                next_obs=info["final_observation"],
                action=action,
                reward=jnp.asarray(info.get("true_reward", reward), jnp.float32),
                aux=jnp.asarray(aux, jnp.float32),
                mask=alive.astype(jnp.float32),
                terminated=jnp.asarray(term, bool) & alive,
                truncated=jnp.asarray(trunc, bool) & alive,
            )
            alive = alive & ~(jnp.asarray(term, bool) | jnp.asarray(trunc, bool))
            return (nobs, state, alive), out

        _, ep = jax.lax.scan(step, (obs, state, jnp.ones((), bool)), jax.random.split(k_run, T))
        return ep

    return collect


def discounted_returns(rewards: Array, mask: Array, gamma: Array) -> Array:
    """``G_t = Σ_k γ^k r_{t+k} m_{t+k}`` over the ``[T]`` axis (differentiable in r and γ)."""

    def back(g, x):
        r, m = x
        g = m * (r + gamma * g)
        return g, g

    _, G = jax.lax.scan(back, jnp.zeros((), rewards.dtype), (rewards, mask), reverse=True)
    return G


def pbrs_aux_term(ep: Episode, gamma) -> Array:
    """``F_t = γ(1 − terminated_t)Φ_{t+1} − Φ_t`` with ``Φ_t = r_aux,t`` and Φ = 0 after the end."""
    aux = ep.aux * ep.mask
    nxt = jnp.concatenate([aux[1:], jnp.zeros_like(aux[:1])])
    discount = gamma * (1.0 - ep.terminated.astype(aux.dtype))
    return potential_shaping(aux, nxt, discount) * ep.mask


def reinforce_objective(
    policy: PolicySpec,
    params,
    feat: Array,
    ep: Episode,
    rewards: Array,
    gamma: Array,
    entropy_coef: Array = 0.0,
    std: Array = 0.1,
    gamma_t_weight: bool = False,
) -> Array:
    """REINFORCE surrogate ``Σ_t m_t w_t G_t log π(a_t|s_t) + c_H Σ_t m_t H_t`` of one episode.

    ``feat`` ``[T, F]`` are the features of ``ep.obs``; ``rewards`` ``[T]`` the learner's
    rewards; ``w_t = γ^t`` if ``gamma_t_weight`` else 1. Its gradient in ``params`` is the
    REINFORCE gradient; ``rewards`` and ``gamma`` stay differentiable (BARFI's inner objective).
    """
    G = discounted_returns(rewards, ep.mask, gamma)
    logp = policy.log_prob(params, feat, ep.action, std)
    if gamma_t_weight:
        G = G * gamma ** jnp.arange(G.shape[0], dtype=G.dtype)
    ent = policy.entropy(params, feat, std)
    return jnp.sum(ep.mask * (G * logp + entropy_coef * ent))


def rmsprop_ascent(tx, grads, opt_state, params, lr):
    """One RMSprop *ascent* step with traced learning rate ``lr``."""
    neg = jax.tree.map(lambda g: -g, grads)
    upd, opt_state = tx.update(neg, opt_state, params)
    return jax.tree.map(lambda p, u: p + lr * u, params, upd), opt_state


def make_rmsprop(decay=0.99, eps=1e-8):
    return optax.rmsprop(1.0, decay=decay, eps=eps)


# ----------------------------------------------------------------------------- trainer
@dataclass(frozen=True)
class ReinforceStatic(Config):
    """Shapes and counts of a REINFORCE / actor-critic run (closed over)."""

    episodes: int = 1000
    """training episodes per run"""
    num_chunks: int = 10
    """chunks (checkpoints) of the run"""
    max_steps: int = 0
    """episode window T; 0 means the env's max_steps_in_episode"""
    hidden_sizes: tuple[int, ...] = ()
    """policy (and critic) hidden layers; () is linear"""
    actor_critic: bool = False
    """TD(0) actor-critic instead of REINFORCE"""
    gamma_t_weight: bool = False
    """weight the t-th policy-gradient term by γ^t"""

    @property
    def episodes_per_chunk(self) -> int:
        return self.episodes // self.num_chunks

    def check(self) -> None:
        self.require(self.episodes > 0, "episodes", "must be positive")
        self.require(
            self.num_chunks > 0 and self.episodes % self.num_chunks == 0,
            "num_chunks",
            "must divide episodes",
        )


class ReinforceHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    actor_lr: Any = 1e-3
    critic_lr: Any = 1e-2
    gamma: Any = 0.99
    entropy_coef: Any = 0.0
    aux_coef: Any = 0.0
    """weight of r_aux in the learner's reward (naive sum: 1)"""
    pbrs_coef: Any = 0.0
    """weight of the PBRS term with the aux reward of each step as its potential (BARFI code)"""
    pbrs_arrival_coef: Any = 0.0
    """weight of the PBRS term with the aux reward as the potential of the arrival state"""
    gauss_std: Any = 0.1

    broadcast = partialmethod(broadcast_hparams, dtype=jnp.float32)


class ReinforceState(NamedTuple):
    params: Any
    opt_state: Any
    critic: Any
    critic_opt: Any
    key: Array
    episode: Array


@dataclass(frozen=True, eq=False)
class ReinforceTrainer:
    static: ReinforceStatic
    policy: PolicySpec
    features: FeaturesFn
    collect: Any
    init: Any
    chunk: Any
    update: Any


def pbrs_arrival_term(ep: Episode, gamma) -> Array:
    """PBRS with a *state* potential read off the aux stream: ``Φ(s_{t+1}) := r_aux,t``.

    ``F_t = γ(1 − terminated_t)·r_aux,t − r_aux,t−1`` (``r_aux,−1 = 0``: the start state's
    potential is taken as 0, a constant that does not change the policy gradient). Exact PBRS when
    the aux reward is a function of the arrival state (the gridworld's, up to the sub-steps); for
    REINFORCE the shaped return is ``G_t − r_aux,t−1``, a baseline that leaves the expected
    gradient unchanged (contrast :func:`pbrs_aux_term`, whose ``Φ_t = r_aux,t`` depends on a_t).
    """
    aux = ep.aux * ep.mask
    prev = jnp.concatenate([jnp.zeros_like(aux[:1]), aux[:-1]])
    discount = gamma * (1.0 - ep.terminated.astype(aux.dtype))
    return potential_shaping(prev, aux, discount) * ep.mask


def learner_rewards(ep: Episode, hp) -> Array:
    """``m·(r_p + aux_coef·r_aux) + pbrs_coef·F + pbrs_arrival_coef·F_arrival``."""
    r = ep.mask * (ep.reward + hp.aux_coef * ep.aux)
    r = r + hp.pbrs_coef * pbrs_aux_term(ep, hp.gamma)
    return r + hp.pbrs_arrival_coef * pbrs_arrival_term(ep, hp.gamma)


def make_train(
    static: ReinforceStatic, env, features: FeaturesFn, n_features: int, env_params=None
) -> ReinforceTrainer:
    """REINFORCE / actor-critic on ``env`` with the learner's reward of :func:`learner_rewards`."""
    env_params = env.default_params if env_params is None else env_params
    T = static.max_steps or int(env_params.max_steps_in_episode)
    if T < int(env_params.max_steps_in_episode):
        raise ValueError(f"max_steps={T} < env max_steps_in_episode")
    policy = PolicySpec.for_env(env, env_params, n_features, static.hidden_sizes)
    critic_spec = PolicySpec(n_features, 1, True, static.hidden_sizes)
    collect = collect_episode(env, env_params, policy, features, T)
    tx = make_rmsprop()

    def init(key, hp: ReinforceHParams) -> ReinforceState:
        key, k_pi, k_v = jax.random.split(key, 3)
        params = policy.init(k_pi)
        critic = critic_spec.init(k_v)
        return ReinforceState(
            params, tx.init(params), critic, tx.init(critic), key, jnp.zeros((), jnp.int32)
        )

    def update(st: ReinforceState, ep: Episode, hp: ReinforceHParams) -> ReinforceState:
        feat = features(ep.obs)
        r = learner_rewards(ep, hp)
        if static.actor_critic:
            v = critic_spec.out(st.critic, feat)[..., 0]
            v_next = critic_spec.out(st.critic, features(ep.next_obs))[..., 0]
            disc = hp.gamma * (1.0 - ep.terminated.astype(r.dtype))
            delta = jax.lax.stop_gradient(ep.mask * (r + disc * v_next - v))

            def actor_obj(p):
                logp = policy.log_prob(p, feat, ep.action, hp.gauss_std)
                ent = policy.entropy(p, feat, hp.gauss_std)
                w = hp.gamma ** jnp.arange(T) if static.gamma_t_weight else 1.0
                return jnp.sum(ep.mask * (w * delta * logp + hp.entropy_coef * ent))

            def critic_obj(c):  # semi-gradient TD(0): ascend Σ δ V(s)
                return jnp.sum(delta * critic_spec.out(c, feat)[..., 0])

            g = jax.grad(actor_obj)(st.params)
            gc = jax.grad(critic_obj)(st.critic)
            critic, critic_opt = rmsprop_ascent(tx, gc, st.critic_opt, st.critic, hp.critic_lr)
        else:
            g = jax.grad(
                lambda p: reinforce_objective(
                    policy,
                    p,
                    feat,
                    ep,
                    r,
                    hp.gamma,
                    hp.entropy_coef,
                    hp.gauss_std,
                    static.gamma_t_weight,
                )
            )(st.params)
            critic, critic_opt = st.critic, st.critic_opt
        params, opt_state = rmsprop_ascent(tx, g, st.opt_state, st.params, hp.actor_lr)
        return st._replace(params=params, opt_state=opt_state, critic=critic, critic_opt=critic_opt)

    def one_episode(st: ReinforceState, hp):
        key, k = jax.random.split(st.key)
        ep = collect(st.params, k, hp.gauss_std)
        st = update(st._replace(key=key), ep, hp)
        metrics = {
            "primary_return": jnp.sum(ep.mask * ep.reward),
            "aux_return": jnp.sum(ep.mask * ep.aux),
            "length": jnp.sum(ep.mask),
        }
        return st._replace(episode=st.episode + 1), metrics

    def chunk(st: ReinforceState, hp: ReinforceHParams):
        return jax.lax.scan(lambda s, _: one_episode(s, hp), st, None, static.episodes_per_chunk)

    return ReinforceTrainer(static, policy, features, collect, init, chunk, update)
