"""Ctrl-U: uncertainty-aware reward weighting from an ensemble of Bradley–Terry reward models.

Ctrl-U (Zhang, Gao, Jiang, Zhao & Zheng, "Ctrl-U: Robust Conditional Image Generation via
Uncertainty-aware Reward Modeling", ICLR 2025; seed-papers.txt) observes that a reward model gives
inaccurate feedback on newly generated data, measures that as the *prediction variance* of the
reward, and rectifies the reward adaptively: "rewards with lower uncertainty receive higher loss
weights, while those with higher uncertainty are given reduced weights". The paper's variance comes
from two generations under one condition; here it is the spread of an ensemble of BT reward models
(different initialisations, bootstrap resamples of the preference data), the usual epistemic
estimate for reward over-optimisation.

* :func:`train_bt_ensemble`: ``E`` BT reward MLPs (:class:`jaxrl.rewards.preference.RewardMLP`)
  fitted in one vmapped program, member ``e`` on bootstrap counts ``c_e [N]`` of the pairs:
  ``L_e(θ) = −Σ_i c_ei [y_i log σ(Δ_i) + (1 − y_i) log σ(−Δ_i)] / Σ_i c_ei``,
  ``Δ_i = r_θ(x_a,i) − r_θ(x_b,i)``, soft labels ``y ∈ {0, ½, 1}`` (ties are ½).
* :func:`ensemble_mean_std`: ``μ(x) = mean_e r_e(x)``, ``σ(x) = std_e r_e(x)``.
* :func:`ctrl_u_reward` (the abstract's form): ``r = w(σ)·μ`` with ``w(σ) = exp(−σ/τ)`` in
  ``(0, 1]``, decreasing in σ (weight 1 where the ensemble agrees). With ``μ`` centred on the
  reference policy, down-weighting shrinks an uncertain reward towards the reference's mean.
* :func:`lcb_reward` (variant): the lower confidence bound ``r = μ − κ·σ``.
* :func:`uncertainty_reward`: either as a :class:`RewardTransform` through
  :func:`jaxrl.rewards.reward_model.learned_reward` (the one reward path), with params
  :class:`UncertaintyParams` (ensemble params and the coefficient), for ``(s, a)`` inputs.

Pure JAX, jittable; the ensemble axis is the leading axis of every params leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl.rewards.preference import RewardMLP, fit_full_batch
from jaxrl.rewards.reward_model import learned_reward
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
Mode = Literal["ctrl_u", "lcb"]


def soft_bt_loss(params, apply_fn, x_a, x_b, label, weight=None):
    """Weighted soft-label BT NLL (a scalar).

    ``x_a, x_b [N, D]``, ``label [N]`` in [0, 1] (1: a preferred, ½: tie), ``weight [N] >= 0``
    (bootstrap counts; default 1): ``−Σ w [y log σ(Δ) + (1−y) log σ(−Δ)] / Σ w``."""
    d = apply_fn(params, x_a) - apply_fn(params, x_b)
    y = jnp.asarray(label, d.dtype)
    nll = -(y * jax.nn.log_sigmoid(d) + (1.0 - y) * jax.nn.log_sigmoid(-d))
    w = jnp.ones_like(nll) if weight is None else jnp.asarray(weight, nll.dtype)
    return jnp.sum(w * nll) / jnp.maximum(jnp.sum(w), 1e-12)


def bootstrap_counts(key: jax.Array, num: int, members: int) -> Array:
    """Bootstrap resample counts ``[members, num]`` (each row sums to ``num``)."""
    idx = jax.random.randint(key, (members, num), 0, num)
    return jnp.sum(jax.nn.one_hot(idx, num, dtype=jnp.float32), axis=1)


class EnsembleFit(NamedTuple):
    """Result of :func:`train_bt_ensemble`: params with a leading ensemble axis ``[E, ...]``."""

    params: Any
    model: RewardMLP
    losses: Array  # [E, steps]

    def rewards(self, x) -> Array:
        """Every member's reward ``[E, ...]`` for features ``[..., D]``."""
        return jax.vmap(self.model.apply, in_axes=(0, None))(self.params, x)


