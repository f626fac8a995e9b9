"""Probing a reward model's preference representations (MRMBench, "Probing Preference
Representations: A Multi-Dimensional Evaluation and Analysis Method for Reward Models", 2025).

MRMBench evaluates a reward model (RM) not by its pairwise ranking accuracy but by how well each
preference *dimension* can be read off its hidden representation: freeze the RM, take its last
hidden layer ``φ(x)`` on every response, and fit one linear probe per dimension; the benchmark
score is the probes' held-out accuracy averaged over dimensions. The paper reports that this
score correlates strongly with the alignment performance a policy reaches with the RM.

Here (small scale, pure JAX):

* :func:`hidden_features`: ``φ(x) [..., H]``, the activations of the last hidden layer of a
  :class:`~jaxrl.rewards.preference.RewardMLP` (read with flax ``capture_intermediates``, so the
  RM is used as trained), and :func:`reward_head`, the linear head with ``r(x) = φ(x)·w + b``;
* :func:`fit_ridge`: a closed-form ridge probe ``ŷ = φ·w + c`` on centred, rescaled features,
  ``w = (Φ̃ᵀΦ̃ + λN·I)⁻¹ Φ̃ᵀ ỹ`` (Φ̃, ỹ centred; λ per sample);
* :func:`ranking_accuracy`: the fraction of response pairs (within a group, e.g. a prompt) that
  a score orders like a target (optionally weighted, e.g. by ``π_ref(a)π_ref(b)``);
* :func:`probe_scores`: one probe per attribute, fitted on the training responses of every
  prompt and scored on the held-out ones (ranking accuracy and R²);
* :func:`spearman` and :func:`bootstrap_spearman`: Spearman's ρ of several per-RM scores with a
  per-RM target, and its bootstrap over RMs (paired: every score sees the same resamples).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import rankdata

from jaxrl.rewards.preference import RewardMLP

Array = Any
_ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh, "gelu": nn.gelu}


def _last_hidden_name(model: RewardMLP) -> str:
    if len(model.hidden_sizes) == 0:
        raise ValueError("hidden_features: the RewardMLP has no hidden layer (hidden_sizes=())")
    if model.activation not in _ACTIVATIONS:
        raise ValueError(f"hidden_features: unknown activation {model.activation!r}")
    # RewardMLP creates its nn.Dense layers in order inside @nn.compact: Dense_0 ... Dense_L,
    # the last one (Dense_L) being the scalar head.
    return f"Dense_{len(model.hidden_sizes) - 1}"


def hidden_features(model: RewardMLP, params, x) -> Array:
    """The RM's last hidden layer ``φ(x)``: features ``[..., D]`` -> activations ``[..., H]``.

    The pre-activation output of the last hidden ``Dense`` is captured during a normal forward
    pass (``capture_intermediates``) and the model's activation applied to it."""
    name = _last_hidden_name(model)
    _, state = model.apply(
        params,
        x,
        capture_intermediates=lambda mdl, method: mdl.name == name and method == "__call__",
        mutable=["intermediates"],
    )
    return _ACTIVATIONS[model.activation](state["intermediates"][name]["__call__"][0])


def reward_head(model: RewardMLP, params) -> tuple[Array, Array]:
    """The scalar head ``(w [H], b [])``, so that ``r(x) = hidden_features(x) @ w + b``."""
    head = params["params"][f"Dense_{len(model.hidden_sizes)}"]
    return head["kernel"][:, 0], head["bias"][0]


class Probe(NamedTuple):
    """A linear probe ``ŷ = φ @ w + c`` on raw features ``φ [..., H]``."""

    w: Array  # [H]
    c: Array  # []

    def __call__(self, phi):
        return phi @ self.w + self.c


def fit_ridge(phi, y, l2: float = 1e-2, eps: float = 1e-8) -> Probe:
    """Closed-form ridge probe of ``y [N]`` on ``φ [N, H]`` (jittable, vmappable).

    Features are centred and divided by one common scale, the root mean feature variance (not
    per unit: a ReLU unit active on a few training rows would be blown up and extrapolate
    wildly), so ``l2`` is scale-free: it solves ``(Φ̃ᵀΦ̃ + l2·N·I) v = Φ̃ᵀ(y − ȳ)`` and
    returns the equivalent probe on raw features."""
    phi, y = jnp.asarray(phi), jnp.asarray(y)
    n, h = phi.shape
    mu = jnp.mean(phi, 0)
    scale = jnp.sqrt(jnp.mean(jnp.var(phi, 0))) + eps
    z = (phi - mu) / scale
    y_mean = jnp.mean(y)
    v = jnp.linalg.solve(z.T @ z + l2 * n * jnp.eye(h, dtype=z.dtype), z.T @ (y - y_mean))
    w = v / scale
    return Probe(w, y_mean - mu @ w)


