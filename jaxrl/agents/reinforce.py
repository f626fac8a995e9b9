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
* **Reward.** The learner receives every reward through a ``RewardTransform`` (``transform``,
  params ``hp.transform``; default the primary reward alone) applied to the episode's
  :func:`episode_transition`: reward ``r_p`` (``info["true_reward"]``), channel ``"aux"``
  (``info["aux_reward"]``), ``discount = γ(1 − terminated)``. BARFI's baselines are
  :func:`jaxrl.shaping.aux_reward.aux_shaping` with params ``(aux_coef, pbrs_coef,
  pbrs_arrival_coef)``: primary only (0, 0, 0), naive sum (1, 0, 0), PBRS with ``Φ_t = r_aux,t``
  (0, 1, 0; BARFI's ``REINFORCEPotential``) and state PBRS (0, 0, 1), one ``vmap``.

``make_train(static, env, features, n_features, env_params, transform) -> ReinforceTrainer``
follows :mod:`jaxrl.agents.trainer`; metrics are per episode: ``primary_return``
(undiscounted), ``aux_return``, ``length``.

Optimiser: RMSprop with a traced learning rate (``optax.rmsprop(1)`` then scaled), as BARFI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partialmethod
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.agents.hparams import BASE_BOUNDS, NONNEGATIVE, broadcast_hparams, check_hparams
from jaxrl.agents.policy import FeaturePolicy
from jaxrl.agents.trainer import TrainerBase
from jaxrl.config import Config
from jaxrl.shaping.aux_reward import AUX_CHANNEL
from jaxrl.shaping.transform import RewardTransform, Transition, identity

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


def collect_episode(env, env_params, policy: FeaturePolicy, features: FeaturesFn, T: int):
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


def reinforce_objective(
    policy: FeaturePolicy,
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
    num_eval_episodes: int = 8
    """episodes per ``evaluate`` (sampled from the policy)"""
    eval_seed: int = 12345
    """fixes the evaluation episodes' keys"""

    @property
    def episodes_per_chunk(self) -> int:
        return self.episodes // self.num_chunks

    def check(self) -> None:
        self.require(self.episodes > 0, "episodes", "must be positive")
        self.require(self.num_eval_episodes > 0, "num_eval_episodes", "must be positive")
        self.require(self.max_steps >= 0, "max_steps", "must be >= 0 (0: the env's limit)")
        self.require(all(h > 0 for h in self.hidden_sizes), "hidden_sizes", "sizes must be > 0")
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
    gauss_std: Any = 0.1
    """standard deviation of the Gaussian policy (continuous actions)"""
    transform: Any = None
    """params of the trainer's reward transform; None means its ``default_params``"""

    broadcast = partialmethod(broadcast_hparams, dtype=jnp.float32)

    def check(self):
        bounds = {
            "gamma": BASE_BOUNDS["gamma"],
            "actor_lr": NONNEGATIVE,  # 0: a frozen policy (a baseline)
            "critic_lr": NONNEGATIVE,  # unused by REINFORCE
            "entropy_coef": NONNEGATIVE,
        }
        return check_hparams(self, bounds, positive=("gauss_std",))


def transform_params(transform: RewardTransform, hp) -> Any:
    """``hp.transform``, or the transform's ``default_params`` when it is None."""
    return transform.default_params if hp.transform is None else hp.transform


def episode_transition(ep: Episode, gamma) -> Transition:
    """The episode ``[T]`` as a reward transform sees it (:mod:`jaxrl.shaping.transform`).

    Rewards and the ``"aux"`` channel are zero after the episode's end (``mask = 0``), so episode
    transforms (:mod:`jaxrl.shaping.aux_reward`) see a zero potential there; ``discount`` is
    ``γ(1 − terminated)`` and ``time`` the step index.
    """
    T = ep.mask.shape[-1]
    return Transition(
        obs=ep.obs,
        action=ep.action,
        reward=ep.reward * ep.mask,
        next_obs=ep.next_obs,
        terminated=ep.terminated,
        truncated=ep.truncated,
        discount=gamma * (1.0 - ep.terminated.astype(ep.reward.dtype)),
        channels={AUX_CHANNEL: ep.aux * ep.mask},
        time=jnp.broadcast_to(jnp.arange(T), ep.mask.shape),
    )


def learner_rewards(transform: RewardTransform, params, ep: Episode, gamma) -> Array:
    """``m_t · r̃_t`` ``[T]``: the transform's reward on the episode, zero after its end.

    The transform starts from ``init(params)`` each episode (REINFORCE's transforms are
    per-episode); differentiable in ``params`` (BARFI's hypergradient) and ``gamma``.
    """
    r, _ = transform.apply(params, transform.init(params), episode_transition(ep, gamma))
    return ep.mask * r


class ReinforceState(NamedTuple):
    params: Any
    opt_state: Any
    critic: Any
    critic_opt: Any
    key: Array
    episode: Array


@dataclass(frozen=True, eq=False)
class ReinforceTrainer(TrainerBase):
    """REINFORCE / actor-critic (the :class:`jaxrl.agents.trainer.Trainer` protocol)."""

    static: ReinforceStatic
    transform: RewardTransform
    policy: FeaturePolicy
    critic: FeaturePolicy
    features: FeaturesFn
    collect: Callable
    """``collect(params, key, std) -> Episode`` (:func:`collect_episode`)"""
    tx: optax.GradientTransformation

    def init(self, key, hp: ReinforceHParams) -> ReinforceState:
        key, k_pi, k_v = jax.random.split(key, 3)
        params = self.policy.init(k_pi)
        critic = self.critic.init(k_v)
        zero = jnp.zeros((), jnp.int32)
        return ReinforceState(params, self.tx.init(params), critic, self.tx.init(critic), key, zero)

    def _actor_critic_grads(self, st: ReinforceState, feat, ep: Episode, r, hp):
        """TD(0) actor and semi-gradient critic gradients (ascent directions) of one episode."""
        critic_out = lambda c, f: self.critic.out(c, f)[..., 0]
        v = critic_out(st.critic, feat)
        v_next = critic_out(st.critic, self.features(ep.next_obs))
        disc = hp.gamma * (1.0 - ep.terminated.astype(r.dtype))
        delta = jax.lax.stop_gradient(ep.mask * (r + disc * v_next - v))
        T = ep.mask.shape[-1]

        def actor_obj(p):
            logp = self.policy.log_prob(p, feat, ep.action, hp.gauss_std)
            ent = self.policy.entropy(p, feat, hp.gauss_std)
            w = hp.gamma ** jnp.arange(T) if self.static.gamma_t_weight else 1.0
            return jnp.sum(ep.mask * (w * delta * logp + hp.entropy_coef * ent))

        def critic_obj(c):  # semi-gradient TD(0): ascend Σ δ V(s)
            return jnp.sum(delta * critic_out(c, feat))

        return jax.grad(actor_obj)(st.params), jax.grad(critic_obj)(st.critic)

    def update(self, st: ReinforceState, ep: Episode, hp: ReinforceHParams) -> ReinforceState:
        """One policy (and critic) step on episode ``ep`` ``[T]``."""
        feat = self.features(ep.obs)
        r = learner_rewards(self.transform, transform_params(self.transform, hp), ep, hp.gamma)
        critic, critic_opt = st.critic, st.critic_opt
        if self.static.actor_critic:
            g, gc = self._actor_critic_grads(st, feat, ep, r, hp)
            critic, critic_opt = rmsprop_ascent(self.tx, gc, critic_opt, critic, hp.critic_lr)
        else:
            objective = lambda p: reinforce_objective(
                self.policy, p, feat, ep, r, hp.gamma, hp.entropy_coef, hp.gauss_std,
                self.static.gamma_t_weight,
            )  # fmt: skip
            g = jax.grad(objective)(st.params)
        params, opt_state = rmsprop_ascent(self.tx, g, st.opt_state, st.params, hp.actor_lr)
        return st._replace(params=params, opt_state=opt_state, critic=critic, critic_opt=critic_opt)

    def _one_episode(self, st: ReinforceState, hp):
        key, k = jax.random.split(st.key)
        ep = self.collect(st.params, k, hp.gauss_std)
        st = self.update(st._replace(key=key), ep, hp)
        return st._replace(episode=st.episode + 1), episode_metrics(ep)

    def chunk(self, st: ReinforceState, hp: ReinforceHParams):
        """``episodes_per_chunk`` episodes; metrics ``[episodes_per_chunk]``."""
        return jax.lax.scan(
            lambda s, _: self._one_episode(s, hp), st, None, self.static.episodes_per_chunk
        )

    def evaluate(self, st: ReinforceState, hp: ReinforceHParams) -> Array:
        """``[]`` mean primary return of ``num_eval_episodes`` episodes on fixed eval keys."""
        return evaluate_policy(self.collect, st.params, self.static, hp.gauss_std).mean()


def episode_metrics(ep: Episode) -> dict[str, Array]:
    """Undiscounted primary and aux returns and the length of episodes ``[*B, T] -> [*B]``."""
    return {
        "primary_return": jnp.sum(ep.mask * ep.reward, -1),
        "aux_return": jnp.sum(ep.mask * ep.aux, -1),
        "length": jnp.sum(ep.mask, -1),
    }


def evaluate_policy(collect, params, static, std) -> Array:
    """Primary returns ``[static.num_eval_episodes]`` of episodes sampled from the policy with
    keys fixed by ``static.eval_seed`` (the same keys at every evaluation)."""
    keys = jax.random.split(jax.random.key(static.eval_seed), static.num_eval_episodes)
    eps = jax.vmap(lambda k: collect(params, k, std))(keys)
    return episode_metrics(eps)["primary_return"]


def episode_window(static, env_params) -> int:
    """The episode window ``T`` (``static.max_steps`` or the env's limit); raises if too short."""
    limit = int(env_params.max_steps_in_episode)
    T = static.max_steps or limit
    if T < limit:
        raise ValueError(f"max_steps={T} < env max_steps_in_episode={limit}")
    return T


def make_train(
    static: ReinforceStatic,
    env,
    features: FeaturesFn,
    n_features: int,
    env_params=None,
    transform: RewardTransform | None = None,
) -> ReinforceTrainer:
    """REINFORCE / actor-critic on ``env``; the learner's reward is ``transform`` (params
    ``hp.transform``) of the episode's :func:`episode_transition` (default: the primary reward)."""
    env_params = env.default_params if env_params is None else env_params
    T = episode_window(static, env_params)
    policy = FeaturePolicy.for_env(env, env_params, n_features, static.hidden_sizes)
    return ReinforceTrainer(
        static=static,
        transform=identity() if transform is None else transform,
        policy=policy,
        critic=FeaturePolicy(n_features, 1, True, static.hidden_sizes),
        features=features,
        collect=collect_episode(env, env_params, policy, features, T),
        tx=make_rmsprop(),
    )
