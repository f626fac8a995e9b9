"""ORPO head of the discriminator: occupancy-ratio estimation and penalty rewards (papers.md §1.3).

The discriminator ``d`` (:mod:`jaxrl.rewards.discriminator`; ORPO: 2×256 LeakyReLU(0.01) on
``(s, a)`` or, for the state-occupancy variant, ``s`` alone, see :func:`orpo_config`) is trained
on current-policy vs reference-policy samples with

    L = mean_π softplus(−d) + mean_ref softplus(d),

whose population minimiser (:func:`population_logistic_loss`) is ``d* = log μ_π / μ_ref``
(:func:`jaxrl.regularizers.occupancy.bayes_optimal_logit`; theory check 13). Each
:func:`train_occupancy_ratio` call runs ``num_epochs`` epochs of shuffled minibatches (a config
field, overridable per call): the released ORPO code under-trains the discriminator
(papers.md §1.5), so give it several epochs.

Penalty rewards (:func:`penalty_from_logits`, subtracted with coefficient λ):

* ``kl``: ``d`` (``E_π[d*] = KL``);
* ``chi2``: ``e^d − 1`` (``E_π[e^{d*} − 1] = χ²``);
* ``sqrt_chi2``: ``(e^d − 1) / √m`` with ``m`` the 1%-two-sided-trimmed batch mean of ``e^d − 1``
  (the gradient of √χ² is ``∂χ²/∂μ / (2√χ²)``); no division if ``m <= 0`` or ``m`` is not finite;
* ``tv``: ``sign(d)`` (the TV witness ``sign(w − 1)``). ORPO trains a separate tanh-loss critic
  for TV; here the logistic ``d`` is reused (same sign as ``log w`` at the optimum).

Then non-finite penalties are set to 0 and the result is clipped to ``±clip``
(ORPO's ``discriminator_reward_clip``: :data:`ORPO_REWARD_CLIP`).

**How the params reach the reward transform.** :func:`occupancy_penalty` returns a
:class:`~jaxrl.shaping.RewardTransform` whose ``params`` pytree is
:class:`OccupancyPenaltyParams` ``(lam, disc_params)``: the outer training loop trains the
discriminator with :func:`train_occupancy_ratio` and passes ``params._replace(disc_params=
state.variables)`` to ``apply`` each iteration (λ stays vmappable for sweeps). The network shape
is static (closed over through the config). The ``sqrt_chi2`` normaliser is the trimmed mean
over the *batch the transform is applied to*, so apply it to the whole current-policy rollout
``[T, N]`` at once (as ORPO does per train batch), not step by step.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxrl.rewards.discriminator import (
    DiscBatch,
    DiscriminatorConfig,
    DiscState,
    discriminator_input,
    discriminator_logits,
    flatten_batch,
    logits_and_stats,
    transition_batch,
)
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
Params = Any

PENALTIES = ("kl", "chi2", "sqrt_chi2", "tv")

#: ORPO's per-environment ``discriminator_reward_clip`` (papers.md §1.3).
ORPO_REWARD_CLIP = {"tomato": 1000.0, "pandemic": 100.0, "glucose": 1e10, "traffic": 1.0}


def orpo_config(obs_dim: int, action_dim: int, **overrides) -> DiscriminatorConfig:
    """ORPO's discriminator: discrete ``(s, a)`` input, 2×256 LeakyReLU(0.01), no spectral norm,
    Adam with PPO's settings (tomato lr 1e-3, global-norm clip 0.1), 8 epochs × 4 minibatches."""
    # The network, learning rate and epochs are the dataclass defaults.
    return DiscriminatorConfig(
        obs_dim, action_dim, **{"discrete": True, "max_grad_norm": 0.1, **overrides}
    )


def logistic_loss(d_pi: Array, d_ref: Array) -> Array:
    """ORPO's discriminator loss ``mean softplus(−d_π) + mean softplus(d_ref)``."""
    return jnp.mean(jax.nn.softplus(-d_pi)) + jnp.mean(jax.nn.softplus(d_ref))


