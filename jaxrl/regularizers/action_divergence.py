"""Action-distribution (AD) regularisation: the baseline ORPO compares against (papers.md §1.3).

Instead of an occupancy-measure term, a divergence between the current and the reference
policy's action distributions, averaged over the states of the training batch, is added to PPO's
loss (to be *minimised*):

    ad_kl_penalty = (1 / (1 − γ)) · β · mean_s KL(π(·|s) ‖ π_ref(·|s)),

(the ``1/(1 − γ)`` makes it comparable with the occupancy KL, which is at most that times the
mean per-state KL). The χ² variant replaces KL by ``χ²(π(·|s) ‖ π_ref(·|s))``; with
``sqrt=True`` it is ``√max(mean_s χ², floor)`` (the square root of the batch mean, floored at
1e-4 like ORPO's ``sqrt(chi2.clamp(1e-4))``, so the gradient stays finite at π = π_ref).

Everything is a pure loss term: differentiable in the current policy's outputs, with the
reference outputs behind ``stop_gradient``. ``mean_s`` is over all leading axes of the inputs
(the states of the minibatch, which the caller samples from the current policy), or a weighted
mean with ``mask``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

Array = Any


# ----------------------------------------------------------------------------- per-state
def categorical_kl(logits_p: Array, logits_q: Array) -> Array:
    """``KL(p ‖ q) = Σ_a p (log p − log q)`` per state ``[*B]`` (logits over the last axis)."""
    logp = jax.nn.log_softmax(logits_p, axis=-1)
    logq = jax.nn.log_softmax(logits_q, axis=-1)
    return jnp.sum(jnp.exp(logp) * (logp - logq), axis=-1)


def categorical_chi2(logits_p: Array, logits_q: Array) -> Array:
    """``χ²(p ‖ q) = Σ_a p²/q − 1`` per state ``[*B]`` (computed as ``Σ exp(2 log p − log q)``)."""
    logp = jax.nn.log_softmax(logits_p, axis=-1)
    logq = jax.nn.log_softmax(logits_q, axis=-1)
    return jnp.sum(jnp.exp(2 * logp - logq), axis=-1) - 1.0


def gaussian_kl(mean_p: Array, log_std_p: Array, mean_q: Array, log_std_q: Array) -> Array:
    """KL between diagonal Gaussians, summed over the last (action) axis, ``[*B]``.

    ``Σ_i [log σ_q/σ_p + (σ_p² + (μ_p − μ_q)²) / (2 σ_q²) − ½]``; ``log_std`` broadcasts (e.g. a
    state-independent ``[D]`` vector).
    """
    mean_p, mean_q = jnp.asarray(mean_p), jnp.asarray(mean_q)
    log_std_p = jnp.broadcast_to(log_std_p, mean_p.shape)
    log_std_q = jnp.broadcast_to(log_std_q, mean_q.shape)
    var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
    per_dim = log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5
    return jnp.sum(per_dim, axis=-1)


def gaussian_chi2(mean_p: Array, log_std_p: Array, mean_q: Array, log_std_q: Array) -> Array:
    """χ² between diagonal Gaussians, ``[*B]`` (``+inf`` where ``σ_p² >= 2 σ_q²`` in some dim).

    Per dimension ``1 + χ² = σ_q² / (σ_p √(2σ_q² − σ_p²)) · exp((μ_p − μ_q)² / (2σ_q² − σ_p²))``;
    dimensions multiply.
    """
    mean_p, mean_q = jnp.asarray(mean_p), jnp.asarray(mean_q)
    log_std_p = jnp.broadcast_to(log_std_p, mean_p.shape)
    log_std_q = jnp.broadcast_to(log_std_q, mean_q.shape)
    var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
    denom = 2 * var_q - var_p
    ok = denom > 0
    safe = jnp.where(ok, denom, 1.0)
    log_one_plus = 2 * log_std_q - log_std_p - 0.5 * jnp.log(safe) + (mean_p - mean_q) ** 2 / safe
    total = jnp.sum(jnp.where(ok, log_one_plus, jnp.inf), axis=-1)
    return jnp.expm1(total)


# ----------------------------------------------------------------------------- batch penalties
def _mean(x: Array, mask: Array | None) -> Array:
    if mask is None:
        return jnp.mean(x)
    mask = jnp.asarray(mask, x.dtype)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def ad_penalty(per_state: Array, gamma: float | Array, beta: float | Array, mask=None) -> Array:
    """``(1/(1 − γ)) · β · mean_s per_state`` for any per-state divergence ``[*B]``."""
    return beta * _mean(per_state, mask) / (1.0 - gamma)


def ad_kl_penalty(
    logits_pi: Array,
    logits_ref: Array,
    gamma: float | Array,
    beta: float | Array,
    mask: Array | None = None,
) -> Array:
    """AD-KL loss term for categorical policies: ``β/(1 − γ) · mean_s KL(π(·|s) ‖ π_ref(·|s))``.

    ``logits_* [*B, A]``; gradients flow into ``logits_pi`` only.
    """
    kl = categorical_kl(logits_pi, jax.lax.stop_gradient(logits_ref))
    return ad_penalty(kl, gamma, beta, mask)


def ad_kl_penalty_gaussian(
    mean_pi: Array,
    log_std_pi: Array,
    mean_ref: Array,
    log_std_ref: Array,
    gamma: float | Array,
    beta: float | Array,
    mask: Array | None = None,
) -> Array:
    """AD-KL loss term for diagonal Gaussian policies (``mean [*B, D]``, ``log_std`` broadcast)."""
    kl = gaussian_kl(
        mean_pi,
        log_std_pi,
        jax.lax.stop_gradient(mean_ref),
        jax.lax.stop_gradient(log_std_ref),
    )
    return ad_penalty(kl, gamma, beta, mask)


def ad_chi2_penalty(
    logits_pi: Array,
    logits_ref: Array,
    gamma: float | Array,
    beta: float | Array,
    *,
    sqrt: bool = False,
    floor: float = 1e-4,
    mask: Array | None = None,
) -> Array:
    """AD-χ² loss term: ``β/(1 − γ) · mean_s χ²(π(·|s) ‖ π_ref(·|s))`` (categorical).

    With ``sqrt=True``: ``β/(1 − γ) · √max(mean_s χ², floor)``.
    """
    c = _mean(categorical_chi2(logits_pi, jax.lax.stop_gradient(logits_ref)), mask)
    if sqrt:
        c = jnp.sqrt(jnp.maximum(c, floor))
    return beta * c / (1.0 - gamma)
