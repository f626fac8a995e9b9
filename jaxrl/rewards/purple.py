"""PURPLE for SAM: the forward-model Jacobian penalty with the Frobenius norm (papers.md §3.2).

Blondé et al.'s pessimistic reward preconditioning (``reward_type='gail_mod_f'``) multiplies the
learned reward by

    ψ(s, a) = max(exp(−GP_f(s, a) / σ), ψ_min) ∈ [ψ_min, 1],
    GP_f(s, a) = relu(‖J_f(s, a)‖_F − f_targ)²,   J_f = ∂f(s, a)/∂(s, a)   [obs_dim, obs_dim + A]

with ``f(s, a) → s'`` a forward model learned online by MSE, σ a running scale of GP_f and
``ψ_min = 0.7`` (papers.md §3.2: ``f_targ ∈ {5, …, 10}``). For a non-negative reward (SAM's
``softplus(D)``) ``ψ·r ≤ r``: the shaped Q is pessimistic (theory.md §3, check 3.4).

Which norm, and why the Frobenius one. theory.md §3 bounds ``‖∇Q‖`` through the operator norm
of the dynamics' Jacobian (``c = γ L_f (1 + L_μ)``, and the local bound's ``‖[I; J_μ] J_f‖₂``).
``‖J‖₂ ≤ ‖J‖_F ≤ √rank·‖J‖₂``, so a small Frobenius norm certifies a small ``L_f`` locally, and
it is exact and smooth (``obs_dim`` backward passes; the spectral norm needs an SVD or power
iteration and is not differentiable at repeated singular values). liayn-pytorch (and
:mod:`jaxrl.rewards.preconditioning`) instead take the gradient of the *summed* prediction,
``‖1ᵀ J‖₂``, which can vanish while ``J`` is large (rows that cancel) and so certifies nothing
about ``L_f``. Scale: ``‖J‖_F`` of near-identity dynamics is already ``≈ √obs_dim``, so
``f_targ`` should exceed that (the paper's 5–10 do for the tasks here).

σ is the running standard deviation of GP_f over every sampled (first-step) transition so far
(the shared parallel-Welford :class:`~jaxrl.shaping.stream.RunningStats`, one pseudo-sample of
variance 1 with weight 1e-4, ``σ = std + 1e-8``), as :mod:`jaxrl.rewards.preconditioning` does.

The forward model, its Adam step and ``ψ`` itself are :mod:`jaxrl.rewards.preconditioning`'s
(:class:`~jaxrl.rewards.preconditioning.ForwardModel`,
:func:`~jaxrl.rewards.preconditioning.train_forward_model_step`,
:func:`~jaxrl.rewards.preconditioning.psi_from_penalty`); this module adds the Frobenius penalty,
the traced hyperparameters and the reward transform :func:`frobenius_purple`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.rewards.preconditioning import psi_from_penalty
from jaxrl.shaping.stream import RunningStats, update_running_stats
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
Params = Any


class PurpleHParams(NamedTuple):
    """Traced (vmappable) PURPLE hyperparameters."""

    f_targ: Any = 5.0
    """Jacobian-norm target: GP_f = 0 while ‖J_f‖_F ≤ f_targ"""
    psi_min: Any = 0.7
    """floor of the modulation ψ (the paper's clamp min), in [0, 1]"""


def jacobian_frobenius_norms(fn: Callable[[Array], Array], x: Array) -> Array:
    """Per-sample ``‖∂fn(x_i)/∂x_i‖_F`` ``[B]``; ``fn`` maps one input ``[D]`` to ``[K]``.

    ``vmap(jacrev)``: ``K`` backward passes per sample, the samples never coupled. A zero
    Jacobian has norm 0 and a finite (zero) derivative.
    """
    jac = jax.vmap(jax.jacrev(fn))(x)  # [B, K, D]
    sq = jnp.sum(jnp.square(jac), axis=(-2, -1))
    nonzero = sq > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


def forward_penalty(
    apply_fn: Callable[[Params, Array], Array], params: Params, obs: Array, action: Array, f_targ
) -> tuple[Array, Array]:
    """``(GP_f, ‖J_f‖_F)``, both ``[*B]``, of the forward model ``apply_fn(params, x) -> s'``.

    Args:
      apply_fn: the model on one concatenated input ``x = [s, a]`` ``[obs_dim + A]``.
      obs: ``[*B, obs_dim]``; action: ``[*B, A]``; f_targ: ``[]`` target norm.
    """
    x = jnp.concatenate([obs, jnp.asarray(action, obs.dtype)], axis=-1)
    lead = x.shape[:-1]
    norms = jacobian_frobenius_norms(lambda xi: apply_fn(params, xi), x.reshape(-1, x.shape[-1]))
    norms = norms.reshape(lead)
    return jnp.square(jax.nn.relu(norms - f_targ)), norms


def modulation(gp: Array, moments: RunningStats, psi_min) -> Array:
    """``ψ = max(exp(−gp/σ), ψ_min)`` with ``σ = std(moments) + 1e-8`` (``[*B]``, in
    ``[ψ_min, 1]``; exactly 1 where ``gp = 0``)."""
    return psi_from_penalty(gp, jnp.sqrt(moments.var) + 1e-8, psi_min)


def init_moments() -> RunningStats:
    """The running GP_f statistics before any data (as :mod:`jaxrl.rewards.preconditioning`)."""
    return RunningStats.create()


def frobenius_purple(apply_fn: Callable[[Params, Array], Array]) -> RewardTransform:
    """RewardTransform ``r → ψ(s, a)·r``; params ``(forward-model params, PurpleHParams)``,
    state the :class:`RunningStats` of GP_f (updated with the batch, then used). Chains after
    :func:`jaxrl.rewards.adversarial.adversarial_reward`."""

    def apply(params, moments: RunningStats, tr: Transition):
        f_params, hp = params
        f_params = jax.lax.stop_gradient(f_params)  # the forward model trains on its own MSE
        gp, _ = forward_penalty(apply_fn, f_params, tr.obs, tr.action, hp.f_targ)
        moments = update_running_stats(moments, gp)
        psi = modulation(gp, moments, hp.psi_min)
        return tr.reward * psi.astype(tr.reward.dtype), moments

    return RewardTransform(lambda p: init_moments(), apply, None)
