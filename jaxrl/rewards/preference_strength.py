"""Preference strength and preference denoising (Wang et al., "Secrets of RLHF in Large Language
Models Part II: Reward Modeling", 2024, §2-§3).

Secrets II measures each preference pair's *strength* by a vote of ``M`` reward models trained
on different data (bootstrap resamples / initialisations): for a pair labelled "a over b",

    d_m = r_m(x_a) − r_m(x_b),  μ = mean_m d_m,  σ = std_m d_m                      (§2.1)

(oriented by the label: μ > 0 means the ensemble agrees with the label). Pairs with strongly
negative μ are likely wrong, pairs with μ ≈ 0 are ambiguous. The paper's mitigations, each a
flag here (:class:`DenoiseConfig`):

* **flip** pairs whose oriented mean margin is strongly negative (§3.1, "flipping");
* **drop** the ambiguous ones, the bottom fraction by ``|μ|`` (§3.1);
* **label smoothing** ``ε``: ``−(1−ε) log σ(d) − ε log σ(−d)`` (§3.2);
* **adaptive margin** ``−log σ(r_c − r_r − m)``, ``m = κ·max(μ', 0)`` from the (flipped)
  strength μ' (§3.3: a larger margin where the preference is stronger).

Everything is pure JAX: :func:`train_reward_models` fits ``[S]`` independent models in one
vmapped ``lax.scan`` (an ensemble's members, or seeds); :func:`pair_strength` evaluates them;
:func:`denoise_labels` returns the new labels, weights and margins; :func:`strength_bt_loss` is
the loss. The fitted RM reaches a policy through :mod:`jaxrl.rewards.reward_model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl.rewards.preference import RewardMLP, fit_full_batch

Array = Any


class DenoiseConfig(NamedTuple):
    """The recipe's pieces; the defaults switch every piece off (plain BT).

    Attributes:
      flip_z: flip a pair when its oriented mean margin μ is below ``−flip_z`` times the RMS of
        μ over all pairs (scale-free); ``None`` = never flip.
      drop_fraction: drop this fraction of the (kept) pairs with the smallest ``|μ|``, in [0, 1).
      smoothing: label smoothing ε in [0, 0.5).
      margin_coef: κ of the adaptive margin ``m = κ·max(μ', 0)`` (0 = no margin).
    """

    flip_z: float | None = None
    drop_fraction: float = 0.0
    smoothing: float = 0.0
    margin_coef: float = 0.0

    def check(self) -> DenoiseConfig:
        """Raise ``ValueError`` naming the bad field; returns ``self``."""
        if self.flip_z is not None and not float(self.flip_z) >= 0.0:
            raise ValueError(f"DenoiseConfig.flip_z={self.flip_z} must be >= 0 or None")
        if not 0.0 <= float(self.drop_fraction) < 1.0:
            raise ValueError(f"DenoiseConfig.drop_fraction={self.drop_fraction} not in [0, 1)")
        if not 0.0 <= float(self.smoothing) < 0.5:
            raise ValueError(f"DenoiseConfig.smoothing={self.smoothing} not in [0, 0.5)")
        if not float(self.margin_coef) >= 0.0:
            raise ValueError(f"DenoiseConfig.margin_coef={self.margin_coef} must be >= 0")
        return self


def strength_bt_loss(diff, label, weight=None, margin=0.0, smoothing=0.0):
    """Mean BT loss with soft labels, label smoothing and a margin.

    Per pair with ``d = r(x_a) − r(x_b)`` and label ``y`` (1 a preferred, 0 b, 0.5 tie):
    ``ℓ(d) = −(1−ε) log σ(d − m) − ε log σ(−d)`` (Secrets II eqs. for smoothing and margin), and
    the pair's loss is ``y·ℓ(d) + (1−y)·ℓ(−d)``; ``ε = m = 0``, ``y ∈ {0, 1}`` is plain BT.

    Args:
      diff: ``[N]`` reward differences ``r(x_a) − r(x_b)``.
      label: ``[N]`` in [0, 1].
      weight: ``[N]`` non-negative pair weights (bootstrap counts, 0 = dropped); default ones.
      margin: ``[N]`` or scalar margin ``m ≥ 0``.
      smoothing: ε.

    Returns:
      ``Σ w·loss / max(Σ w, 1e-8)`` (a scalar).
    """
    diff, label = jnp.asarray(diff), jnp.asarray(label)
    w = jnp.ones_like(diff) if weight is None else jnp.asarray(weight)

    def ell(d):
        return -(1.0 - smoothing) * jax.nn.log_sigmoid(d - margin) - smoothing * jax.nn.log_sigmoid(
            -d
        )

    per = label * ell(diff) + (1.0 - label) * ell(-diff)
    return jnp.sum(w * per) / jnp.maximum(jnp.sum(w), 1e-8)


def bootstrap_weights(key, num_members: int, num_pairs: int) -> Array:
    """Bootstrap resample counts ``[M, N]`` (each row sums to N): member m trains on its own
    resample of the pairs (Secrets II §2.1 trains the voting RMs on different data splits)."""
    idx = jax.random.randint(key, (num_members, num_pairs), 0, num_pairs)
    return jax.vmap(lambda i: jnp.zeros(num_pairs).at[i].add(1.0))(idx)


def train_reward_models(
    keys,
    x_a,
    x_b,
    label,
    weight,
    margin,
    smoothing=0.0,
    *,
    hidden_sizes: Sequence[int] = (64, 64),
    steps: int = 300,
    learning_rate: float = 3e-3,
    weight_decay: float = 1e-4,
):
    """Fit ``S`` independent :class:`RewardMLP` s by full-batch AdamW on :func:`strength_bt_loss`.

    Args:
      keys: ``[S]`` PRNG keys (one initialisation per model).
      x_a, x_b: ``[S, N, F]`` pair features.
      label, weight, margin: ``[S, N]``.
      smoothing: label smoothing ε, ``[S]`` or a scalar (one per model, so plain BT and the
        recipe share one program).

    Returns:
      ``(params, model)``: params with a leading ``[S]`` axis, and the module.
    """
    model = RewardMLP(tuple(hidden_sizes))
    tx = optax.adamw(learning_rate, weight_decay=weight_decay)

    smoothing = jnp.broadcast_to(jnp.asarray(smoothing, jnp.float32), (len(keys),))

    def fit_one(key, xa, xb, y, w, m, eps):
        params = model.init(key, xa[:1])

        def loss_fn(p):
            return strength_bt_loss(model.apply(p, xa) - model.apply(p, xb), y, w, m, eps)

        return fit_full_batch(loss_fn, params, tx, steps)[0]

    return jax.vmap(fit_one)(keys, x_a, x_b, label, weight, margin, smoothing), model


def pair_strength(params, model, x_a, x_b, label, holdout=None) -> tuple[Array, Array]:
    """Preference strength of each pair under an ensemble (Secrets II §2.1).

    Args:
      params: ensemble params with a leading ``[M]`` axis.
      x_a, x_b: ``[N, F]``; label ``[N]`` (1: a preferred, 0: b preferred, 0.5: tie).
      holdout: optional ``[M, N]`` mask, 1 where member m did *not* train on pair n (e.g.
        ``bootstrap_weights == 0``): the vote then uses only those members (out-of-bag), so a
        member that memorised a wrong label does not vouch for it; pairs that no member held
        out fall back to all members.

    Returns:
      ``(mean, std)`` ``[N]`` of the margin ``r_m(x_c) − r_m(x_r)`` over the voting members,
      oriented by the label (chosen minus rejected; for a tie, ``a − b``).
    """
    d = jax.vmap(lambda p: model.apply(p, x_a) - model.apply(p, x_b))(params)  # [M, N]
    w = jnp.ones_like(d) if holdout is None else jnp.asarray(holdout, d.dtype)
    w = jnp.where(jnp.sum(w, 0, keepdims=True) > 0, w, 1.0)
    mean = jnp.sum(w * d, 0) / jnp.sum(w, 0)
    std = jnp.sqrt(jnp.sum(w * (d - mean) ** 2, 0) / jnp.sum(w, 0))
    sign = jnp.where(jnp.asarray(label) < 0.5, -1.0, 1.0)
    return sign * mean, std


def denoise_labels(label, mean, cfg: DenoiseConfig):
    """Secrets II's data mitigations from the strength ``mean [N]`` (oriented by ``label``).

    Returns:
      ``(label', weight, margin)`` ``[N]``: labels with the likely-wrong pairs flipped, weights
      0 on the dropped (ambiguous) pairs and 1 elsewhere, and the adaptive margin
      ``κ·max(μ', 0)`` with μ' the strength re-oriented by the flipped labels.
    """
    label, mean = jnp.asarray(label, jnp.float32), jnp.asarray(mean)
    n = label.shape[0]
    if cfg.flip_z is not None:
        scale = jnp.sqrt(jnp.mean(mean**2)) + 1e-8
        flip = (mean < -cfg.flip_z * scale) & (label != 0.5)
        label = jnp.where(flip, 1.0 - label, label)
        mean = jnp.where(flip, -mean, mean)
    weight = jnp.ones(n)
    n_drop = int(round(cfg.drop_fraction * n))
    if n_drop > 0:
        # rank by |μ|: the n_drop least confident pairs get weight 0 (ties broken by index)
        order = jnp.argsort(jnp.abs(mean))
        weight = weight.at[order[:n_drop]].set(0.0)
    margin = cfg.margin_coef * jnp.maximum(mean, 0.0)
    return label, weight, margin
