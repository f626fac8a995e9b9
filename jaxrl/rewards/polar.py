"""POLAR: a pre-trained policy discriminator as a reward model (Dou et al., 2025).

"Pre-Trained Policy Discriminators are General Reward Models" recasts reward modelling as a
*policy discriminator*: a reward model ``r(reference, candidate)`` scores how likely the candidate
was produced by the same policy as the reference, so that maximising it drives the trained
policy towards the (target) policy that produced the reference. Policy Discriminative Learning
(POLAR) pre-trains it on a population of policies with a Bradley–Terry contrastive objective
(the paper's pre-training loss): for a prompt ``x``, a reference ``y_ref ~ π_i(·|x)``, a
candidate from the same policy ``y⁺ ~ π_i(·|x)`` and one from another policy ``y⁻ ~ π_j(·|x)``,

    L(φ) = −E log σ( r_φ(x, y_ref, y⁺) − r_φ(x, y_ref, y⁻) ).                            (POLAR)

Here the "responses" are table entries ``(p, a)`` of a bandit testbed with RM features
``x(p, a) [F]``, and the reference is a small *set* of ``m`` samples of one policy (possibly at
other prompts), encoded by a permutation-invariant mean embedding (DeepSets), so a handful of
target samples identifies the target:

    r_φ(R, y) = head( [ē, h(y), ē ⊙ h(y)] ),   ē = (1/m) Σ_{y' ∈ R} g(y'),

with a mask so one model serves every reference-set size ``1 ≤ m ≤ M``. Everything is pure JAX,
jittable and vmappable over seeds (:func:`train_polar` is one ``lax.scan``).

* :class:`PolicyDiscriminator` — ``r_φ(refs [..., M, F], mask [..., M], cand [..., F]) -> [...]``;
* :func:`sample_table` — draws ``(p, a)`` from a table policy ``logits [P, K]``;
* :func:`polar_batch` — the contrastive triplets of (POLAR) from a population ``[N, P, K]``;
* :func:`triplet_scores`, :func:`polar_loss`, :func:`train_polar`, :func:`polar_accuracy`;
* :func:`polar_reward` — the reward of every candidate given a target's reference samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Array = Any


class PolicyDiscriminator(nn.Module):
    """``r_φ(refs, mask, cand)``: how much ``cand`` looks like a sample of the reference policy.

    Args (call):
      refs: ``[..., M, F]`` features of up to ``M`` reference samples.
      mask: ``[..., M]`` 1 for the samples that count, 0 for padding (at least one 1).
      cand: ``[..., F]`` the candidate's features.
    Returns ``[...]`` scores (higher: more like the reference policy). The pieces
    (:meth:`encode`, :meth:`pool`, :meth:`score`) let a caller encode a whole response table
    once and gather (what :func:`polar_loss` does: ``P·K`` encodings per step, not ``B·M``).
    """

    hidden_sizes: Sequence[int] = (64, 64)
    embed_dim: int = 32

    def setup(self):
        self.g = _MLP(tuple(self.hidden_sizes), self.embed_dim)  # reference encoder
        self.h = _MLP(tuple(self.hidden_sizes), self.embed_dim)  # candidate encoder
        self.head = _MLP(tuple(self.hidden_sizes), 1)

    def encode(self, x):
        """``(g(x), h(x))``: reference and candidate encodings ``[..., E]`` of ``x [..., F]``."""
        return self.g(x), self.h(x)

    @staticmethod
    def pool(g_refs, mask):
        """The reference set's masked mean embedding ``ē [..., E]`` of ``g_refs [..., M, E]``."""
        mask = jnp.asarray(mask, g_refs.dtype)[..., None]
        return jnp.sum(g_refs * mask, -2) / jnp.maximum(jnp.sum(mask, -2), 1.0)

    def score(self, e, hc):
        """The score ``[...]`` of candidate encodings ``hc [..., E]`` against ``e [..., E]``."""
        e = jnp.broadcast_to(e, hc.shape)
        return self.head(jnp.concatenate([e, hc, e * hc], -1))[..., 0]

    def __call__(self, refs, mask, cand):
        return self.score(self.pool(self.g(refs), mask), self.h(cand))


class _MLP(nn.Module):
    hidden_sizes: tuple[int, ...]
    out: int

    @nn.compact
    def __call__(self, x):
        for n in self.hidden_sizes:
            x = nn.relu(nn.Dense(n)(x))
        return nn.Dense(self.out)(x)


def sample_table(key, logits, n: int):
    """``n`` samples of a table policy ``logits [P, K]`` under uniform prompts: ``(p, a)`` ``[n]``
    int32 each (prompt uniform, response ``a ~ softmax(logits[p])``)."""
    k_p, k_a = jax.random.split(key)
    p = jax.random.randint(k_p, (n,), 0, logits.shape[0])
    return p.astype(jnp.int32), _inverse_cdf(k_a, logits[p])


def _inverse_cdf(key, logits):
    """One draw per row of ``logits [n, K]`` by the inverse CDF: ``n`` uniforms instead of the
    ``n·K`` Gumbels of ``jax.random.categorical`` (threefry dominates a step on CPU)."""
    cdf = jnp.cumsum(jax.nn.softmax(logits, -1), -1)
    u = jax.random.uniform(key, logits.shape[:-1] + (1,))
    return jnp.minimum(jnp.sum(cdf < u, -1), logits.shape[-1] - 1).astype(jnp.int32)


