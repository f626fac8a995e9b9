"""BARFI's outer loop (Gupta et al. 2023; papers.md §2.2, theory.md §2) on REINFORCE inner agents.

One *outer iteration* (every ``δ`` episodes), all inside one ``lax.scan`` and ``vmap``-able over
seeds and hyperparameters:

1. **inner steps** (``inner = "on_policy"``, the default): ``δ`` episodes, each collected with the
   current θ and followed by ``inner_mul`` (1) REINFORCE steps of θ on that fresh episode with
   ``r_φ``/``γ_φ`` (φ fixed; RMSprop with ``actor_lr``): the naive baseline's update
   (:mod:`jaxrl.agents.reinforce`) with ``r_φ`` in place of ``r_p + r_aux``. Episodes use the
   baseline's key stream, so with ``reward_lr = gamma_lr = 0`` BARFI *is* the naive baseline
   (bit for bit up to γ_φ = sigmoid(logit 0.99)); the buffer is only used for the curvature;
2. **outer step** (skipped on the very first iteration, when there is no older data), at the θ
   that collected the ``δ`` episodes:

   * ``g_out = ∇_θ J_p(θ)``: REINFORCE on the *primary* reward with the configured γ, averaged over
     the ``δ`` new episodes (on-policy);
   * ``J_in(θ, φ)``: the REINFORCE objective with ``r_φ = r_p + φ₁(s) + φ₂(s)·r_aux`` and ``γ_φ``
     (+ ``entropy_coef`` × entropy), averaged over ``hess_batch`` episodes sampled from the buffer
     of *older* episodes (no importance weights, as in the authors' code);
   * hypergradient ``dJ_p/dφ`` through the inner fixed point ``∇_θ J_in = 0`` with
     :mod:`jaxrl.bilevel.hypergradient` (inner map ``g = −∇_θ J_in``, loss convention):
     ``neumann_hypergradient`` with ``K = neumann_K`` terms and step ``α_N`` (``K = 0`` is the
     first-order variant, H⁻¹ ≈ α_N I), or the dense ``ift_hypergradient`` (``hypergrad="ift"``,
     small policies only). H is indefinite when the returns have both signs and the plain
     series then diverges (issue 15): ``hp.neumann_damping`` = d runs it on ``H + δI``,
     δ = d·|λ|max (hypergradient.py (2.5)), and ``curvature="gauss_newton"`` on the PSD
     return-weighted Fisher (curvature.py (C.1)); d = 0 with "hessian" is the plain series;
   * minus ``reward_l2·∇‖φ_r‖² + gamma_l2·∇γ_φ`` (:func:`jaxrl.shaping.blend.blend_penalty`), then
     one RMSprop *ascent* step on φ (``reward_lr`` for the linear layer, ``gamma_lr`` for θ_γ);
3. add the new episodes to the circular buffer;
4. ``inner = "buffer"`` (the authors' inner loop, kept as an ablation): instead of step 1's
   updates, ``δ·inner_mul`` REINFORCE steps on ``inner_batch`` episodes replayed from the buffer
   (no importance weights). Off-policy replay of single old episodes learns far worse than the
   naive baseline (it was the default before; see the experiment notes).

**φ are the params of the blend transform.** The inner learner receives ``r_φ`` like any learner:
the blend ``RewardTransform`` (:func:`jaxrl.shaping.blend.blend`, reading the ``"aux"`` channel of
:func:`jaxrl.agents.reinforce.episode_transition`) with params ``hp.transform = φ``; the outer
step differentiates with respect to ``hp.transform``. ``hp.transform`` is φ's starting point
(default: the naive blend φ₁ = 0, φ₂ = 1, γ_φ = 0.99, so the agent starts as the naive sum) and
the state's ``phi`` is its current value. Not reproduced: the authors' ``first_mul`` warm-up (150
extra inner steps once the buffer holds enough episodes) and their single first step on the
latest episode (moot on-policy).

``K`` and ``α_N`` are traced hyperparameters, so the first-order and Neumann variants run in one
compiled, vmapped program. Metrics per episode (``primary_return``, ``aux_return``, ``length``)
and per outer iteration (``gamma_phi``, ``phi_weight`` [F, 2], ``phi_bias`` [2],
``hypergrad_norm``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partialmethod
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxrl.agents import replay_buffer
from jaxrl.agents.hparams import BASE_BOUNDS, NONNEGATIVE, broadcast_hparams, check_hparams
from jaxrl.agents.policy import FeaturePolicy
from jaxrl.agents.reinforce import (
    Episode,
    FeaturesFn,
    collect_episode,
    discounted_returns,
    episode_metrics,
    episode_window,
    evaluate_policy,
    learner_rewards,
    make_rmsprop,
    reinforce_objective,
    rmsprop_ascent,
    transform_params,
)
from jaxrl.agents.trainer import TrainerBase
from jaxrl.bilevel.curvature import reinforce_gauss_newton_vp
from jaxrl.bilevel.hypergradient import ift_hypergradient, neumann_hypergradient
from jaxrl.config import Config
from jaxrl.shaping.aux_reward import AUX_CHANNEL
from jaxrl.shaping.blend import BlendParams, blend, blend_discount, blend_penalty
from jaxrl.shaping.transform import RewardTransform

Array = Any


@dataclass(frozen=True)
class BarfiStatic(Config):
    """Shapes and counts of a BARFI run (closed over)."""

    episodes: int = 600
    """training episodes (a multiple of delta * num_chunks)"""
    num_chunks: int = 10
    delta: int = 3
    """episodes per outer step"""
    inner: Literal["on_policy", "buffer"] = "on_policy"
    """"on_policy": ``inner_mul`` REINFORCE steps on each fresh episode right after it is
    collected (as the naive baseline, with r_φ); "buffer": the authors' ``δ·inner_mul`` steps per
    outer iteration on ``inner_batch`` episodes replayed from the buffer (no importance weights)"""
    inner_mul: int = 1
    """inner policy steps per episode"""
    inner_batch: int = 1
    """buffer episodes per inner step ("buffer" mode)"""
    hess_batch: int = 15
    """buffer episodes in the curvature (inner objective) batch of the outer step"""
    buffer_size: int = 100
    """circular buffer of past episodes"""
    max_steps: int = 0
    """episode window T; 0 means the env's max_steps_in_episode"""
    hidden_sizes: tuple[int, ...] = ()
    """policy hidden layers; () is a linear softmax/Gaussian policy"""
    gamma_t_weight: bool = False
    """weight the t-th policy-gradient term by γ^t (inner and outer)"""
    power_iters: int = 5
    """power-iteration steps estimating |λ|max(H); the Neumann step is min(α_N, 1/|λ|max)
    (0: use α_N as given, as the authors' code does)"""
    hypergrad: Literal["neumann", "ift"] = "neumann"
    """"neumann" (K = hp.neumann_K, K = 0 is first order) or "ift" (dense solve; small θ only)"""
    curvature: Literal["hessian", "gauss_newton"] = "hessian"
    """the matrix the Neumann series inverts: "hessian" (H = −∇²J_in, indefinite in general) or
    "gauss_newton" (the PSD return-weighted Fisher, curvature.py (C.1)); "ift" ignores it"""
    num_eval_episodes: int = 8
    """episodes per ``evaluate`` (sampled from the policy)"""
    eval_seed: int = 12345
    """fixes the evaluation episodes' keys"""

    @property
    def iterations(self) -> int:
        return self.episodes // self.delta

    @property
    def iterations_per_chunk(self) -> int:
        return self.iterations // self.num_chunks

    def check(self) -> None:
        names = (
            "episodes",
            "num_chunks",
            "delta",
            "inner_batch",
            "hess_batch",
            "num_eval_episodes",
        )
        for name in names:
            self.require(getattr(self, name) > 0, name, "must be positive")
        self.require(self.num_eval_episodes > 0, "num_eval_episodes", "must be positive")
        self.require(self.inner_mul >= 0, "inner_mul", "must be >= 0")
        self.require(self.power_iters >= 0, "power_iters", "must be >= 0")
        self.require(self.max_steps >= 0, "max_steps", "must be >= 0 (0: the env's limit)")
        self.require(all(h > 0 for h in self.hidden_sizes), "hidden_sizes", "sizes must be > 0")
        self.require(
            self.episodes % (self.delta * self.num_chunks) == 0,
            "episodes",
            "must be a multiple of delta * num_chunks",
        )
        self.require(self.buffer_size >= self.delta, "buffer_size", "must be >= delta")


