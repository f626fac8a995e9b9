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
     small policies only);
   * minus ``reward_l2·∇‖φ_r‖² + gamma_l2·∇γ_φ`` (:func:`jaxrl.shaping.blend.blend_penalty`), then
     one RMSprop *ascent* step on φ (``reward_lr`` for the linear layer, ``gamma_lr`` for θ_γ);
3. add the new episodes to the circular buffer;
4. ``inner = "buffer"`` (the authors' inner loop, kept as an ablation): instead of step 1's
   updates, ``δ·inner_mul`` REINFORCE steps on ``inner_batch`` episodes replayed from the buffer
   (no importance weights). Off-policy replay of single old episodes learns far worse than the
   naive baseline (it was the default before; see the experiment notes).

φ starts at the naive blend (φ₁ = 0, φ₂ = 1, γ_φ = 0.99), so the agent starts as the naive sum.
Not reproduced: the authors' ``first_mul`` warm-up (150 extra inner steps once the buffer holds
enough episodes) and their single first step on the latest episode (moot on-policy).

``K`` and ``α_N`` are traced hyperparameters, so the first-order and Neumann variants run in one
compiled, vmapped program. Metrics per episode (``primary_return``, ``aux_return``, ``length``)
and per outer iteration (``gamma_phi``, ``phi_weight`` [F, 2], ``phi_bias`` [2],
``hypergrad_norm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partialmethod
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxrl.agents import replay_buffer
from jaxrl.agents.hparams import broadcast_hparams
from jaxrl.agents.reinforce import (
    Episode,
    FeaturesFn,
    PolicySpec,
    collect_episode,
    make_rmsprop,
    reinforce_objective,
    rmsprop_ascent,
)
from jaxrl.bilevel.hypergradient import ift_hypergradient, neumann_hypergradient
from jaxrl.config import Config
from jaxrl.shaping.blend import (
    BlendParams,
    blend_discount,
    blend_penalty,
    blended_reward,
    init_blend_params,
)

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

    @property
    def iterations(self) -> int:
        return self.episodes // self.delta

    @property
    def iterations_per_chunk(self) -> int:
        return self.iterations // self.num_chunks

    def check(self) -> None:
        for name in ("episodes", "num_chunks", "delta", "inner_batch", "hess_batch"):
            self.require(getattr(self, name) > 0, name, "must be positive")
        self.require(self.inner_mul >= 0, "inner_mul", "must be >= 0")
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
    gauss_std: Any = 0.1

    broadcast = partialmethod(
        broadcast_hparams, dtype=jnp.float32, field_dtypes={"neumann_K": jnp.int32}
    )


class BarfiState(NamedTuple):
    theta: Any
    theta_opt: Any
    phi: BlendParams
    phi_opt: Any
    buffer: replay_buffer.ReplayBuffer
    """past episodes, storage leaves ``[buffer_size, T, ...]``"""
    key: Array
    """episode-collection key stream (the naive REINFORCE baseline's, for the same seed)"""
    outer_key: Array
    """buffer-sampling key stream"""
    iteration: Array


@dataclass(frozen=True, eq=False)
class BarfiTrainer:
    static: BarfiStatic
    policy: PolicySpec
    features: FeaturesFn
    n_features: int
    init: Any
    chunk: Any
    outer_step: Any
    inner_objective: Any
    collect: Any


def make_train(
    static: BarfiStatic, env, features: FeaturesFn, n_features: int, env_params=None
) -> BarfiTrainer:
    """Build BARFI for ``env``; ``features`` is shared by the policy and the blend (as BARFI's)."""
    env_params = env.default_params if env_params is None else env_params
    T = static.max_steps or int(env_params.max_steps_in_episode)
    policy = PolicySpec.for_env(env, env_params, n_features, static.hidden_sizes)
    collect = collect_episode(env, env_params, policy, features, T)
    tx = make_rmsprop()
    B, delta = static.buffer_size, static.delta

    def episode_objective(theta, phi, ep: Episode, hp: BarfiHParams):
        feat = features(ep.obs)
        r = ep.mask * blended_reward(phi, ep.reward, ep.aux, feat)
        return reinforce_objective(
            policy,
            theta,
            feat,
            ep,
            r,
            blend_discount(phi),
            hp.entropy_coef,
            hp.gauss_std,
            static.gamma_t_weight,
        )

    def inner_objective(theta, phi, eps: Episode, hp: BarfiHParams):
        """``J_in(θ, φ)``: mean over a batch of episodes ``[N, T]``."""
        return jnp.mean(jax.vmap(lambda e: episode_objective(theta, phi, e, hp))(eps))

    def primary_objective(theta, eps: Episode, hp: BarfiHParams):
        def one(ep):
            feat = features(ep.obs)
            return reinforce_objective(
                policy,
                theta,
                feat,
                ep,
                ep.mask * ep.reward,
                hp.gamma,
                0.0,
                hp.gauss_std,
                static.gamma_t_weight,
            )

        return jnp.mean(jax.vmap(one)(eps))

    def inner_grad_fn(theta, phi, eps, hp):
        """Loss-convention inner map ``g = −∇_θ J_in`` (hypergradient.py)."""
        g = jax.grad(inner_objective)(theta, phi, eps, hp)
        return jax.tree.map(jnp.negative, g)

    def sample(buffer: replay_buffer.ReplayBuffer, key, n: int) -> Episode:
        """``n`` episodes ``[n, T]`` uniformly from the filled buffer (draws count back from the
        newest episode, as BARFI's own buffer did)."""
        return replay_buffer.sample(buffer, key, n, newest_first=True)

    def spectral_radius(theta, phi, eps, hp):
        """``|λ|max`` of ``H = ∂_θ g`` by ``power_iters`` steps of power iteration (jvps)."""
        _, hvp = jax.linearize(lambda t: inner_grad_fn(t, phi, eps, hp), theta)
        flat, unravel = ravel_pytree(theta)
        v = jnp.ones_like(flat) / jnp.sqrt(flat.size)

        def body(_, carry):
            v, _ = carry
            w = ravel_pytree(hvp(unravel(v)))[0]
            n = jnp.linalg.norm(w)
            return w / jnp.maximum(n, 1e-30), n

        _, lam = jax.lax.fori_loop(0, static.power_iters, body, (v, jnp.zeros((), flat.dtype)))
        return jnp.maximum(lam, 1e-12)

    def outer_step(theta, phi, new_eps: Episode, old_eps: Episode, hp: BarfiHParams):
        """``(ascent direction for φ, raw hypergradient dJ_p/dφ)``."""
        g_out = jax.grad(primary_objective)(theta, new_eps, hp)
        if static.hypergrad == "ift":
            d = ift_hypergradient(g_out, inner_grad_fn, theta, phi, (old_eps, hp))
        else:
            alpha = hp.neumann_alpha
            if static.power_iters > 0:  # keep α·|λ|max(H) ≤ 1 so the series cannot blow up
                alpha = jnp.minimum(alpha, 1.0 / spectral_radius(theta, phi, old_eps, hp))
            d = neumann_hypergradient(
                g_out,
                inner_grad_fn,
                theta,
                phi,
                hp.neumann_K,
                alpha,
                (old_eps, hp),
                symmetric=True,
            )
        pen = jax.grad(lambda p: blend_penalty(p, hp.reward_l2, hp.gamma_l2))(phi)
        return jax.tree.map(jnp.subtract, d, pen), d

    def init(key, hp: BarfiHParams) -> BarfiState:
        key, k_pi, k_ep = jax.random.split(key, 3)
        theta = policy.init(k_pi)
        phi = init_blend_params(n_features)
        ep = jax.eval_shape(collect, theta, k_ep, hp.gauss_std)
        return BarfiState(
            theta,
            tx.init(theta),
            phi,
            tx.init(phi),
            replay_buffer.init(ep, B),
            key,
            jax.random.fold_in(key, 1),
            jnp.zeros((), jnp.int32),
        )

    def policy_step(theta, opt, phi, eps: Episode, hp: BarfiHParams):
        """One RMSprop ascent step of θ on ``J_in(θ, φ)`` over ``eps`` ``[N, T]`` (φ fixed)."""
        g = jax.grad(inner_objective)(theta, phi, eps, hp)
        return rmsprop_ascent(tx, g, opt, theta, hp.actor_lr)

    def iteration(st: BarfiState, hp: BarfiHParams):
        okey, k_old, k_in = jax.random.split(st.outer_key, 3)
        phi = st.phi

        # δ episodes; on-policy mode: each collected with the current θ and followed by
        # ``inner_mul`` REINFORCE steps on it with r_φ, γ_φ (the naive baseline's update with r_φ
        # in place of r_p + r_aux, and the same key stream)
        def episode(carry, _):
            theta, opt, key = carry
            key, k = jax.random.split(key)
            ep = collect(theta, k, hp.gauss_std)
            if static.inner == "on_policy":
                one = jax.tree.map(lambda x: x[None], ep)
                for _ in range(static.inner_mul):
                    theta, opt = policy_step(theta, opt, phi, one, hp)
            return (theta, opt, key), ep

        (theta, theta_opt, key), new_eps = jax.lax.scan(
            episode, (st.theta, st.theta_opt, st.key), None, delta
        )

        # outer step on φ at the θ that collected the episodes (g_out on-policy), curvature
        # from older buffer episodes; skipped while the buffer is empty
        old_eps = sample(st.buffer, k_old, static.hess_batch)
        direction, raw = outer_step(st.theta, phi, new_eps, old_eps, hp)
        lr = BlendParams(hp.reward_lr, hp.reward_lr, hp.gamma_lr)
        neg = jax.tree.map(jnp.negative, direction)
        upd, phi_opt = tx.update(neg, st.phi_opt, phi)
        new_phi = jax.tree.map(lambda p, u, a: p + a * u, phi, upd, lr)
        do = st.buffer.size > 0
        phi = jax.tree.map(lambda a, b: jnp.where(do, a, b), new_phi, phi)
        phi_opt = jax.tree.map(lambda a, b: jnp.where(do, a, b), phi_opt, st.phi_opt)
        buffer = replay_buffer.add(st.buffer, new_eps)

        if static.inner == "buffer":  # the authors' inner loop: replayed buffer episodes

            def replay(carry, k):
                theta, opt = carry
                eps = sample(buffer, k, static.inner_batch)
                return policy_step(theta, opt, phi, eps, hp), None

            n_inner = delta * static.inner_mul
            (theta, theta_opt), _ = jax.lax.scan(
                replay, (theta, theta_opt), jax.random.split(k_in, n_inner)
            )
        metrics = {
            "primary_return": jnp.sum(new_eps.mask * new_eps.reward, -1),
            "aux_return": jnp.sum(new_eps.mask * new_eps.aux, -1),
            "length": jnp.sum(new_eps.mask, -1),
            "gamma_phi": blend_discount(phi),
            "phi_weight": phi.weight,
            "phi_bias": phi.bias,
            "hypergrad_norm": optax.global_norm(raw),
        }
        st = BarfiState(theta, theta_opt, phi, phi_opt, buffer, key, okey, st.iteration + 1)
        return st, metrics

    def chunk(st: BarfiState, hp: BarfiHParams):
        st, m = jax.lax.scan(lambda s, _: iteration(s, hp), st, None, static.iterations_per_chunk)
        per_episode = ("primary_return", "aux_return", "length")
        m = {k: (v.reshape(-1) if k in per_episode else v) for k, v in m.items()}
        return st, m

    return BarfiTrainer(
        static,
        policy,
        features,
        n_features,
        init,
        chunk,
        outer_step,
        inner_objective,
        collect,
    )
