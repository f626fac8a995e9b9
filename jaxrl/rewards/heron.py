"""HERON (Bukharin et al., ICML'25): reward models from an importance ranking of reward factors.

A designer gives ``F`` reward factors (per-step values ``f_t ∈ R^F``), a ranking of their
importance ``h`` (a permutation of ``0..F-1``, most important first), per-factor sign
conventions ``s_k ∈ {+1, −1}`` (+1: larger is better) and margins ``σ_k``. Two trajectories (or
segments) ``i, j`` with factor totals ``f_i, f_j ∈ R^F`` are compared by a decision tree
(papers.md §8.1, the repo's ``ClassicControl`` labeller):

    for level ℓ = 1..F:  k = h[ℓ]
        if s_k f_i[k] > s_k f_j[k] + σ_k·std(f[:, k]):  i ≻ j; stop
        if s_k f_j[k] > s_k f_i[k] + σ_k·std(f[:, k]):  j ≻ i; stop
    all levels tied -> no label

where ``std(f[:, k])`` is the batch std of factor ``k`` over the compared trajectories (margins
are relative to it, Appendix A). A Bradley–Terry reward model ``r_ψ`` over per-step inputs is then
fitted to the labelled pairs, a trajectory's return being the sum of its per-step rewards:

    L(ψ) = −mean_{labelled (i ≻ j)} log σ(Σ_t r_ψ(x_{i,t}) − Σ_t r_ψ(x_{j,t})),

and RL uses ``r_ψ`` in place of the env reward (through
:func:`jaxrl.rewards.reward_model.learned_reward`).

* :func:`decision_tree_labels`: the labeller, ``[N, F] x [N, F] -> [N]`` labels 1 (a ≻ b),
  0 (b ≻ a), 0.5 (tie at every level: no label).
* :func:`heron_bt_loss`: the BT loss on segment returns, tie pairs masked out.
* :func:`train_heron_rm`: fits :class:`jaxrl.rewards.preference.RewardMLP` by full-batch Adam;
  pure and vmappable over the key and data (one RM per seed in one program).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.rewards.preference import RewardMLP, fit_full_batch

Array = Any
TIE = 0.5


def check_ranking(order: Sequence[int], signs: Sequence[float], margins: Sequence[float]) -> None:
    """Raise ``ValueError`` naming the bad value unless ``order`` is a permutation of
    ``0..F-1``, ``signs`` are ±1 and ``margins`` are finite and ``>= 0`` (all length ``F``)."""
    order, signs, margins = (np.asarray(x) for x in (order, signs, margins))
    F = signs.shape[0]
    if sorted(order.tolist()) != list(range(F)):
        raise ValueError(f"HERON order={order.tolist()} is not a permutation of 0..{F - 1}")
    if not np.all(np.isin(signs, (-1.0, 1.0))):
        raise ValueError(f"HERON signs={signs.tolist()} must each be +1 or -1")
    if margins.shape != (F,) or not np.all(np.isfinite(margins)) or np.any(margins < 0):
        raise ValueError(f"HERON margins={margins.tolist()} must be {F} finite values >= 0")


def batch_scale(factors: Array) -> Array:
    """Per-factor batch std ``[F]`` of factor totals ``[N, F]`` (the margins' unit)."""
    return jnp.std(jnp.asarray(factors), axis=0)


def decision_tree_labels(f_a, f_b, order, signs, margins, scale) -> Array:
    """HERON's hierarchical comparison of pairs (papers.md §8.1).

    Args:
      f_a, f_b: factor totals of the two members of each pair, ``[N, F]``.
      order: ``[F]`` int, the importance ranking (factor indices, most important first).
      signs: ``[F]`` ±1 per factor (+1: larger is better).
      margins: ``[F]`` σ_k per factor (indexed by factor, not by level), in units of ``scale``.
      scale: ``[F]`` the batch std of each factor (:func:`batch_scale`).

    Returns:
      ``[N]`` float labels: 1 where a ≻ b, 0 where b ≻ a, :data:`TIE` (0.5) where every level
      is within its margin (no label). A difference must *exceed* ``σ_k·std_k`` (strictly).
    """
    order = jnp.asarray(order, jnp.int32)
    d = (jnp.asarray(signs) * (jnp.asarray(f_a) - jnp.asarray(f_b)))[..., order]  # [N, F] by level
    thr = (jnp.asarray(margins) * jnp.asarray(scale))[order]  # [F] by level
    decided = jnp.abs(d) > thr
    first = jnp.argmax(decided, axis=-1)  # the first deciding level (0 if none)
    d_first = jnp.take_along_axis(d, first[..., None], axis=-1)[..., 0]
    return jnp.where(jnp.any(decided, -1), (d_first > 0).astype(d.dtype), TIE)


def segment_return(apply_fn, params, x) -> Array:
    """A segment's return ``Σ_t r_ψ(x_t)``: per-step inputs ``[..., L, D] -> [...]``."""
    return jnp.sum(apply_fn(params, x), axis=-1)


def _margins(params, apply_fn, x, i, j):
    R = segment_return(apply_fn, params, x)  # [S]: each segment once, however many pairs
    return R[i] - R[j]


def heron_bt_loss(params, apply_fn, x, i, j, labels) -> Array:
    """BT NLL on segment returns over the labelled pairs (ties, label 0.5, carry no weight).

    ``x [S, L, D]`` per-step inputs of ``S`` segments; pairs ``(i[n], j[n])``, ``i, j [N]``
    int; ``labels [N]`` from :func:`decision_tree_labels`.
    ``−Σ_n w_n log σ(±(R_i − R_j)) / Σ_n w_n`` with ``w_n = [label_n ≠ 0.5]``."""
    margin = _margins(params, apply_fn, x, i, j)
    sign = 2.0 * labels - 1.0  # +1 (a ≻ b), −1 (b ≻ a), 0 (tie)
    w = (labels != TIE).astype(margin.dtype)
    nll = -jax.nn.log_sigmoid(sign * margin)
    return jnp.sum(w * nll) / jnp.maximum(jnp.sum(w), 1.0)


def label_accuracy(params, apply_fn, x, i, j, labels) -> Array:
    """Fraction of the labelled (non-tie) pairs whose order the RM's segment returns agree with
    (arguments as :func:`heron_bt_loss`)."""
    margin = _margins(params, apply_fn, x, i, j)
    w = labels != TIE
    agree = (margin > 0) == (labels > TIE)
    return jnp.sum(agree & w) / jnp.maximum(jnp.sum(w), 1)


def train_heron_rm(
    key: jax.Array,
    x: Array,
    i: Array,
    j: Array,
    labels: Array,
    hidden_sizes: Sequence[int] = (64, 64),
    steps: int = 300,
    learning_rate: float = 3e-3,
) -> tuple[Any, Array]:
    """Fit a :class:`RewardMLP` ``r_ψ: [..., D] -> [...]`` to HERON labels by full-batch Adam.

    Pure and vmappable (over ``key`` and the data): one RM per seed in one program.

    Args:
      key: initialisation key.
      x: per-step inputs of ``S`` segments, ``[S, L, D]``.
      i, j: ``[N]`` int, the pairs' segment indices.
      labels: ``[N]`` from :func:`decision_tree_labels` (ties ignored).
      hidden_sizes: the MLP's widths (static).
      steps: full-batch Adam steps (static).
      learning_rate: Adam's step size.

    Returns:
      ``(params, losses [steps])``; the reward is ``RewardMLP(hidden_sizes).apply(params, x)``.
    """
    model = RewardMLP(tuple(hidden_sizes))
    params = model.init(key, x[0, 0])
    tx = optax.adam(learning_rate)
    loss = lambda p: heron_bt_loss(p, model.apply, x, i, j, labels)
    return fit_full_batch(loss, params, tx, steps)
