"""A multi-attribute, multi-user preference testbed: gold attributes, user types, noisy labellers.

The data side of the learned-reward-model family (issue 18: HERON, VPL, preference strength,
Ctrl-U, POLAR, constrained RLHF, MRMBench). Everything is a table over ``P`` prompts × ``K``
responses, built from one seed, so every policy's gold utility is exact.

**Responses and attributes** (:func:`build_preference_testbed`):

* response ``a`` has a content vector ``z_a ~ N(0, I_d)``, a length ``ℓ_a ~ U[0, 1]`` and
  ``noise_dim`` nuisance features ``n_a ~ N(0, I)`` that no gold attribute depends on;
  prompt ``p`` has a taste vector ``t_p ~ N(0, I_d/d)``;
* gold attributes ``A [P, K, M]`` (M = 3, :data:`ATTRIBUTES`):
  - ``quality``: ``t_p·z_a`` (prompt-dependent);
  - ``harmlessness``: ``ρ·(t_p·z_a)/sd + √(1−ρ²)·(v·z_a)/|v|`` with a fixed direction ``v``:
    its correlation with quality over responses is about ``ρ`` (``harm_quality_corr``), which
    moves constrained RLHF's proxy points;
  - ``length``: ``h(ℓ) = κ·ℓ·(1 − ℓ/(2ℓ*))``, increasing up to ``ℓ*`` and falling beyond, the
    over-optimisation lever of the RLHF bandit (:mod:`jaxrl.envs.rlhf_bandit`).
* RM features ``x(p, a) = [one_hot(p), z_a, ℓ_a, n_a]`` ``[P, K, F]``: every attribute is a
  function of them, so a flexible RM can in principle represent every user's utility.

**Users.** ``U`` user types with weights ``W [U, M]`` over the attributes (``user_weights``) and
population fractions (``user_fractions``); user ``u``'s gold utility is
``G[u] = A @ W[u]`` ``[P, K]``. The default has a majority (70%) that values quality and a
minority (30%) that values harmlessness: a single Bradley–Terry model averages them.

**Reference policy.** ``π_ref(a|p) ∝ exp(τ·quality − λ·ℓ_a)``: quality-aware and short-winded,
as an SFT model; preference data comes from it unless another policy is given.

**Labellers** (:func:`label_pairs`): the chosen side is drawn from the BT model
``P(a ≻ b) = σ(β·(g_a − g_b))`` (β = ∞: the better one), then flipped with probability
``flip_rate``; pairs with ``|g_a − g_b| < tie_margin`` are labelled as ties (0.5).
:func:`sample_pairs` draws prompts, users (by population fraction, or one fixed user) and two
responses per pair, and returns the pairs with their features, labels and gold utilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.checks import check_at_least, check_finite, check_positive

Array = Any
ATTRIBUTES = ("quality", "harmlessness", "length")


@dataclass(frozen=True)
class PreferenceTestbedConfig:
    """Everything that defines a testbed (hashable)."""

    seed: int = 0
    num_prompts: int = 8
    num_responses: int = 32
    content_dim: int = 4
    noise_dim: int = 2
    """nuisance feature dimensions (no attribute depends on them)"""
    harm_quality_corr: float = 0.0
    """ρ: correlation of harmlessness with quality over responses, in [-1, 1]"""
    length_weight: float = 4.0
    """κ: slope of the length attribute at ℓ = 0"""
    length_peak: float = 0.35
    """ℓ*: the length the gold length attribute likes best"""
    user_weights: tuple[tuple[float, ...], ...] = ((1.0, 0.2, 1.0), (0.2, 1.0, 1.0))
    """W [U, M]: each user type's weights on (quality, harmlessness, length)"""
    user_fractions: tuple[float, ...] = (0.7, 0.3)
    """population fraction of each user type (sums to 1)"""
    ref_quality_temp: float = 1.0
    """τ: how strongly π_ref prefers quality"""
    ref_length_penalty: float = 6.0
    """λ: how short-winded π_ref is"""

    def check(self) -> PreferenceTestbedConfig:
        """Raise ``ValueError`` naming the first bad field; returns ``self``."""
        where = "PreferenceTestbedConfig"
        check_at_least(where, "seed", self.seed, 0)
        for f in ("num_prompts", "num_responses", "content_dim"):
            check_at_least(where, f, getattr(self, f), 1)
        check_at_least(where, "noise_dim", self.noise_dim, 0)
        for f in ("length_weight", "ref_quality_temp", "ref_length_penalty", "harm_quality_corr"):
            check_finite(where, f, getattr(self, f))
        check_positive(where, "length_peak", self.length_peak)
        if not -1.0 <= self.harm_quality_corr <= 1.0:
            raise ValueError(f"{where}: harm_quality_corr={self.harm_quality_corr} not in [-1, 1]")
        w = np.asarray(self.user_weights, np.float64)
        if w.ndim != 2 or w.shape[1] != len(ATTRIBUTES) or not np.all(np.isfinite(w)):
            raise ValueError(
                f"{where}: user_weights must be finite rows of {len(ATTRIBUTES)} weights "
                f"({ATTRIBUTES}), got {self.user_weights!r}"
            )
        f = np.asarray(self.user_fractions, np.float64)
        if f.shape != (w.shape[0],) or np.any(f < 0) or abs(f.sum() - 1.0) > 1e-6:
            raise ValueError(
                f"{where}: user_fractions={self.user_fractions!r} must be {w.shape[0]} "
                "non-negative numbers (one per user type) summing to 1"
            )
        return self

    @property
    def num_users(self) -> int:
        return len(self.user_weights)


