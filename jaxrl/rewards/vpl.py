"""Variational preference learning (VPL): a latent-user Bradley–Terry reward model.

Poddar et al. 2024, "Personalizing RLHF with Variational Preference Learning": users differ, and
a single BT reward model averages their preferences. VPL infers a user latent ``z`` from a few of
that user's labelled pairs and conditions the reward on it, ``r(x, z)``:

* **encoder** ``q_ψ(z | C)`` over a user's context set ``C = {(x_a^i, x_b^i, y^i)}_{i≤N}``: an
  MLP ``φ`` on each pair, mean-pooled (permutation-invariant, any ``N`` through a mask), then a
  Gaussian head ``(μ, log σ²) = head(mean_i φ(x_a^i, x_b^i, y^i))``;
* **decoder** ``r_θ(x, z)``: an MLP on ``[x, z]``;
* **ELBO** (the paper's Eq. 3, per user): with ``z = μ + σ·ε`` (reparameterisation),

      L = E_q [ Σ_{j ∈ T} −log p(y^j | x_a^j, x_b^j, z) ] + β · KL(q_ψ(z | C) ‖ N(0, I)),

  ``p(y | ·, z)`` the BT likelihood ``σ(r_θ(x_a, z) − r_θ(x_b, z))`` with soft labels ``y ∈
  {1, 0.5, 0}`` (0.5 = tie, :func:`soft_bt_nll`), averaged over the user's target pairs ``T``
  and over users.

Shapes: ``B`` users, ``N`` context pairs, ``T`` target pairs, ``F`` features, ``Z`` latent dim.
Everything is pure JAX (flax + optax); :func:`train_vpl` is one ``lax.scan`` and jittable, so
seeds are a ``vmap`` axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Array = Any


class UserPairs(NamedTuple):
    """Labelled pairs grouped by user: ``[B, N, F]`` features, ``[B, N]`` labels and mask."""

    x_a: Array  # [B, N, F]
    x_b: Array  # [B, N, F]
    label: Array  # [B, N] 1 = a preferred, 0 = b preferred, 0.5 = tie
    mask: Array  # [B, N] 1 where the pair exists (a context set may hold fewer than N)


def user_pairs(x_a, x_b, label, mask=None) -> UserPairs:
    """:class:`UserPairs` with an all-ones mask by default (shapes checked)."""
    x_a, x_b, label = jnp.asarray(x_a), jnp.asarray(x_b), jnp.asarray(label, x_a.dtype)
    if x_a.ndim != 3 or x_a.shape != x_b.shape or label.shape != x_a.shape[:2]:
        raise ValueError(
            f"user_pairs: x_a {x_a.shape}, x_b {x_b.shape}, label {label.shape}; "
            "want [B, N, F], [B, N, F], [B, N]"
        )
    mask = jnp.ones(label.shape, x_a.dtype) if mask is None else jnp.asarray(mask, x_a.dtype)
    if mask.shape != label.shape:
        raise ValueError(f"user_pairs: mask {mask.shape}, want {label.shape}")
    return UserPairs(x_a, x_b, label, mask)


def _mlp(x, hidden: Sequence[int]):
    for h in hidden:
        x = nn.relu(nn.Dense(h)(x))
    return x


class PairEncoder(nn.Module):
    """``q(z | C)``: mean-pooled MLP over pairs, Gaussian head. ``[..., N, F] -> μ, logvar
    [..., Z]`` (permutation-invariant in ``N``; masked pairs are ignored)."""

    latent_dim: int = 4
    hidden_sizes: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, x_a, x_b, label, mask):
        h = _mlp(jnp.concatenate([x_a, x_b, label[..., None]], -1), self.hidden_sizes)
        m = mask[..., None]
        pooled = jnp.sum(h * m, -2) / jnp.maximum(jnp.sum(m, -2), 1.0)  # mean over N
        mu = nn.Dense(self.latent_dim)(pooled)
        logvar = nn.Dense(self.latent_dim)(pooled)
        return mu, logvar


class LatentReward(nn.Module):
    """``r_θ(x, z)``: an MLP on ``[x, z]``; ``x [..., F]``, ``z [..., Z]`` -> ``[...]``."""

    hidden_sizes: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, x, z):
        z = jnp.broadcast_to(z, (*x.shape[:-1], z.shape[-1]))
        return nn.Dense(1)(_mlp(jnp.concatenate([x, z], -1), self.hidden_sizes))[..., 0]


class VPLModel(nn.Module):
    """Encoder and decoder together (one params tree): ``encode`` and ``reward`` methods."""

    latent_dim: int = 4
    hidden_sizes: Sequence[int] = (64, 64)

    def setup(self):
        self.encoder = PairEncoder(self.latent_dim, self.hidden_sizes)
        self.decoder = LatentReward(self.hidden_sizes)

    def encode(self, ctx: UserPairs):
        """``(μ, logvar) [B, Z]`` of ``q(z | ctx)``."""
        return self.encoder(ctx.x_a, ctx.x_b, ctx.label, ctx.mask)

    def reward(self, x, z):
        """``r(x, z)``: ``x [..., F]``, ``z`` broadcastable ``[..., Z]``."""
        return self.decoder(x, z)

    def __call__(self, ctx: UserPairs, x):
        """Each user's reward at its posterior mean: ``x [B, T, F] -> [B, T]``."""
        mu, _ = self.encode(ctx)
        return self.reward(x, mu[:, None])