@jax.jit
def population_logistic_loss(d: Array, mu: Array, mu_ref: Array) -> Array:
    """ORPO's discriminator loss under the exact occupancies (theory.md §4):

    ``L(d) = Σ μ softplus(−d) + Σ μ_ref softplus(d)``, the population version of
    :func:`logistic_loss`. Strictly convex per cell; minimised by ``d = log μ/μ_ref``
    (``∂L/∂d = −μ σ(−d) + μ_ref σ(d) = 0``). ``d``, ``mu``, ``mu_ref`` share a shape (any).
    """
    mu, mu_ref = jnp.asarray(mu), jnp.asarray(mu_ref)
    dt = jnp.result_type(mu, mu_ref, float)
    mu, mu_ref = mu.astype(dt), mu_ref.astype(dt)
    d = jnp.asarray(d, dt)
    return jnp.sum(mu * jax.nn.softplus(-d)) + jnp.sum(mu_ref * jax.nn.softplus(d))


def _minibatches(key: Array, batch: DiscBatch, num_minibatches: int) -> DiscBatch:
    n = batch.obs.shape[0]
    size = n // num_minibatches
    if size == 0:
        raise ValueError(f"batch of {n} samples is smaller than num_minibatches={num_minibatches}")
    idx = jax.random.permutation(key, n)[: size * num_minibatches]
    return jax.tree.map(lambda x: x[idx].reshape(num_minibatches, size, *x.shape[1:]), batch)


@partial(jax.jit, static_argnames=("num_epochs", "num_minibatches", "return_logits"))
def train_occupancy_ratio(
    state: DiscState,
    batch_pi: DiscBatch,
    batch_ref: DiscBatch,
    key: Array,
    num_epochs: int | None = None,
    num_minibatches: int | None = None,
    return_logits: bool = False,
) -> tuple[DiscState, dict[str, Array]]:
    """``num_epochs`` shuffled passes of ``num_minibatches`` Adam steps on the logistic loss.

    ``batch_pi`` (current policy) and ``batch_ref`` (reference policy) may have different sizes
    and any leading batch shape; each minibatch pairs ``1/num_minibatches`` of each (the
    remainder of a shuffle is dropped). Pure and jitted (``num_epochs``/``num_minibatches``/
    ``return_logits`` static; ``None`` takes the config's values). With spectral normalisation
    the power iteration advances on each forward pass (π, then reference minibatch).

    Returns the new state and metrics: ``loss`` ``[num_epochs]`` (mean minibatch loss per epoch),
    and on the full batches after training ``final_loss``, ``accuracy`` (fraction classified
    correctly, ``d > 0`` on π samples and ``d < 0`` on reference samples), ``mean_logit_pi`` and
    ``mean_logit_ref``. With ``return_logits`` also ``logits_pi`` / ``logits_ref``: the trained
    ``d`` on every sample, shaped like the batches' leading axes, so a caller that needs the
    penalty on the current-policy batch (ORPO) does not run the network over it a second time.

    Cost: every epoch runs the network forward and backward once over *all* ``n_π + n_ref``
    samples, so the work is ``∝ num_epochs · (n_π + n_ref)`` whatever ``num_minibatches`` is (it
    only sets how many sequential Adam steps that work is split into). On a CPU this is
    FLOP-bound: with ORPO's defaults it costs about as much as PPO's own update.
    """
    config = state.config
    num_epochs = config.num_epochs if num_epochs is None else num_epochs
    num_minibatches = config.num_minibatches if num_minibatches is None else num_minibatches
    tx = config.optimizer()
    lead_pi = jnp.shape(batch_pi.obs)[:-1]
    lead_ref = jnp.shape(batch_ref.obs)[:-1]
    batch_pi, batch_ref = flatten_batch(config, batch_pi), flatten_batch(config, batch_ref)

    def loss_fn(params, stats, mb_pi, mb_ref):
        d_pi, stats = logits_and_stats(config, params, stats, discriminator_input(config, mb_pi))
        d_ref, stats = logits_and_stats(config, params, stats, discriminator_input(config, mb_ref))
        return logistic_loss(d_pi, d_ref), stats

    def sgd_step(carry, mbs):
        params, stats, opt_state = carry
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, *mbs)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), stats, opt_state), loss

    def epoch(carry, epoch_key):
        k_pi, k_ref = jax.random.split(epoch_key)
        mbs = (
            _minibatches(k_pi, batch_pi, num_minibatches),
            _minibatches(k_ref, batch_ref, num_minibatches),
        )
        carry, losses = jax.lax.scan(sgd_step, carry, mbs)
        return carry, jnp.mean(losses)

    (params, stats, opt_state), losses = jax.lax.scan(
        epoch, (state.params, state.batch_stats, state.opt_state), jax.random.split(key, num_epochs)
    )
    variables = {"params": params, "batch_stats": stats}
    d_pi = discriminator_logits(config, variables, batch_pi)
    d_ref = discriminator_logits(config, variables, batch_ref)
    n_pi, n_ref = d_pi.shape[0], d_ref.shape[0]
    metrics = {
        "loss": losses,
        "final_loss": logistic_loss(d_pi, d_ref),
        "accuracy": (jnp.sum(d_pi > 0) + jnp.sum(d_ref < 0)) / (n_pi + n_ref),
        "mean_logit_pi": jnp.mean(d_pi),
        "mean_logit_ref": jnp.mean(d_ref),
    }
    if return_logits:
        metrics["logits_pi"] = d_pi.reshape(lead_pi)
        metrics["logits_ref"] = d_ref.reshape(lead_ref)
    steps = state.step + num_epochs * num_minibatches
    new_state = state.replace(params=params, batch_stats=stats, opt_state=opt_state, step=steps)
    return new_state, metrics


