"""PAR (Preference As Reward) and the RLHF reward-normalisation baselines, as RewardTransforms.

Fu et al. 2025, "Reward Shaping to Mitigate Reward Hacking in RLHF" (arXiv 2502.18770); formulas
as implemented in their ``trainers/reward_shaper.py`` (github.com/PorUna-byte/PAR; papers.md §4.1,
theory.md §7). ``r`` is the reward (RM score) of a sample, ``r_ref,m`` the RM scores of its M
reference responses:

=====================  ======================================================  =================
transform              reward                                                  state
=====================  ======================================================  =================
:func:`par`            ``(1/M) Σ_m σ(k·(r − r_ref,m))``  (relative sigmoid)    none
:func:`sigmoid`        ``σ(k·r)``  (uncentred ablation; *not* shift-invariant)  none
:func:`centred`        ``(1/M) Σ_m (r − r_ref,m)``, or ``r − μ`` (running)      none / stats
:func:`lsc`            ``log σ(r − q_p)``, q_p the p-quantile of N(mean, std)   none
:func:`mean_std`       ``(r − μ)/σ``  (σ = 0 -> divide by 1)                   running stats
:func:`mu_sigma_clip`  ``clip(r, μ − σ, μ + σ)``  (PAR's "Clip")               running stats
:func:`min_max`        ``(r − min)/(max − min)``                               running stats
:func:`ceiling`        ``min(r, c)``  ("Ceil-c")                               none
=====================  ======================================================  =================

References come from a reward channel (``transition.channels[name]``, shape ``[*B]`` for one
reference per sample or ``[*B, M]``) or from a fixed array ``[M]`` shared by every sample.

Running statistics follow the source's ``RunningStats``: one set of scalars shared across the
batch (every element of the ``[*B]`` reward is one sample), **updated with the current batch
before it is normalised**; the variance is the population variance ``M2/n`` (0 while n ≤ 1),
merged batch-wise (Chan et al.'s parallel Welford update). For Gao et al.'s Clip/Delta see
:mod:`jaxrl.shaping.prm`; for G-RA, CaRL and channel mixtures :mod:`jaxrl.shaping.gating`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

from jaxrl.shaping.transform import RewardTransform, Transition, _float, _no_state

Array = Any
Reference = str | Array

DEFAULT_REFERENCE = "reference_reward"


def _references(tr: Transition, reference: Reference, reward: Array) -> Array:
    """``[*B, M]`` reference rewards for a ``[*B]`` reward."""
    if isinstance(reference, str):
        if reference not in tr.channels:
            available = sorted(tr.channels)
            raise KeyError(f"reference channel {reference!r} not in transition; have {available}")
        ref = _float(tr.channels[reference])
        if ref.ndim == reward.ndim:  # one reference per sample
            ref = ref[..., None]
        if ref.shape[:-1] != reward.shape:
            raise ValueError(
                f"reference channel {reference!r} has shape {ref.shape}; expected "
                f"{reward.shape} or {reward.shape} + (M,)"
            )
        return ref
    ref = _float(reference)
    if ref.ndim != 1:
        raise ValueError(f"a fixed reference array must have shape [M], got {ref.shape}")
    return jnp.broadcast_to(ref, (*reward.shape, ref.shape[0]))


# ----------------------------------------------------------------------------- pure functions
def par_reward(r, r_ref, k=1.0, link: str = "sigmoid"):
    """PAR: ``mean_m f(k·(r − r_ref[..., m]))`` for ``r [*B]``, ``r_ref [*B, M]``.

    ``link="sigmoid"`` is PAR (``calculate_relative_sigmoid``); ``"tanh"`` and ``"arctan"`` are
    the paper's relative-tanh/arctan ablations (same principles, range (−1, 1) / (−π/2, π/2)).
    """
    f = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "arctan": jnp.arctan}[link]
    return jnp.mean(f(k * (jnp.asarray(r)[..., None] - r_ref)), axis=-1)


def lsc_reward(r, r_ref, quantile=0.85):
    """LSC: ``log σ(r − q)``, ``q = mean(r_ref) + Φ⁻¹(p)·(std(r_ref) + 1e-5)``.

    ``std`` is the sample (Bessel) standard deviation over the M references (0 for M = 1), as in
    the source's ``utils.std`` and ``norm.ppf(p, loc=mean, scale=std + 1e-5)``.
    """
    M = r_ref.shape[-1]
    mean = jnp.mean(r_ref, axis=-1)
    var = jnp.sum((r_ref - mean[..., None]) ** 2, axis=-1) / max(M - 1, 1)
    q = mean + ndtri(quantile) * (jnp.sqrt(var) + 1e-5)
    return jax.nn.log_sigmoid(jnp.asarray(r) - q)


class RunningStats(NamedTuple):
    """Running count, mean, sum of squared deviations, min and max of every sample seen so far.

    The one running-statistics implementation: the reward-stream transforms below keep scalars
    (every reward element one sample); PPO's observation normaliser
    (:mod:`jaxrl.agents.normalizer`) keeps one set per observation feature (``[*feature_shape]``
    leaves, ``count`` always ``[]``).
    """

    count: Array  # [] samples seen (may start at a pseudo-count, see ``create``)
    mean: Array  # [*feature_shape]
    m2: Array  # [*feature_shape] sum of squared deviations from the mean
    min: Array  # [*feature_shape]
    max: Array  # [*feature_shape]

    @classmethod
    def create(cls, shape=(), prior_count=1e-4, dtype=None) -> RunningStats:
        """Statistics of ``prior_count`` pseudo-samples with mean 0 and variance 1, leaves
        ``[*shape]``; the default prior makes :attr:`var` 1 before any data (observation
        normalisation). ``prior_count=0`` is the empty stream of :func:`init_running_stats`."""
        dtype = jnp.result_type(float) if dtype is None else dtype
        count = jnp.asarray(prior_count, dtype)
        return cls(
            count,
            jnp.zeros(shape, dtype),
            jnp.full(shape, prior_count, dtype),
            jnp.full(shape, jnp.inf, dtype),
            jnp.full(shape, -jnp.inf, dtype),
        )

    @property
    def var(self):
        """Population variance ``M2/n`` (needs ``n > 0``: a prior count or data)."""
        return self.m2 / self.count

    @property
    def std(self):
        """Population standard deviation ``sqrt(M2/n)``; 0 while ``n ≤ 1`` (as the source)."""
        return jnp.sqrt(jnp.where(self.count > 1, self.m2 / jnp.maximum(self.count, 1), 0.0))


def init_running_stats(dtype=None) -> RunningStats:
    """Empty scalar statistics (count 0, min +inf, max −inf) for a reward stream."""
    return RunningStats.create((), prior_count=0.0, dtype=dtype)


def update_running_stats(stats: RunningStats, x, feature_ndim: int = 0) -> RunningStats:
    """Merge the batch ``x`` into ``stats`` (Chan et al.'s parallel Welford update).

    Args:
      stats: statistics with leaves ``[*F]``, ``F`` the trailing ``feature_ndim`` axes of ``x``.
      x: ``[*B, *F]``; every index of the leading axes is one sample (``feature_ndim=0``: every
        element is one sample).
      feature_ndim: number of trailing feature axes kept apart.
    """
    x = jnp.asarray(x, stats.mean.dtype)
    x = x.reshape(-1, *x.shape[x.ndim - feature_ndim :])
    n_b = x.shape[0]
    if n_b == 0:
        return stats
    b_mean = jnp.mean(x, axis=0)
    b_m2 = jnp.sum((x - b_mean) ** 2, axis=0)
    n = stats.count + n_b
    delta = b_mean - stats.mean
    return RunningStats(
        count=n,
        mean=stats.mean + delta * (n_b / n),
        m2=stats.m2 + b_m2 + delta**2 * (stats.count * n_b / n),
        min=jnp.minimum(stats.min, jnp.min(x, axis=0)),
        max=jnp.maximum(stats.max, jnp.max(x, axis=0)),
    )


# ----------------------------------------------------------------------------- transforms
def par(k: float = 1.0, reference: Reference = DEFAULT_REFERENCE, link: str = "sigmoid"):
    """PAR (Fu et al. 2025): ``(1/M) Σ_m σ(k·(r − r_ref,m))``; params ``k`` (default 1).

    Bounded in (0, 1), monotone, slope ≤ k/4, invariant to a common offset of the RM, concave
    for r ≥ max_m r_ref,m (theory.md §7; check 17). No state.
    """

    def apply(params, state, tr: Transition):
        r = _float(tr.reward)
        return par_reward(r, _references(tr, reference, r), params, link), state

    return RewardTransform(_no_state, apply, jnp.asarray(k))


def sigmoid(k: float = 1.0):
    """The uncentred ``σ(k·r)`` ablation ("pure sigmoid"): bounded but not offset-invariant."""

    def apply(params, state, tr: Transition):
        return jax.nn.sigmoid(params * _float(tr.reward)), state

    return RewardTransform(_no_state, apply, jnp.asarray(k))


def centred(reference: Reference | None = DEFAULT_REFERENCE):
    """Centred reward. With references (PAR's ``calculate_centered``): ``mean_m(r − r_ref,m)``;
    with ``reference=None``: ``r − μ`` with μ the running mean (state :class:`RunningStats`,
    updated with the batch first). Unbounded (no params)."""
    if reference is None:

        def apply(params, state, tr: Transition):
            r = _float(tr.reward)
            state = update_running_stats(state, r)
            return r - state.mean, state

        return RewardTransform(lambda p: init_running_stats(), apply, ())

    def apply_ref(params, state, tr: Transition):
        r = _float(tr.reward)
        return jnp.mean(r[..., None] - _references(tr, reference, r), axis=-1), state

    return RewardTransform(_no_state, apply_ref, ())


def lsc(quantile: float = 0.85, reference: Reference = DEFAULT_REFERENCE):
    """LSC (log-sigmoid centred): ``log σ(r − q_p)``; params the quantile ``p`` (default 0.85)."""

    def apply(params, state, tr: Transition):
        r = _float(tr.reward)
        return lsc_reward(r, _references(tr, reference, r), params), state

    return RewardTransform(_no_state, apply, jnp.asarray(quantile))


def _stats_transform(fn):
    def apply(params, state, tr: Transition):
        r = _float(tr.reward)
        state = update_running_stats(state, r)
        return fn(r, state), state

    return RewardTransform(lambda p: init_running_stats(), apply, ())


def mean_std():
    """Mean-std normalisation ``(r − μ)/σ`` with running (μ, σ) (``RunningStats.normalize``;
    σ = 0 divides by 1). State :class:`RunningStats`; unbounded as r -> ∞ (check 17b)."""
    return _stats_transform(
        lambda r, s: (r - s.mean) / jnp.where(s.std > 0, s.std, jnp.ones_like(s.std))
    )


def mu_sigma_clip():
    """PAR's "Clip" baseline ``clamp(r, μ − σ, μ + σ)`` with running (μ, σ). State
    :class:`RunningStats`. (Not Gao et al.'s PRM Clip: that is :func:`jaxrl.shaping.prm.prm_clip`.)
    """
    return _stats_transform(lambda r, s: jnp.clip(r, s.mean - s.std, s.mean + s.std))


def min_max():
    """Min-max normalisation ``(r − min)/(max − min)`` with running min/max. State
    :class:`RunningStats`. Deviation from the source: while ``max == min`` (e.g. a first batch
    of one sample) the denominator is 1 instead of producing 0/0."""

    def fn(r, s):
        span = s.max - s.min
        return (r - s.min) / jnp.where(span > 0, span, jnp.ones_like(span))

    return _stats_transform(fn)


def ceiling(c: float = 4.0):
    """Reward ceiling ``min(r, c)`` ("Ceil-c", c ∈ {3, 4, 5} in PAR's sweep); params ``c``."""

    def apply(params, state, tr: Transition):
        return jnp.minimum(_float(tr.reward), params), state

    return RewardTransform(_no_state, apply, jnp.asarray(c))