class BarfiHParams(NamedTuple):
    """Traced hyperparameters (vmappable; ``neumann_K`` is an int)."""

    actor_lr: Any = 5e-3
    reward_lr: Any = 5e-3
    gamma_lr: Any = 5e-3
    gamma: Any = 0.99
    """the outer (primary-return) discount"""
    entropy_coef: Any = 0.0
    """BARFI's actor_reg (entropy bonus of the inner objective)"""
    reward_l2: Any = 0.0
    gamma_l2: Any = 0.0
    neumann_K: Any = 5
    neumann_alpha: Any = 5e-4
    neumann_damping: Any = 0.0
    """d ≥ 0: the Neumann series inverts ``M + δI``, δ = d·|λ|max(M) (δ = d if power_iters = 0)"""
    gauss_std: Any = 0.1
    transform: Any = None
    """the blend's initial params φ₀ (:class:`BlendParams`); None means its ``default_params``
    (the naive blend). φ is learned from there: the state's ``phi``."""

    broadcast = partialmethod(
        broadcast_hparams, dtype=jnp.float32, field_dtypes={"neumann_K": jnp.int32}
    )

    def check(self):
        lrs = ("actor_lr", "reward_lr", "gamma_lr", "neumann_alpha")  # 0: that part stays fixed
        coefs = ("entropy_coef", "reward_l2", "gamma_l2", "neumann_damping")
        bounds = {k: NONNEGATIVE for k in (*lrs, *coefs, "neumann_K")}
        bounds["gamma"] = BASE_BOUNDS["gamma"]
        return check_hparams(self, bounds, positive=("gauss_std",))