def soft_bt_nll(r_a, r_b, label):
    """Per-pair BT negative log-likelihood with soft labels ``y`` (1: a ≻ b, 0: b ≻ a, 0.5: tie):
    ``−[y log σ(r_a − r_b) + (1 − y) log σ(r_b − r_a)]``; for y ∈ {0, 1} it is the BT loss."""
    d = r_a - r_b
    return -(label * jax.nn.log_sigmoid(d) + (1.0 - label) * jax.nn.log_sigmoid(-d))


def gaussian_kl(mu, logvar):
    """``KL(N(μ, diag e^logvar) ‖ N(0, I))`` summed over the last axis ``[..., Z] -> [...]``."""
    return 0.5 * jnp.sum(jnp.exp(logvar) + mu**2 - 1.0 - logvar, -1)


def vpl_loss(params, model: VPLModel, ctx: UserPairs, tgt: UserPairs, key, beta=0.01):
    """The negative ELBO (Eq. 3) averaged over users, and its parts.

    Args:
      params: :class:`VPLModel` params.
      ctx: each user's context pairs ``[B, N, ·]`` (what the encoder sees).
      tgt: the same users' target pairs ``[B, T, ·]`` (whose likelihood is scored).
      key: PRNG key of the reparameterisation noise ``ε ~ N(0, I) [B, Z]``.
      beta: KL weight β.

    Returns:
      ``(loss, (nll, kl))``: scalars; nll is the mean per-pair BT NLL, kl the mean KL per user.
    """
    mu, logvar = model.apply(params, ctx, method=VPLModel.encode)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)  # reparameterisation
    r_a = model.apply(params, tgt.x_a, z[:, None], method=VPLModel.reward)  # [B, T]
    r_b = model.apply(params, tgt.x_b, z[:, None], method=VPLModel.reward)
    per_pair = soft_bt_nll(r_a, r_b, tgt.label) * tgt.mask
    nll = jnp.sum(per_pair) / jnp.maximum(jnp.sum(tgt.mask), 1.0)
    kl = jnp.mean(gaussian_kl(mu, logvar))
    # Eq. 3 sums the NLL over a user's T pairs; dividing it all by T keeps the loss per-pair.
    return nll + beta * kl / jnp.maximum(tgt.mask.shape[1], 1), (nll, kl)