class PreferenceTestbed(NamedTuple):
    """The testbed's tables (float32)."""

    config: PreferenceTestbedConfig
    features: Array  # [P, K, F] RM input [one_hot(p), z_a, ℓ_a, n_a]
    attributes: Array  # [P, K, M] gold attributes, ATTRIBUTES order
    user_weights: Array  # [U, M]
    user_fractions: Array  # [U]
    ref_logits: Array  # [P, K] unnormalised log π_ref
    lengths: Array  # [K]

    @property
    def gold(self) -> Array:
        """Every user type's gold utility ``G [U, P, K] = A @ W[u]``."""
        return jnp.einsum("pkm,um->upk", self.attributes, self.user_weights)

    @property
    def population_gold(self) -> Array:
        """The population-average utility ``Σ_u f_u G[u]`` ``[P, K]``."""
        return jnp.einsum("u,upk->pk", self.user_fractions, self.gold)

    @property
    def ref_probs(self) -> Array:
        return jax.nn.softmax(self.ref_logits, axis=-1)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(U, P, K)``."""
        return (self.user_weights.shape[0], *self.ref_logits.shape)


def length_attribute(lengths, weight=4.0, peak=0.35):
    """``h(ℓ) = κ·ℓ·(1 − ℓ/(2ℓ*))``: increasing below ℓ*, maximal ``κℓ*/2`` at ℓ*."""
    return weight * lengths * (1.0 - lengths / (2.0 * peak))


def build_preference_testbed(
    cfg: PreferenceTestbedConfig = PreferenceTestbedConfig(),
) -> PreferenceTestbed:
    """Build the tables of ``cfg`` (checked first; see the module docstring)."""
    cfg.check()
    P, K, d = cfg.num_prompts, cfg.num_responses, cfg.content_dim
    k_t, k_z, k_l, k_n, k_v = jax.random.split(jax.random.key(cfg.seed), 5)
    taste = jax.random.normal(k_t, (P, d)) / np.sqrt(d)
    z = jax.random.normal(k_z, (K, d))
    lengths = jax.random.uniform(k_l, (K,))
    nuisance = jax.random.normal(k_n, (K, cfg.noise_dim))
    v = jax.random.normal(k_v, (d,))
    quality = taste @ z.T  # [P, K]
    rho = cfg.harm_quality_corr
    q_std = jnp.std(quality, axis=1, keepdims=True) + 1e-6
    other = (z @ v / jnp.linalg.norm(v))[None, :]
    harmless = rho * quality / q_std + np.sqrt(max(1.0 - rho**2, 0.0)) * other
    length = jnp.broadcast_to(length_attribute(lengths, cfg.length_weight, cfg.length_peak), (P, K))
    attributes = jnp.stack([quality, harmless, length], axis=-1)
    features = jnp.concatenate(
        [
            jnp.broadcast_to(jnp.eye(P)[:, None, :], (P, K, P)),
            jnp.broadcast_to(z[None], (P, K, d)),
            jnp.broadcast_to(lengths[None, :, None], (P, K, 1)),
            jnp.broadcast_to(nuisance[None], (P, K, cfg.noise_dim)),
        ],
        axis=-1,
    )
    ref_logits = cfg.ref_quality_temp * quality - cfg.ref_length_penalty * lengths[None, :]
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    return PreferenceTestbed(
        cfg,
        f32(features),
        f32(attributes),
        f32(np.asarray(cfg.user_weights)),
        f32(np.asarray(cfg.user_fractions)),
        f32(ref_logits),
        f32(lengths),
    )


def label_pairs(key, gold_a, gold_b, flip_rate=0.0, tie_margin=0.0, beta=float("inf")):
    """Noisy labels ``[N]`` in {1 (a preferred), 0 (b preferred), 0.5 (tie)}.

    Args:
      key: PRNG key.
      gold_a, gold_b: ``[N]`` the labeller's gold utilities of the two responses.
      flip_rate: probability in [0, 1] that a non-tie label is flipped.
      tie_margin: ``|g_a − g_b| < tie_margin`` is labelled a tie (0 = no ties).
      beta: BT rationality ``P(a ≻ b) = σ(β·(g_a − g_b))``; ``inf`` picks the better one.
    """
    if not 0.0 <= float(flip_rate) <= 1.0:
        raise ValueError(f"label_pairs: flip_rate={flip_rate} not in [0, 1]")
    if float(tie_margin) < 0.0:
        raise ValueError(f"label_pairs: tie_margin={tie_margin} must be >= 0")
    if not float(beta) > 0.0:
        raise ValueError(f"label_pairs: beta={beta} must be > 0")
    k_bt, k_flip = jax.random.split(key)
    diff = jnp.asarray(gold_a) - jnp.asarray(gold_b)
    if beta == float("inf"):
        a_pref = diff > 0
    else:
        a_pref = jax.random.uniform(k_bt, diff.shape) < jax.nn.sigmoid(beta * diff)
    a_pref = jnp.logical_xor(a_pref, jax.random.uniform(k_flip, diff.shape) < flip_rate)
    label = a_pref.astype(jnp.float32)
    return jnp.where(jnp.abs(diff) < tie_margin, 0.5, label)


class PreferencePairs(NamedTuple):
    """``N`` labelled pairs (response a vs b to prompt p, labelled by a user of type u)."""

    prompt: Array  # [N] int32
    a: Array  # [N] int32 response ids
    b: Array  # [N] int32
    user: Array  # [N] int32 user type of the labeller
    x_a: Array  # [N, F] RM features of (p, a)
    x_b: Array  # [N, F]
    label: Array  # [N] float32: 1 a preferred, 0 b preferred, 0.5 tie
    gold_a: Array  # [N] the labeller's gold utility of a
    gold_b: Array  # [N]


def sample_pairs(
    key,
    tb: PreferenceTestbed,
    num_pairs: int,
    *,
    user: int | None = None,
    policy_logits=None,
    flip_rate: float = 0.0,
    tie_margin: float = 0.0,
    beta: float = float("inf"),
) -> PreferencePairs:
    """Draw ``num_pairs`` labelled pairs: prompt uniform, user by population fraction (or the
    fixed ``user``), both responses from ``policy_logits [P, K]`` (default ``π_ref``)."""
    U, P, K = tb.shape
    if user is not None and not 0 <= int(user) < U:
        raise ValueError(f"sample_pairs: user={user} not in [0, {U})")
    if int(num_pairs) < 1:
        raise ValueError(f"sample_pairs: num_pairs={num_pairs} must be >= 1")
    logits = tb.ref_logits if policy_logits is None else jnp.asarray(policy_logits)
    if logits.shape != (P, K):
        raise ValueError(f"sample_pairs: policy_logits shape {logits.shape}, expected {(P, K)}")
    k_p, k_u, k_a, k_b, k_l = jax.random.split(key, 5)
    p = jax.random.randint(k_p, (num_pairs,), 0, P)
    if user is None:
        u = jax.random.categorical(k_u, jnp.log(tb.user_fractions), shape=(num_pairs,))
    else:
        u = jnp.full((num_pairs,), int(user))
    a = jax.random.categorical(k_a, logits[p])
    b = jax.random.categorical(k_b, logits[p])
    gold = tb.gold
    g_a, g_b = gold[u, p, a], gold[u, p, b]
    label = label_pairs(k_l, g_a, g_b, flip_rate, tie_margin, beta)
    i32 = lambda x: jnp.asarray(x, jnp.int32)
    return PreferencePairs(
        i32(p), i32(a), i32(b), i32(u), tb.features[p, a], tb.features[p, b], label, g_a, g_b
    )


def expected_gold(tb: PreferenceTestbed, logits, user: int | None = None) -> Array:
    """Exact expected gold utility of a policy ``logits [P, K]`` (or ``[U, P, K]``, one policy
    per user type) under uniform prompts: per user type ``[U]``, or user ``user``'s ``[]``."""
    probs = jax.nn.softmax(jnp.asarray(logits), axis=-1)
    value = jnp.mean(jnp.sum(probs * tb.gold, axis=-1), axis=-1)  # broadcasts to [U]
    return value if user is None else value[user]
