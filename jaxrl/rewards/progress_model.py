"""A learned progress model and the two ways of using it as a step reward (Robo-Dopamine).

Robo-Dopamine ("General Process Reward Modeling for High-Precision Robotic Manipulation",
seed-papers.txt) learns a step-aware process reward model (GRM) of task progress and uses it
through "Policy-Invariant Reward Shaping ... without altering the optimal policy, thereby
fundamentally avoiding the semantic trap" that raw process rewards induce.

Small-scale form: the progress model is an MLP regression ``Φ̂(obs) ≈ progress label`` fitted by
full-batch Adam on mean-squared error (:func:`fit_progress_model`); the labels are the
environment's step progress (for ``reasoning_chain``: ``info["progress"] = Φ*(s')``) plus
Gaussian label noise of scale ``noise_scale`` (the GRM's imperfect annotations). When the obs
does not reveal everything Φ* depends on (``reasoning_chain`` hides whether the chain is still
right), the least-squares fit estimates ``E[Φ* | obs]`` under the data's distribution. Dropped:
multi-view fusion, step-wise discretisation, the 3,400-hour dataset.

Two transforms, one params tuple (so both uses vmap in one program,
:class:`ProgressShapingParams`):

* potential use: ``r + c_pot·(discount·Φ̂(s') − Φ̂(s))`` (Ng et al. 1999; policy invariant for any
  Φ̂ and any ``c_pot``);
* raw progress-as-reward: ``r + c_raw·Φ̂(s')`` (what the abstract calls theoretically unsound: a
  state-based reward that pays for *staying* at high-progress states).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxrl.rewards.preference import fit_full_batch
from jaxrl.shaping.potential import potential_shaping
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any


class ProgressMLP(nn.Module):
    """``Φ̂(obs [*B, F]) -> [*B]``: an MLP (ReLU) with a scalar linear head."""

    hidden_sizes: Sequence[int] = (64,)

    @nn.compact
    def __call__(self, x):
        for h in self.hidden_sizes:
            x = nn.relu(nn.Dense(h)(x))
        return nn.Dense(1)(x)[..., 0]


class ProgressFit(NamedTuple):
    """Result of :func:`fit_progress_model`: ``params``, ``model`` and ``losses [steps]``."""

    params: Any
    model: ProgressMLP
    losses: Array

    def predict(self, obs):
        """``Φ̂(obs)`` ``[*B]``."""
        return self.model.apply(self.params, obs)


def fit_progress_model(
    key: jax.Array,
    obs: Array,
    labels: Array,
    weights: Array | None = None,
    noise_scale: float | Array = 0.0,
    hidden_sizes: Sequence[int] = (64,),
    steps: int = 500,
    learning_rate: float = 3e-3,
) -> ProgressFit:
    """Weighted least-squares regression of ``labels + noise_scale·ε`` (ε ~ N(0, 1), drawn once)
    on ``obs``. Jittable and vmappable over keys / datasets / noise scales.

    Args:
      key: init and label-noise key.
      obs: ``[N, F]`` observations (of the state the progress label belongs to).
      labels: ``[N]`` progress labels.
      weights: ``[N]`` per-row weights (e.g. 0 for padding rows after an episode ended); default 1.
      noise_scale: label-noise standard deviation (>= 0).
      hidden_sizes, steps, learning_rate: the MLP and full-batch Adam.
    """
    obs, labels = jnp.asarray(obs), jnp.asarray(labels)
    if obs.ndim != 2 or labels.shape != obs.shape[:1]:
        raise ValueError(f"obs must be [N, F] and labels [N]; got {obs.shape}, {labels.shape}")
    if not isinstance(noise_scale, jax.core.Tracer) and float(noise_scale) < 0:
        raise ValueError(f"noise_scale={noise_scale}; must be >= 0")
    if int(steps) < 1:
        raise ValueError(f"steps={steps}; must be >= 1")
    w = jnp.ones_like(labels) if weights is None else jnp.asarray(weights, labels.dtype)
    k_init, k_noise = jax.random.split(key)
    y = labels + noise_scale * jax.random.normal(k_noise, labels.shape, labels.dtype)
    model = ProgressMLP(tuple(hidden_sizes))
    params = model.init(k_init, obs[:1])

    def loss(p):
        return jnp.sum(w * (model.apply(p, obs) - y) ** 2) / jnp.maximum(jnp.sum(w), 1.0)

    params, losses = fit_full_batch(loss, params, optax.adam(learning_rate), int(steps))
    return ProgressFit(params, model, losses)


class ProgressShapingParams(NamedTuple):
    """Params of :func:`progress_reward` (each field may carry a leading ``[runs]`` axis).

    ``coef_potential``: ``c_pot`` of the potential use; ``coef_raw``: ``c_raw`` of the raw use;
    ``model``: the progress model's params (pre-trained, frozen)."""

    coef_potential: Array
    coef_raw: Array
    model: Any


def progress_reward(model: ProgressMLP, gamma: float | None = None) -> RewardTransform:
    """``r + c_pot·(discount·Φ̂(s') − Φ̂(s)) + c_raw·Φ̂(s')``.

    ``c_raw = 0``: policy-invariant shaping (Ng et al. 1999, with the learner's discount, so
    Φ̂(terminal) never counts); ``c_pot = 0``: raw progress-as-reward. ``gamma`` is recorded for
    the trainers' γ check. Default params are set by the caller (:class:`ProgressShapingParams`).
    """

    def init(params):
        del params
        return ()

    def apply(params: ProgressShapingParams, state, tr: Transition):
        phi_s = model.apply(params.model, tr.obs)
        phi_next = model.apply(params.model, tr.next_obs)
        F = potential_shaping(phi_s, phi_next, tr.discount)
        return tr.reward + params.coef_potential * F + params.coef_raw * phi_next, state

    return RewardTransform(init, apply, (), gamma)