@partial(jax.jit, static_argnames=("num_steps",))
def fit_occupancy_ratio_exact(
    state: DiscState,
    batch: DiscBatch,
    weight_pi: Array,
    weight_ref: Array,
    num_steps: int = 40,
) -> tuple[DiscState, dict[str, Array]]:
    """Train a small discriminator to convergence on *exact* occupancies (the population limit).

    ``batch`` lists the cells ``[*B]`` (e.g. every ``(s, a)`` of a tabular MDP, one-hot encoded),
    ``weight_pi`` / ``weight_ref`` ``[*B]`` their probabilities under the current and the reference
    policy (e.g. :func:`jaxrl.mdp.occupancy_measure`). Minimises the population logistic loss
    ``L = Σ μ_π softplus(−d) + Σ μ_ref softplus(d)`` (:func:`population_logistic_loss`, the
    expectation of :func:`logistic_loss`) full-batch with
    ``num_steps`` damped Gauss–Newton steps (IRLS, as for logistic regression: the curvature
    ``Jᵀ diag((μ_π + μ_ref) σ(d) σ(−d)) J`` in the flattened parameters, Levenberg damping
    ``1e-12·max diag``, the largest of 12 halved step sizes that does not increase ``L``). A
    tabular discriminator (``hidden_sizes=()`` on one-hot cells, where this is Newton's method)
    reaches
    ``d = log μ_π/μ_ref`` to near machine precision on every cell of non-negligible mass. Builds a
    dense ``[P, P]`` matrix: for small networks only (``P ≲ 2000`` parameters). Parameters are
    cast to the weights' dtype (float64 under ``jax.enable_x64``); the optimizer state and the
    spectral-norm statistics of ``state`` are left as is.

    Returns the new state and metrics ``loss`` ``[num_steps]``, ``final_loss``, ``grad_max``
    (largest ``|∂L/∂θ|`` at the result, the optimality certificate) and ``logits`` ``[*B]``.
    """
    config = state.config
    lead = jnp.shape(batch.obs)[:-1]
    flat = flatten_batch(config, batch)
    w_pi, w_ref = jnp.ravel(jnp.asarray(weight_pi)), jnp.ravel(jnp.asarray(weight_ref))
    dtype = jnp.result_type(w_pi, w_ref, float)  # flax initialises float32; fit in float64
    theta0, unravel = ravel_pytree(jax.tree.map(lambda p: jnp.asarray(p, dtype), state.params))

    def logits(theta):
        variables = {"params": unravel(theta), "batch_stats": state.batch_stats}
        return discriminator_logits(config, variables, flat)

    def loss_fn(theta):
        return population_logistic_loss(logits(theta), w_pi, w_ref)

    halvings = 0.5 ** jnp.arange(12, dtype=dtype)

    def step(theta, _):
        d = logits(theta)
        J = jax.jacfwd(logits)(theta)  # [N, P]
        g = J.T @ (w_ref * jax.nn.sigmoid(d) - w_pi * jax.nn.sigmoid(-d))
        h = (w_pi + w_ref) * jax.nn.sigmoid(d) * jax.nn.sigmoid(-d)
        H = J.T @ (h[:, None] * J)
        H = H + 1e-12 * jnp.max(jnp.diag(H)) * jnp.eye(H.shape[0], dtype=dtype)
        direction = -jnp.linalg.solve(H, g)
        trial = jax.vmap(lambda t: loss_fn(theta + t * direction))(halvings)
        value = loss_fn(theta)
        # Largest step that does not increase L beyond rounding (near the optimum the quadratic
        # decrease is below float resolution; a strict decrease would stall the last steps).
        ok = jnp.isfinite(trial) & (trial <= value + 8 * jnp.finfo(dtype).eps * jnp.abs(value))
        t = jnp.where(jnp.any(ok), halvings[jnp.argmax(ok)], 0.0)
        return theta + t * direction, value

    theta, losses = jax.lax.scan(step, theta0, None, length=num_steps)
    final, grad = jax.value_and_grad(loss_fn)(theta)
    metrics = {
        "loss": losses,
        "final_loss": final,
        "grad_max": jnp.max(jnp.abs(grad)),
        "logits": logits(theta).reshape(lead),
    }
    return state.replace(params=unravel(theta)), metrics


