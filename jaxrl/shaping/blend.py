"""BARFI's learned reward blend r_φ and learned discount γ_φ (theory.md §2, papers.md §2.2).

As implemented in the authors' code (``src/utils/Reward.py``; papers.md §2.2):

    r_φ(s, a) = r_p(s, a) + φ₁(s) + φ₂(s) · r_aux(s, a)
    [φ₁(s), φ₂(s)] = x(s) W + b          (one linear layer on state features x(s) ∈ ℝ^F)
    γ_φ = sigmoid(θ_γ)

* ``x(s)`` comes from ``features_fn(obs) -> [*B, F]``: one-hot for tabular problems
  (:func:`one_hot_features`), or a Fourier basis / tile coding / a frozen network (BARFI uses a
  16-d tanh basis on GridWorld, Fourier on CartPole, tile coding on MountainCar). The feature map
  is fixed; only ``W``, ``b`` and ``θ_γ`` are trained.
* Initialisation: ``W = 0``, ``b = (0, aux_weight_init)`` with ``aux_weight_init = 1``, so the
  initial blend is the naive sum ``r_p + r_aux`` that BARFI's first inner step uses
  (theory.md Check 2.3's ``φ_naive``: φ₁ = 0, φ₂ = 1). ``θ_γ = logit(0.99)`` (the code's 4.6 gives
  0.98995).
* Regularisers (subtracted from the outer objective): ``reward_L2 · ‖(W, b)‖²`` (pulls the blend
  toward the primary reward alone, φ₂ → 0) and ``gamma_L2 · γ_φ`` (linear in γ_φ, as in the code;
  it pushes γ_φ down). See :func:`blend_penalty`.

Two forms of the same blend:

* **RewardTransform form** :func:`blend` (any batch ``[*B]``): ``params`` *are* the trainable φ
  (a :class:`BlendParams`), so an outer loop differentiates ``apply`` with respect to them. It
  reads ``r_p`` from ``transition.reward`` (or ``transition.channels[primary_channel]``) and
  ``r_aux`` from ``transition.channels[aux_channel]`` (default ``"aux_reward"``), and features of
  ``transition.obs`` (the state the step leaves).
* **Table form** :func:`blend_reward_table` for the exact layer (``[S, A]`` or ``[S, A, S']``).

γ_φ is *not* written into ``Transition.discount`` (that is the learner's γ·(1 − terminated));
learners that use a learned discount read :func:`blend_discount` (``params``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
FeaturesFn = Callable[[Array], Array]

GAMMA_INIT = 0.99


class BlendParams(NamedTuple):
    """Trainable parameters φ of the blend (a pytree; optax updates it directly).

    Attributes:
      weight: ``[F, 2]`` linear layer; column 0 gives φ₁ (additive bonus), column 1 gives φ₂
        (weight of ``r_aux``).
      bias: ``[2]`` biases of φ₁ and φ₂.
      gamma_logit: ``[]`` θ_γ, with γ_φ = sigmoid(θ_γ).
    """

    weight: Array
    bias: Array
    gamma_logit: Array


def init_blend_params(
    n_features: int,
    *,
    aux_weight_init: float = 1.0,
    gamma_init: float = GAMMA_INIT,
    dtype=None,
) -> BlendParams:
    """φ at the naive blend: ``W = 0``, ``b = (0, aux_weight_init)``, ``γ_φ = gamma_init``."""
    dt = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if not 0.0 < gamma_init < 1.0:
        raise ValueError(f"gamma_init = {gamma_init} must be in (0, 1) (γ_φ is a sigmoid)")
    g = jnp.asarray(gamma_init, dt)
    return BlendParams(
        weight=jnp.zeros((n_features, 2), dt),
        bias=jnp.asarray([0.0, aux_weight_init], dt),
        gamma_logit=jnp.log(g) - jnp.log1p(-g),
    )


def one_hot_features(n_states: int) -> FeaturesFn:
    """``features_fn`` for tabular problems: integer state ``[*B]`` -> one-hot ``[*B, S]``."""

    def features(obs):
        return jax.nn.one_hot(obs, n_states, dtype=jnp.result_type(float))

    return features


def blend_weights(params: BlendParams, features: Array) -> tuple[Array, Array]:
    """``(φ₁, φ₂)``, each ``[*B]``, from features ``[*B, F]``."""
    out = jnp.asarray(features, params.weight.dtype) @ params.weight + params.bias
    return out[..., 0], out[..., 1]


def blend_discount(params: BlendParams) -> Array:
    """The learned discount ``γ_φ = sigmoid(θ_γ)`` (scalar)."""
    return jax.nn.sigmoid(params.gamma_logit)


def reward_l2(params: BlendParams) -> Array:
    """``‖φ_r‖² = ‖W‖² + ‖b‖²`` over the reward layer (BARFI's ``reward_L2`` term, unweighted)."""
    return jnp.sum(params.weight**2) + jnp.sum(params.bias**2)


def gamma_l2(params: BlendParams) -> Array:
    """BARFI's ``gamma_L2`` term, unweighted: ``γ_φ`` itself (linear, as in the code)."""
    return blend_discount(params)


def blend_penalty(params: BlendParams, reward_coef=0.0, gamma_coef=0.0) -> Array:
    """``reward_coef·‖φ_r‖² + gamma_coef·γ_φ``, to be *subtracted* from the outer objective."""
    return reward_coef * reward_l2(params) + gamma_coef * gamma_l2(params)


def blended_reward(params: BlendParams, r_p: Array, r_aux: Array, features: Array) -> Array:
    """``r_p + φ₁ + φ₂·r_aux`` with ``(φ₁, φ₂)`` from ``features [*B, F]``; r's are ``[*B]``."""
    phi1, phi2 = blend_weights(params, features)
    return r_p + phi1 + phi2 * r_aux


def blend_reward_table(
    params: BlendParams, r_p: Array, r_aux: Array, features: Array | None = None
) -> Array:
    """Table form: ``r_φ[s, a(, s')] = r_p + φ₁(s) + φ₂(s)·r_aux``.

    Args:
      params: :class:`BlendParams` with ``F`` rows.
      r_p, r_aux: ``[S, A]`` or ``[S, A, S']`` (broadcast against each other).
      features: ``[S, F]`` state features; default one-hot (``F = S``).

    Returns the blended table with the broadcast shape of ``r_p`` and ``r_aux``.
    """
    r_p = jnp.asarray(r_p)
    r_aux = jnp.asarray(r_aux)
    S = r_p.shape[0]
    x = jnp.eye(S, dtype=params.weight.dtype) if features is None else jnp.asarray(features)
    phi1, phi2 = blend_weights(params, x)  # [S]
    extra = (None,) * (max(r_p.ndim, r_aux.ndim) - 1)
    return r_p + phi1[(slice(None), *extra)] + phi2[(slice(None), *extra)] * r_aux


def blend(
    features_fn: FeaturesFn,
    n_features: int,
    *,
    aux_channel: str = "aux_reward",
    primary_channel: str | None = None,
    aux_weight_init: float = 1.0,
    gamma_init: float = GAMMA_INIT,
    dtype=None,
) -> RewardTransform:
    """BARFI's blend as a RewardTransform; ``params`` are the trainable φ (:class:`BlendParams`).

    Args:
      features_fn: ``obs [*B, *obs_shape] -> [*B, F]`` (e.g. :func:`one_hot_features`).
      n_features: ``F``.
      aux_channel: name of the auxiliary reward channel.
      primary_channel: read ``r_p`` from this channel instead of ``transition.reward``.
      aux_weight_init, gamma_init, dtype: see :func:`init_blend_params` (``default_params``).

    ``apply`` is stateless. ``gamma`` of the transform is ``None`` (γ_φ is a parameter, read it with
    :func:`blend_discount`; it is not the learner's ``transition.discount``).
    """

    def init(params):
        del params
        return ()

    def apply(params: BlendParams, state, transition: Transition):
        if aux_channel not in transition.channels:
            available = sorted(transition.channels)
            raise KeyError(f"aux channel {aux_channel!r} not in transition; available: {available}")
        if primary_channel is None:
            r_p = transition.reward
        elif primary_channel in transition.channels:
            r_p = transition.channels[primary_channel]
        else:
            available = sorted(transition.channels)
            raise KeyError(
                f"primary channel {primary_channel!r} not in transition; available: {available}"
            )
        dt = params.weight.dtype
        r = blended_reward(
            params,
            jnp.asarray(r_p, dt),
            jnp.asarray(transition.channels[aux_channel], dt),
            features_fn(transition.obs),
        )
        return r, state

    default = init_blend_params(
        n_features, aux_weight_init=aux_weight_init, gamma_init=gamma_init, dtype=dtype
    )
    return RewardTransform(init, apply, default, None)