class BarfiState(NamedTuple):
    theta: Any
    theta_opt: Any
    phi: BlendParams
    """the blend transform's current params (the ``hp.transform`` the inner learner sees)"""
    phi_opt: Any
    buffer: replay_buffer.ReplayBuffer
    """past episodes, storage leaves ``[buffer_size, T, ...]``"""
    key: Array
    """episode-collection key stream (the naive REINFORCE baseline's, for the same seed)"""
    outer_key: Array
    """buffer-sampling key stream"""
    iteration: Array


@dataclass(frozen=True, eq=False)
class BarfiTrainer(TrainerBase):
    """BARFI (the :class:`jaxrl.agents.trainer.Trainer` protocol). ``transform`` is the blend
    (:func:`jaxrl.shaping.blend.blend`); its params φ are what the outer loop learns."""

    static: BarfiStatic
    transform: RewardTransform
    policy: FeaturePolicy
    features: FeaturesFn
    n_features: int
    collect: Callable
    """``collect(theta, key, std) -> Episode`` (:func:`jaxrl.agents.reinforce.collect_episode`)"""
    tx: optax.GradientTransformation

    # ------------------------------------------------------------------ objectives
    def episode_objective(self, theta, phi: BlendParams, ep: Episode, hp: BarfiHParams):
        """REINFORCE objective of one episode ``[T]`` on ``r_φ``, ``γ_φ`` (φ the blend's params)."""
        gamma_phi = blend_discount(phi)
        r = learner_rewards(self.transform, phi, ep, gamma_phi)
        return reinforce_objective(
            self.policy, theta, self.features(ep.obs), ep, r, gamma_phi, hp.entropy_coef,
            hp.gauss_std, self.static.gamma_t_weight,
        )  # fmt: skip

    def inner_objective(self, theta, phi: BlendParams, eps: Episode, hp: BarfiHParams):
        """``J_in(θ, φ)``: mean over a batch of episodes ``[N, T]``."""
        return jnp.mean(jax.vmap(lambda e: self.episode_objective(theta, phi, e, hp))(eps))

    def primary_objective(self, theta, eps: Episode, hp: BarfiHParams):
        """``J_p(θ)``: REINFORCE on the primary reward with ``hp.gamma``, mean over ``[N, T]``."""

        def one(ep):
            return reinforce_objective(
                self.policy, theta, self.features(ep.obs), ep, ep.mask * ep.reward, hp.gamma,
                0.0, hp.gauss_std, self.static.gamma_t_weight,
            )  # fmt: skip

        return jnp.mean(jax.vmap(one)(eps))

    def inner_grad_fn(self, theta, phi: BlendParams, eps: Episode, hp: BarfiHParams):
        """Loss-convention inner map ``g = −∇_θ J_in`` (hypergradient.py)."""
        return jax.tree.map(jnp.negative, jax.grad(self.inner_objective)(theta, phi, eps, hp))

    def curvature_vp(self, u, theta, phi: BlendParams, eps: Episode, hp: BarfiHParams):
        """``C u``, the Gauss–Newton surrogate of ``H`` (curvature.py (C.1)) on ``eps [N, T]``:
        step weights ``|w_t G_t|/N`` from the same ``r_φ``, ``γ_φ`` as :meth:`episode_objective`."""
        gamma_phi = blend_discount(phi)

        def weights(ep):
            r = learner_rewards(self.transform, phi, ep, gamma_phi)
            G = discounted_returns(r, ep.mask, gamma_phi)
            if self.static.gamma_t_weight:
                G = G * gamma_phi ** jnp.arange(G.shape[0], dtype=G.dtype)
            return ep.mask * jnp.abs(G), ep.mask * hp.entropy_coef

        n = eps.mask.shape[0]
        w, c = jax.tree.map(lambda x: x / n, jax.vmap(weights)(eps))
        return reinforce_gauss_newton_vp(
            self.policy, theta, self.features(eps.obs), eps.action, w, c, hp.gauss_std, u
        )

    # ------------------------------------------------------------------ outer step
    def spectral_radius(self, theta, phi, eps, hp):
        """``|λ|max`` of the Neumann matrix (``H = ∂_θ g``, or ``C`` for "gauss_newton") by
        ``power_iters`` steps of power iteration (jvps)."""
        if self.static.curvature == "gauss_newton":
            hvp = lambda u: self.curvature_vp(u, theta, phi, eps, hp)
        else:
            _, hvp = jax.linearize(lambda t: self.inner_grad_fn(t, phi, eps, hp), theta)
        flat, unravel = ravel_pytree(theta)
        v = jnp.ones_like(flat) / jnp.sqrt(flat.size)

        def body(_, carry):
            v, _ = carry
            w = ravel_pytree(hvp(unravel(v)))[0]
            n = jnp.linalg.norm(w)
            return w / jnp.maximum(n, 1e-30), n

        zero = jnp.zeros((), flat.dtype)
        _, lam = jax.lax.fori_loop(0, self.static.power_iters, body, (v, zero))
        return jnp.maximum(lam, 1e-12)

    def outer_step(self, theta, new_eps: Episode, old_eps: Episode, hp: BarfiHParams):
        """``(ascent direction, raw hypergradient dJ_p/dφ)`` with respect to the blend's params
        ``φ = hp.transform`` (None: the blend's default), both :class:`BlendParams`."""
        phi = transform_params(self.transform, hp)
        g_out = jax.grad(self.primary_objective)(theta, new_eps, hp)
        if self.static.hypergrad == "ift":
            d = ift_hypergradient(g_out, self.inner_grad_fn, theta, phi, (old_eps, hp))
        else:
            alpha, damping = hp.neumann_alpha, hp.neumann_damping
            if self.static.power_iters > 0:  # keep α·(|λ|max + δ) ≤ 1 so α is not the problem
                rho = self.spectral_radius(theta, phi, old_eps, hp)
                damping = damping * rho  # δ relative to |λ|max: a scale-free hyperparameter
                alpha = jnp.minimum(alpha, 1.0 / (rho + damping))
            curv = self.curvature_vp if self.static.curvature == "gauss_newton" else None
            d = neumann_hypergradient(
                g_out, self.inner_grad_fn, theta, phi, hp.neumann_K, alpha, (old_eps, hp),
                symmetric=True, damping=damping, curvature_fn=curv,
            )  # fmt: skip
        pen = jax.grad(lambda p: blend_penalty(p, hp.reward_l2, hp.gamma_l2))(phi)
        return jax.tree.map(jnp.subtract, d, pen), d

    # ------------------------------------------------------------------ trainer
    def init(self, key, hp: BarfiHParams) -> BarfiState:
        key, k_pi, k_ep = jax.random.split(key, 3)
        theta = self.policy.init(k_pi)
        phi = transform_params(self.transform, hp)
        ep = jax.eval_shape(self.collect, theta, k_ep, hp.gauss_std)
        return BarfiState(
            theta,
            self.tx.init(theta),
            phi,
            self.tx.init(phi),
            replay_buffer.init(ep, self.static.buffer_size),
            key,
            jax.random.fold_in(key, 1),
            jnp.zeros((), jnp.int32),
        )

    def policy_step(self, theta, opt, eps: Episode, hp: BarfiHParams):
        """One RMSprop ascent step of θ on ``J_in(θ, φ = hp.transform)`` over ``eps`` ``[N, T]``."""
        g = jax.grad(self.inner_objective)(theta, hp.transform, eps, hp)
        return rmsprop_ascent(self.tx, g, opt, theta, hp.actor_lr)

    def _episodes(self, st: BarfiState, hp: BarfiHParams):
        """δ episodes, each collected with the current θ; in on-policy mode each is followed by
        ``inner_mul`` REINFORCE steps on it with r_φ, γ_φ (the naive baseline's update with r_φ in
        place of r_p + r_aux, and the same key stream). Returns ``(θ, opt, key, eps [δ, T])``."""

        def episode(carry, _):
            theta, opt, key = carry
            key, k = jax.random.split(key)
            ep = self.collect(theta, k, hp.gauss_std)
            if self.static.inner == "on_policy":
                one = jax.tree.map(lambda x: x[None], ep)
                for _ in range(self.static.inner_mul):
                    theta, opt = self.policy_step(theta, opt, one, hp)
            return (theta, opt, key), ep

        carry = (st.theta, st.theta_opt, st.key)
        (theta, opt, key), eps = jax.lax.scan(episode, carry, None, self.static.delta)
        return theta, opt, key, eps

    def _phi_step(self, st: BarfiState, new_eps, old_eps, hp: BarfiHParams):
        """One RMSprop ascent step of φ at the θ that collected ``new_eps`` (``g_out``
        on-policy), curvature from the older ``old_eps``; skipped while the buffer is empty.
        Returns ``(φ, φ's optimiser state, raw hypergradient)``."""
        direction, raw = self.outer_step(st.theta, new_eps, old_eps, hp)
        lr = BlendParams(hp.reward_lr, hp.reward_lr, hp.gamma_lr)
        upd, phi_opt = self.tx.update(jax.tree.map(jnp.negative, direction), st.phi_opt, st.phi)
        phi = jax.tree.map(lambda p, u, a: p + a * u, st.phi, upd, lr)
        keep = lambda new, old: jax.tree.map(
            lambda a, b: jnp.where(st.buffer.size > 0, a, b), new, old
        )
        return keep(phi, st.phi), keep(phi_opt, st.phi_opt), raw

    def _replay_inner(self, theta, opt, buffer, key, hp: BarfiHParams):
        """The authors' inner loop ("buffer" mode): ``δ·inner_mul`` steps on replayed episodes."""

        def replay(carry, k):
            eps = _sample(buffer, k, self.static.inner_batch)
            return self.policy_step(*carry, eps, hp), None

        n_inner = self.static.delta * self.static.inner_mul
        (theta, opt), _ = jax.lax.scan(replay, (theta, opt), jax.random.split(key, n_inner))
        return theta, opt

    def iteration(self, st: BarfiState, hp: BarfiHParams):
        """One outer iteration (module docstring, steps 1-4); metrics per episode ``[δ]`` and
        per iteration."""
        okey, k_old, k_in = jax.random.split(st.outer_key, 3)
        hp = hp._replace(transform=st.phi)  # the inner learner sees the current φ
        theta, theta_opt, key, new_eps = self._episodes(st, hp)
        old_eps = _sample(st.buffer, k_old, self.static.hess_batch)
        phi, phi_opt, raw = self._phi_step(st, new_eps, old_eps, hp)
        buffer = replay_buffer.add(st.buffer, new_eps)
        if self.static.inner == "buffer":
            theta, theta_opt = self._replay_inner(
                theta, theta_opt, buffer, k_in, hp._replace(transform=phi)
            )
        metrics = {
            **episode_metrics(new_eps),
            "gamma_phi": blend_discount(phi),
            "phi_weight": phi.weight,
            "phi_bias": phi.bias,
            "hypergrad_norm": optax.global_norm(raw),
        }
        st = BarfiState(theta, theta_opt, phi, phi_opt, buffer, key, okey, st.iteration + 1)
        return st, metrics

    def chunk(self, st: BarfiState, hp: BarfiHParams):
        """``iterations_per_chunk`` outer iterations; per-episode metrics ``[per_chunk·δ]``,
        per-iteration metrics ``[per_chunk, ...]``."""
        st, m = jax.lax.scan(
            lambda s, _: self.iteration(s, hp), st, None, self.static.iterations_per_chunk
        )
        per_episode = ("primary_return", "aux_return", "length")
        return st, {k: (v.reshape(-1) if k in per_episode else v) for k, v in m.items()}

    def evaluate(self, st: BarfiState, hp: BarfiHParams) -> Array:
        """``[]`` mean primary return of ``num_eval_episodes`` episodes on fixed eval keys."""
        return evaluate_policy(self.collect, st.theta, self.static, hp.gauss_std).mean()


def _sample(buffer: replay_buffer.ReplayBuffer, key, n: int) -> Episode:
    """``n`` episodes ``[n, T]`` uniformly from the filled buffer (draws count back from the newest
    episode, as BARFI's own buffer did)."""
    return replay_buffer.sample(buffer, key, n, newest_first=True)


def make_train(
    static: BarfiStatic,
    env,
    features: FeaturesFn,
    n_features: int,
    env_params=None,
    transform: RewardTransform | None = None,
) -> BarfiTrainer:
    """Build BARFI for ``env``; ``features`` is shared by the policy and the blend (as BARFI's).

    ``transform`` must have :class:`BlendParams` params (default: :func:`blend` on ``features``
    reading the ``"aux"`` channel, starting at the naive blend).
    """
    env_params = env.default_params if env_params is None else env_params
    T = episode_window(static, env_params)
    policy = FeaturePolicy.for_env(env, env_params, n_features, static.hidden_sizes)
    if transform is None:
        transform = blend(features, n_features, aux_channel=AUX_CHANNEL)
    return BarfiTrainer(
        static=static,
        transform=transform,
        policy=policy,
        features=features,
        n_features=n_features,
        collect=collect_episode(env, env_params, policy, features, T),
        tx=make_rmsprop(),
    )