class VPLFit(NamedTuple):
    """Result of :func:`train_vpl` (the module is static: pass it, not the fit, through vmap)."""

    params: Any
    losses: Array  # [steps] negative ELBO per step
    kls: Array  # [steps] mean KL per user


def resplit(key, pairs: UserPairs, context_size: int) -> tuple[UserPairs, UserPairs]:
    """Shuffle each user's ``M`` pairs independently and split them into a context set
    ``[B, context_size, ·]`` and a target set ``[B, M − context_size, ·]`` (the paper samples a
    user's context from that user's annotations, so the encoder cannot memorise one set)."""
    B, M = pairs.label.shape
    if not 1 <= int(context_size) < M:
        raise ValueError(f"resplit: context_size={context_size} not in [1, {M})")
    perm = jax.vmap(lambda k: jax.random.permutation(k, M))(jax.random.split(key, B))  # [B, M]
    shuffled = UserPairs(*(jnp.take_along_axis(a, perm.reshape(B, M, *(1,) * (a.ndim - 2)), 1)
                           for a in pairs))  # fmt: skip
    c = int(context_size)
    return (UserPairs(*(a[:, :c] for a in shuffled)), UserPairs(*(a[:, c:] for a in shuffled)))


def train_vpl(
    key: jax.Array,
    model: VPLModel,
    pairs: UserPairs,
    context_size: int,
    steps: int = 500,
    learning_rate: float = 3e-3,
    beta: float = 0.01,
    weight_decay: float = 1e-4,
    users_per_batch: int | None = None,
) -> VPLFit:
    """Fit :class:`VPLModel` by AdamW on :func:`vpl_loss` (a ``lax.scan``; jittable, vmappable).

    Args:
      key: init, split, reparameterisation and minibatch key.
      model: the (static) module.
      pairs: the training users' labelled pairs ``[B, M, ·]``; each step draws a fresh
        context/target split of every user's pairs (:func:`resplit`).
      context_size: pairs per context set (``< M``).
      steps: optimisation steps.
      learning_rate, weight_decay: AdamW settings.
      beta: KL weight β.
      users_per_batch: users per step (``None``: all ``B``).
    """
    B = pairs.label.shape[0]
    mb = B if users_per_batch is None else min(int(users_per_batch), B)
    k_init, k_run = jax.random.split(key)
    ctx0, _ = resplit(k_init, pairs, context_size)
    params = model.init(k_init, jax.tree.map(lambda a: a[:1], ctx0), pairs.x_a[:1, :1])
    tx = optax.adamw(learning_rate, weight_decay=weight_decay)
    grad = jax.value_and_grad(lambda p, c, t, k: vpl_loss(p, model, c, t, k, beta), has_aux=True)

    def step(carry, k):
        p, opt = carry
        k_b, k_split, k_eps = jax.random.split(k, 3)
        idx = jax.random.permutation(k_b, B)[:mb]
        ctx, tgt = resplit(k_split, UserPairs(*(a[idx] for a in pairs)), context_size)
        (loss, (_, kl)), g = grad(p, ctx, tgt, k_eps)
        upd, opt = tx.update(g, opt, p)
        return (optax.apply_updates(p, upd), opt), (loss, kl)

    keys = jax.random.split(k_run, steps)
    (params, _), (losses, kls) = jax.lax.scan(step, (params, tx.init(params)), keys)
    return VPLFit(params, losses, kls)


def encode_mean(params, model: VPLModel, ctx: UserPairs):
    """The posterior mean ``μ(ctx) [B, Z]`` (the ``z`` used at inference)."""
    return model.apply(params, ctx, method=VPLModel.encode)[0]


def latent_reward(params, model: VPLModel, x, z):
    """``r(x, z)`` for features ``x [..., F]`` and a latent ``z [Z]`` (or broadcastable)."""
    return model.apply(params, x, z, method=VPLModel.reward)