def train_bt_ensemble(
    key: jax.Array,
    x_a,
    x_b,
    label,
    members: int = 5,
    hidden_sizes: Sequence[int] = (64, 64),
    steps: int = 300,
    learning_rate: float = 3e-3,
    weight_decay: float = 1e-4,
    bootstrap: bool = True,
) -> EnsembleFit:
    """Fit ``members`` BT reward MLPs in one vmapped program (full-batch AdamW).

    Args:
      key: initialisation and bootstrap key (each member its own init and resample).
      x_a, x_b: ``[N, D]`` features of the two responses; ``label [N]`` in [0, 1].
      members: ensemble size ``E`` (>= 2 for a spread).
      bootstrap: resample the pairs per member (False: only the inits differ).

    Returns:
      :class:`EnsembleFit` (params ``[E, ...]``, losses ``[E, steps]``); vmappable over ``key``
      and data (no Python control flow on values).
    """
    if int(members) < 1 or int(steps) < 1:
        raise ValueError(f"train_bt_ensemble: members={members}, steps={steps} must be >= 1")
    x_a, x_b = jnp.asarray(x_a, jnp.float32), jnp.asarray(x_b, jnp.float32)
    if x_a.ndim != 2 or x_a.shape != x_b.shape:
        raise ValueError(f"train_bt_ensemble: x_a {x_a.shape}, x_b {x_b.shape}; want [N, D] both")
    model = RewardMLP(tuple(hidden_sizes))
    k_init, k_boot = jax.random.split(key)
    params = jax.vmap(lambda k: model.init(k, x_a[:1]))(jax.random.split(k_init, members))
    n = x_a.shape[0]
    counts = (
        bootstrap_counts(k_boot, n, members) if bootstrap else jnp.ones((members, n), jnp.float32)
    )
    tx = optax.adamw(learning_rate, weight_decay=weight_decay)

    def fit_one(p, w):
        return fit_full_batch(
            lambda q: soft_bt_loss(q, model.apply, x_a, x_b, label, w), p, tx, steps
        )

    params, losses = jax.vmap(fit_one)(params, counts)
    return EnsembleFit(params, model, losses)


def ensemble_mean_std(member_rewards) -> tuple[Array, Array]:
    """Mean and (population) std over the leading ensemble axis: ``[E, ...] -> ([...], [...])``."""
    r = jnp.asarray(member_rewards)
    return jnp.mean(r, axis=0), jnp.std(r, axis=0)


def uncertainty_weight(std, tau):
    """Ctrl-U's weight ``w = exp(−σ/τ)`` in (0, 1]: 1 at σ = 0, smaller where σ is larger."""
    return jnp.exp(-jnp.asarray(std) / tau)


def ctrl_u_reward(mean, std, tau):
    """Ctrl-U's rectified reward ``w(σ)·μ`` (high-uncertainty rewards down-weighted)."""
    return uncertainty_weight(std, tau) * jnp.asarray(mean)


def lcb_reward(mean, std, kappa):
    """Lower confidence bound ``μ − κ·σ`` (κ = 0: the plain ensemble mean)."""
    return jnp.asarray(mean) - kappa * jnp.asarray(std)


def rectify(mean, std, coef, mode: Mode = "ctrl_u"):
    """``ctrl_u_reward(μ, σ, τ=coef)`` or ``lcb_reward(μ, σ, κ=coef)`` by ``mode``."""
    if mode == "ctrl_u":
        return ctrl_u_reward(mean, std, coef)
    if mode == "lcb":
        return lcb_reward(mean, std, coef)
    raise ValueError(f"rectify: mode={mode!r}; expected 'ctrl_u' or 'lcb'")


class UncertaintyParams(NamedTuple):
    """Params of :func:`uncertainty_reward`: ensemble params ``[E, ...]`` and τ (ctrl_u) or κ."""

    ensemble: Any
    coef: Array


def uncertainty_reward(
    model: RewardMLP,
    features_fn: Callable[[Transition], Array],
    mode: Mode = "ctrl_u",
    default_params: UncertaintyParams | None = None,
) -> RewardTransform:
    """The uncertainty-rectified ensemble reward as a :class:`RewardTransform`.

    ``features_fn(transition) -> x [*B, D]`` (e.g. ``[s, one_hot(a)]``); the reward ``[*B]`` is
    :func:`rectify` of the members' mean and std at ``x``. Params: :class:`UncertaintyParams`,
    so ensembles and coefficients are vmappable hyperparameters."""
    if mode not in ("ctrl_u", "lcb"):
        raise ValueError(f"uncertainty_reward: mode={mode!r}; expected 'ctrl_u' or 'lcb'")

    def reward(params: UncertaintyParams, tr: Transition):
        x = features_fn(tr)
        r = jax.vmap(model.apply, in_axes=(0, None))(params.ensemble, x)
        mean, std = ensemble_mean_std(r)
        return rectify(mean, std, params.coef, mode)

    return learned_reward(reward, () if default_params is None else default_params)
