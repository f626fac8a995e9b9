"""Gradient penalties and spectral normalisation for adversarial-imitation discriminators.

Blondé, Strasser & Kalousis, "Lipschitzness Is All You Need To Tame Off-policy GAIL"
(papers.md §3.2, theory.md §3; ``agents/sam_agent.py::grad_pen`` in ``liayn-pytorch``):

    R(k) = E_{x̂ ~ ζ} [ pen(‖∇_{x̂} D(x̂)‖₂ − k) ],
    pen(u) = relu(u)²   (one-sided, the liayn default)   or   u²   (two-sided, WGAN-GP),

added to the discriminator loss with scale λ. The penalty distribution ζ (:data:`GP_TYPES`):

* ``"wgan"``: ``x̂ = ε·x_agent + (1 − ε)·x_expert`` with ``ε ~ U(0, 1)`` per sample, drawn
  *separately* for the first input block (the state) and the second (the action or next state);
* ``"dragan"``: ``x̂ = x_expert + N(0, σ²)`` (σ = 10 in the paper runs);
* ``"nagard"``: ``x̂ = x_agent + N(0, σ²)``;
* ``"bare"``: ``x̂ = x_agent`` (used for monitoring);
* ``"none"``: no penalty (the points are the agent samples, the penalty is 0).

The gradient is w.r.t. the whole concatenated discriminator input, per sample
(``vmap(grad)``), so the norm is the local Lipschitz constant of D at x̂.

Spectral normalisation: :class:`SpectralDense` (:func:`spectral_dense`), a dense layer divided
by σ̂(W) (one power-iteration step per call from a persistent ``u`` vector stored in
the ``"batch_stats"`` collection; pass ``update_stats=True`` and ``mutable=["batch_stats"]``
while training). :func:`power_iteration` is the standalone estimator of ``σ_max(W)`` used by the
tests and the analysis code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = Any

GP_TYPES = ("wgan", "dragan", "nagard", "bare", "none")


# ----------------------------------------------------------------------------- penalties
def penalty_from_norms(norms: Array, target: Array = 1.0, one_sided: bool = True) -> Array:
    """``mean(relu(‖∇‖ − k)²)`` (one-sided) or ``mean((‖∇‖ − k)²)`` (two-sided); ``k`` traced."""
    u = jnp.asarray(norms) - target
    if one_sided:
        u = jax.nn.relu(u)
    return jnp.mean(jnp.square(u))


def input_gradient_norms(fn: Callable[[Array], Array], x: Array) -> Array:
    """Per-sample ``‖∇_x fn(x_i)‖₂`` ``[B]``: ``fn`` maps one input ``[D]`` to a scalar.

    Computed with ``vmap(grad)``, so the samples are never coupled (a batch-dependent ``fn``
    would be differentiated per sample). A zero gradient has norm 0 (no NaN).
    """
    grads = jax.vmap(jax.grad(fn))(x)
    return _safe_norm(grads)


def _safe_norm(g: Array) -> Array:
    """``‖g‖₂`` over the last axis, with a finite (zero) derivative at ``g = 0``."""
    sq = jnp.sum(jnp.square(g), axis=-1)
    nonzero = sq > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


def penalty_points(
    key: Array,
    x_expert: Array,
    x_agent: Array,
    gp_type: str = "wgan",
    noise_std: Array = 10.0,
    split: int | None = None,
) -> Array:
    """The points ``x̂ ~ ζ`` ``[B, D]`` at which the gradient penalty is evaluated.

    ``split`` is the size of the first input block (the state features): ``"wgan"`` draws one
    ``ε`` per sample for ``x[:, :split]`` and an independent one for ``x[:, split:]``
    (``None``: one ``ε`` for the whole input). ``"wgan"`` needs equal batch sizes.
    ``noise_std`` may be traced.
    """
    x_expert, x_agent = jnp.asarray(x_expert), jnp.asarray(x_agent)
    if gp_type == "wgan":
        if x_expert.shape != x_agent.shape:
            raise ValueError(
                f"wgan interpolates paired samples: expert {x_expert.shape} vs agent "
                f"{x_agent.shape}"
            )
        b, d = x_agent.shape
        split = d if split is None else split
        k1, k2 = jax.random.split(key)
        eps_s = jax.random.uniform(k1, (b, 1), x_agent.dtype)
        eps_a = jax.random.uniform(k2, (b, 1), x_agent.dtype)
        eps = jnp.concatenate(
            [jnp.broadcast_to(eps_s, (b, split)), jnp.broadcast_to(eps_a, (b, d - split))], axis=1
        )
        return eps * x_agent + (1.0 - eps) * x_expert
    if gp_type == "dragan":
        return x_expert + noise_std * jax.random.normal(key, x_expert.shape, x_expert.dtype)
    if gp_type == "nagard":
        return x_agent + noise_std * jax.random.normal(key, x_agent.shape, x_agent.dtype)
    if gp_type in ("bare", "none"):
        return x_agent
    raise ValueError(f"unknown gradient penalty {gp_type!r}; expected one of {GP_TYPES}")


def gradient_penalty(
    fn: Callable[[Array], Array],
    key: Array,
    x_expert: Array,
    x_agent: Array,
    gp_type: str = "wgan",
    target: Array = 1.0,
    one_sided: bool = True,
    noise_std: Array = 10.0,
    split: int | None = None,
) -> tuple[Array, Array]:
    """``(GP, per-sample ‖∇D(x̂)‖)`` for a per-sample discriminator ``fn: [D] -> []``.

    ``GP = mean(pen(‖∇D(x̂)‖ − k))`` over ``x̂ =`` :func:`penalty_points`; differentiable w.r.t.
    the parameters closed over by ``fn`` (double backprop). ``gp_type="none"`` returns 0 (the
    norms at the agent samples are still returned, for monitoring).
    """
    x_hat = penalty_points(key, x_expert, x_agent, gp_type, noise_std, split)
    norms = input_gradient_norms(fn, x_hat)
    if gp_type == "none":
        return jnp.zeros((), norms.dtype), norms
    return penalty_from_norms(norms, target, one_sided), norms


# ----------------------------------------------------------------------------- spectral norm
class SpectralDense(nn.Module):
    """``x W / σ̂(W) + b``: a dense layer with spectral normalisation (Miyato et al. 2018).

    σ̂ comes from ``n_steps`` power-iteration steps per call, started from the persistent ``u``
    in the ``"batch_stats"`` collection (``u`` and ``sigma``; ``apply(..., mutable=
    ["batch_stats"])`` with ``update_stats=True`` stores the advanced ones), with ``u`` and
    ``v`` held constant for the gradient (flax's ``nn.SpectralNorm`` computes the same). The
    bias is not normalised. Parameters ``kernel`` / ``bias`` are drawn as ``nn.Dense``'s
    (same name, same draws).

    ``on`` (``[]``, may be traced) switches the normalisation per call: with 0 the layer is
    the raw ``x W + b`` (σ̂ is still estimated), so runs with and without it share one
    ``vmap`` at the cost of one matmul.
    """

    features: int
    n_steps: int = 1
    eps: float = 1e-12

    @nn.compact
    def __call__(self, x, update_stats: bool = False, on: Array = 1.0):
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (jnp.shape(x)[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        draw_u = lambda: jax.random.normal(self.make_rng("params"), (1, self.features))
        u_var = self.variable("batch_stats", "u", draw_u)
        sigma_var = self.variable("batch_stats", "sigma", lambda: jnp.ones((), kernel.dtype))
        normalize = lambda z: z * jax.lax.rsqrt(jnp.sum(z**2) + self.eps)
        u = u_var.value
        for _ in range(self.n_steps):
            v = normalize(u @ kernel.T)
            u = normalize(v @ kernel)
        u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
        sigma = (v @ kernel @ u.T)[0, 0]
        if update_stats:
            u_var.value, sigma_var.value = u, sigma
        scale = jnp.where((jnp.asarray(on) > 0) & (sigma != 0), sigma, 1.0)
        return x @ (kernel / scale) + bias


def spectral_dense(features: int, n_steps: int = 1, name: str | None = None) -> nn.Module:
    """:class:`SpectralDense`: W / σ̂(W) with persistent power iteration.

    Call as ``layer(x, update_stats=...)``. Its ``u``/``sigma`` live in the ``"batch_stats"``
    collection (``init`` creates them; ``apply(..., mutable=["batch_stats"])`` with
    ``update_stats=True`` advances the power iteration). The bias is not normalised.
    """
    return SpectralDense(features, n_steps, name=name)


def power_iteration(w: Array, key: Array, n_steps: int = 50) -> tuple[Array, Array]:
    """``(σ̂, u)``: estimate of the largest singular value of ``w [m, n]`` by ``n_steps`` steps.

    ``σ̂ = vᵀ W u`` with ``u`` the right and ``v`` the left singular vector estimates; ``σ̂``
    increases to ``σ_max(W)`` (for a generic start).
    """
    w = jnp.asarray(w)
    u = jax.random.normal(key, (w.shape[1],), w.dtype)
    u = u / jnp.linalg.norm(u)

    def body(u, _):
        v = w @ u
        v = v / jnp.maximum(jnp.linalg.norm(v), 1e-30)
        u = w.T @ v
        return u / jnp.maximum(jnp.linalg.norm(u), 1e-30), None

    u, _ = jax.lax.scan(body, u, None, length=n_steps)
    v = w @ u
    return jnp.linalg.norm(v), u