# ----------------------------------------------------------------------------- penalties
def trimmed_mean(x: Array, trim: float = 0.01, weights: Array | None = None) -> Array:
    """Mean of ``x`` (flattened) after dropping ``floor(trim · n)`` values from each end.

    With ``weights`` (same shape as ``x``, ``>= 0``, e.g. exact occupancies of the cells ``x`` is
    given on) it is the mean of the weighted distribution with a ``trim`` fraction of the *mass*
    dropped from each tail (partial cells included pro rata); ``trim = 0`` gives ``Σ w x / Σ w``.
    """
    if weights is not None:
        return _weighted_trimmed_mean(x, weights, trim)
    x = jnp.ravel(jnp.asarray(x))
    n = x.shape[0]
    k = int(np.floor(trim * n))
    if 2 * k >= n:
        k = (n - 1) // 2
    return jnp.mean(jnp.sort(x)[k : n - k])


def _weighted_trimmed_mean(x: Array, weights: Array, trim: float) -> Array:
    x = jnp.ravel(jnp.asarray(x))
    w = jnp.ravel(jnp.asarray(weights, x.dtype))
    order = jnp.argsort(x)
    x, w = x[order], w[order] / jnp.sum(w)
    hi = jnp.cumsum(w)
    lo = hi - w
    kept = jnp.clip(hi, trim, 1 - trim) - jnp.clip(lo, trim, 1 - trim)  # mass inside the band
    return jnp.sum(kept * jnp.where(kept > 0, x, 0.0)) / (1 - 2 * trim)