def ranking_accuracy(score, target, weights=None) -> Array:
    """Weighted fraction of item pairs that ``score`` orders like ``target``.

    Args:
      score, target: ``[..., n]``; pairs are taken within the last axis (e.g. the responses of
        one prompt), over all leading axes.
      weights: optional ``[..., n]`` item weights; pair ``(a, b)`` counts ``w_a·w_b``.

    Pairs with equal targets are skipped; a tie in ``score`` counts one half. Returns ``[]``
    (``nan`` when no pair has distinct targets)."""
    score, target = jnp.asarray(score), jnp.asarray(target)
    if score.shape != target.shape:
        raise ValueError(f"ranking_accuracy: score {score.shape} and target {target.shape} differ")
    w = jnp.ones_like(target) if weights is None else jnp.broadcast_to(weights, target.shape)
    ds = jnp.sign(score[..., :, None] - score[..., None, :])
    dt = jnp.sign(target[..., :, None] - target[..., None, :])
    pair_w = w[..., :, None] * w[..., None, :] * (dt != 0)
    agree = jnp.where(ds == dt, 1.0, jnp.where(ds == 0, 0.5, 0.0))
    return jnp.sum(pair_w * agree) / jnp.sum(pair_w)


def r_squared(pred, target) -> Array:
    """Coefficient of determination ``1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` over all entries."""
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    return 1.0 - jnp.sum((target - pred) ** 2) / jnp.sum((target - jnp.mean(target)) ** 2)


def probe_scores(phi, attributes, train_idx, test_idx, l2: float = 1e-2):
    """One ridge probe per attribute, fitted on the training responses and scored on the rest.

    Args:
      phi: hidden features ``[P, K, H]`` of every (prompt, response).
      attributes: gold attributes ``[P, K, M]``.
      train_idx, test_idx: response ids ``[K_train]``, ``[K_test]`` (disjoint); every prompt's
        training responses fit the probe, its held-out responses score it.
      l2: ridge strength (:func:`fit_ridge`).

    Returns:
      ``(accuracy [M], r2 [M])``: held-out pairwise ranking accuracy within each prompt, and
      held-out R².
    """
    phi, attributes = jnp.asarray(phi), jnp.asarray(attributes)
    h = phi.shape[-1]
    train_idx, test_idx = jnp.asarray(train_idx), jnp.asarray(test_idx)
    x_tr = phi[:, train_idx].reshape(-1, h)
    x_te = phi[:, test_idx]  # [P, K_test, H]

    def one(y):  # y [P, K]
        probe = fit_ridge(x_tr, y[:, train_idx].reshape(-1), l2)
        pred, target = probe(x_te), y[:, test_idx]
        return ranking_accuracy(pred, target), r_squared(pred, target)

    return jax.vmap(one, in_axes=-1)(attributes)


def spearman(x, y) -> float:
    """Spearman's rank correlation of ``x [n]`` and ``y [n]`` (average ranks for ties;
    ``nan`` when either is constant)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman: x {x.shape} and y {y.shape} must be equal 1-d shapes")
    rx, ry = rankdata(x) - (x.size + 1) / 2, rankdata(y) - (y.size + 1) / 2
    den = np.sqrt(np.sum(rx**2) * np.sum(ry**2))
    return float(np.sum(rx * ry) / den) if den > 0 else float("nan")


def bootstrap_spearman(scores, target, n_boot: int = 2000, seed: int = 0):
    """Spearman's ρ of each score row with ``target``, and its bootstrap over items (RMs).

    Args:
      scores: ``[S, n]``: S per-item scores (e.g. probe accuracy, RM accuracy) of ``n`` items.
      target: ``[n]`` (e.g. the gold reward PPO reaches with each RM).
      n_boot, seed: resamples of the ``n`` items with replacement; the same resamples for every
        score, so differences between rows are paired.

    Returns:
      ``(rho [S], boot [n_boot, S])``; a resample where a row or the target is constant gives
      ``nan`` (drop them with ``np.nanpercentile``).
    """
    scores, target = np.atleast_2d(np.asarray(scores, np.float64)), np.asarray(target, np.float64)
    if scores.shape[1] != target.shape[0] or target.ndim != 1 or target.size < 3:
        raise ValueError(
            f"bootstrap_spearman: scores {scores.shape} and target {target.shape}: need "
            "scores [S, n], target [n] with n >= 3"
        )
    rho = np.array([spearman(s, target) for s in scores])
    idx = np.random.default_rng(seed).integers(0, target.size, (int(n_boot), target.size))
    boot = np.array([[spearman(s[i], target[i]) for s in scores] for i in idx])
    return rho, boot