class PolarBatch(NamedTuple):
    """``B`` contrastive triplets of (POLAR), as indices into the ``[P, K]`` response table."""

    ref_p: Array  # [B, M] prompts of the reference samples of policy i
    ref_a: Array  # [B, M] their responses
    mask: Array  # [B, M] 1 for the first m_b of them (m_b uniform in [1, M])
    p: Array  # [B] the candidates' prompt
    pos: Array  # [B] another sample of policy i at prompt p
    neg: Array  # [B] a sample of policy j != i at the same prompt p


def polar_batch(key, population, batch: int, max_refs: int) -> PolarBatch:
    """Draw ``batch`` triplets from a population of table policies ``population [N, P, K]``
    (logits, N >= 2); each triplet uses ``m ~ U{1..M}`` references (``M = max_refs``; the rest
    masked), so one discriminator serves every reference-set size up to ``M``."""
    N = population.shape[0]
    k_i, k_j, k_m, k_ref, k_p, k_pos, k_neg = jax.random.split(key, 7)
    i = jax.random.randint(k_i, (batch,), 0, N)
    j = (i + jax.random.randint(k_j, (batch,), 1, N)) % N  # uniform over the others
    m = jax.random.randint(k_m, (batch, 1), 1, max_refs + 1)
    mask = (jnp.arange(max_refs)[None, :] < m).astype(jnp.float32)
    ref_p, ref_a = jax.vmap(lambda k, lg: sample_table(k, lg, max_refs))(
        jax.random.split(k_ref, batch), population[i]
    )
    p = jax.random.randint(k_p, (batch,), 0, population.shape[1])
    pos = _inverse_cdf(k_pos, population[i, p])
    neg = _inverse_cdf(k_neg, population[j, p])
    return PolarBatch(ref_p, ref_a, mask, p, pos, neg)


def triplet_scores(params, model: PolicyDiscriminator, features, b: PolarBatch):
    """``(r(R, y⁺), r(R, y⁻))`` ``[B]`` each; ``features [P, K, F]`` is encoded once."""
    g, h = model.apply(params, features, method=PolicyDiscriminator.encode)  # [P, K, E] each
    e = PolicyDiscriminator.pool(g[b.ref_p, b.ref_a], b.mask)
    score = lambda a: model.apply(params, e, h[b.p, a], method=PolicyDiscriminator.score)
    return score(b.pos), score(b.neg)


def polar_loss(params, model: PolicyDiscriminator, features, b: PolarBatch):
    """(POLAR): ``−mean log σ(r(R, y⁺) − r(R, y⁻))``."""
    r_pos, r_neg = triplet_scores(params, model, features, b)
    return -jnp.mean(jax.nn.log_sigmoid(r_pos - r_neg))


def polar_accuracy(params, model: PolicyDiscriminator, features, b: PolarBatch):
    """Fraction of triplets where the same-policy candidate outscores the other (ties: 0.5;
    a triplet whose two candidates are the same response is such a tie)."""
    r_pos, r_neg = triplet_scores(params, model, features, b)
    d = r_pos - r_neg
    return jnp.mean(jnp.where(d == 0, 0.5, (d > 0).astype(jnp.float32)))


class PolarFit(NamedTuple):
    params: Any
    losses: Array  # [steps] pre-training loss per step


def train_polar(
    key,
    population,
    features,
    model: PolicyDiscriminator,
    *,
    steps: int = 1000,
    batch: int = 128,
    max_refs: int = 16,
    learning_rate: float = 1e-3,
) -> PolarFit:
    """Pre-train ``model`` by Adam on (POLAR) with a fresh batch of triplets each step.

    Jittable and vmappable over ``key``/``population`` (static: ``model``, ``steps``, ``batch``,
    ``max_refs``). ``population [N, P, K]``, ``features [P, K, F]``.
    """
    if population.ndim != 3 or population.shape[0] < 2:
        raise ValueError(f"train_polar: population shape {population.shape}, want [N>=2, P, K]")
    if features.shape[:2] != population.shape[1:]:
        raise ValueError(
            f"train_polar: features shape {features.shape} does not match the population's "
            f"(P, K) = {population.shape[1:]}"
        )
    for name, v in (("steps", steps), ("batch", batch), ("max_refs", max_refs)):
        if int(v) < 1:
            raise ValueError(f"train_polar: {name}={v} must be >= 1")
    k_init, k_data = jax.random.split(key)
    F = features.shape[-1]
    params = model.init(k_init, jnp.zeros((1, max_refs, F)), jnp.ones((1, max_refs)),
                        jnp.zeros((1, F)))  # fmt: skip
    tx = optax.adam(learning_rate)
    grad = jax.value_and_grad(lambda p, b: polar_loss(p, model, features, b))

    def step(carry, k):
        p, opt = carry
        loss, g = grad(p, polar_batch(k, population, batch, max_refs))
        upd, opt = tx.update(g, opt, p)
        return (optax.apply_updates(p, upd), opt), loss

    (params, _), losses = jax.lax.scan(
        step, (params, tx.init(params)), jax.random.split(k_data, steps)
    )
    return PolarFit(params, losses)


def polar_reward(params, model: PolicyDiscriminator, ref_features, features):
    """The POLAR reward of every candidate against a target's reference samples.

    Args:
      ref_features: ``[m, F]`` features of ``m`` samples of the target policy.
      features: ``[..., F]`` candidates (e.g. the testbed's ``[P, K, F]``).
    Returns ``[...]``: ``r_φ(R, y)``, the same reference embedding for every candidate.
    """
    g_refs, _ = model.apply(params, jnp.asarray(ref_features), method=PolicyDiscriminator.encode)
    e = jnp.mean(g_refs, -2)
    _, h = model.apply(params, features, method=PolicyDiscriminator.encode)
    return model.apply(params, e, h, method=PolicyDiscriminator.score)