@partial(jax.jit, static_argnames=("divergence", "clip", "trim"))
def penalty_from_logits(
    d: Array,
    divergence: str,
    clip: float = np.inf,
    trim: float = 0.01,
    weights: Array | None = None,
) -> Array:
    """Per-sample ORPO penalty rewards from discriminator logits ``d`` (any shape).

    ``kl``: ``d``; ``chi2``: ``e^d − 1``; ``sqrt_chi2``: ``(e^d − 1)/√m``, ``m`` = ``trim``-two-
    sided-trimmed mean of ``e^d − 1`` over the whole of ``d`` (no division if ``m <= 0`` or not
    finite); ``tv``: ``sign(d)``. Non-finite penalties become 0, then the result is clipped to
    ``[−clip, clip]``. Jitted with ``divergence``, ``clip`` and ``trim`` static.

    ``weights`` (shape of ``d``): ``d`` is given per *cell* with these probabilities (e.g. the
    exact occupancy ``μ_π``) instead of per sample; only the ``sqrt_chi2`` normaliser uses them
    (:func:`trimmed_mean` with weights; with ``trim=0``, ``m = E_π[e^d − 1]`` so that
    ``E_π[penalty] = √χ²`` for the Bayes-optimal ``d``).
    """
    d = jnp.asarray(d)
    if divergence == "kl":
        pen = d
    elif divergence == "chi2":
        pen = jnp.expm1(d)
    elif divergence == "sqrt_chi2":
        e = jnp.expm1(d)
        m = trimmed_mean(e, trim, weights)
        ok = (m > 0) & jnp.isfinite(m)
        pen = e / jnp.sqrt(jnp.where(ok, m, 1.0))
    elif divergence == "tv":
        pen = jnp.sign(d)
    else:
        raise ValueError(f"unknown penalty {divergence!r}; expected one of {PENALTIES}")
    pen = jnp.where(jnp.isfinite(pen), pen, 0.0)
    return jnp.clip(pen, -clip, clip)


class OccupancyPenaltyParams(NamedTuple):
    """``params`` of :func:`occupancy_penalty`: coefficient ``lam`` and the discriminator's
    variables ``{"params", "batch_stats"}`` (:attr:`~jaxrl.rewards.discriminator.DiscState.
    variables`)."""

    lam: Array
    disc_params: Params


def occupancy_penalty(
    config: DiscriminatorConfig,
    divergence: str = "sqrt_chi2",
    lam: float = 0.0,
    disc_params: Params = None,
    clip: float = np.inf,
    trim: float = 0.01,
) -> RewardTransform:
    """RewardTransform ``r -> r − λ · penalty(d(s_t, a_t))`` (ORPO's reward augmentation).

    ``params`` = :class:`OccupancyPenaltyParams` ``(lam, disc_params)``; ``default_params`` uses
    ``lam`` and ``disc_params`` given here (e.g. ``init_discriminator(...).variables``). The outer
    loop replaces ``disc_params`` after each :func:`train_occupancy_ratio` call. The
    discriminator is applied to ``transition.obs`` (``[*B, obs_dim]``) and ``transition.action``
    (or ``next_obs``, by ``config.inputs``; absorbing-wrapped if configured); its output
    is treated as a constant (``stop_gradient``). ``clip`` is per environment
    (:data:`ORPO_REWARD_CLIP`). No state. ``sqrt_chi2`` normalises over the given batch.
    """
    if divergence not in PENALTIES:
        raise ValueError(f"unknown penalty {divergence!r}; expected one of {PENALTIES}")

    def init(params):
        del params
        return ()

    def apply(params: OccupancyPenaltyParams, state, transition: Transition):
        d = discriminator_logits(config, params.disc_params, transition_batch(config, transition))
        pen = penalty_from_logits(jax.lax.stop_gradient(d), divergence, clip, trim)
        reward = jnp.asarray(transition.reward)
        return reward - jnp.asarray(params.lam, reward.dtype) * pen.astype(reward.dtype), state

    default = OccupancyPenaltyParams(jnp.asarray(lam), disc_params)
    return RewardTransform(init, apply, default)
