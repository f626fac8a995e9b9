"""GAIL head of the discriminator: off-policy adversarial imitation rewards (SAM / DAC;
papers.md §3, theory.md §3).

The discriminator ``D`` (:mod:`jaxrl.rewards.discriminator`; SAM: 2×100 LeakyReLU(0.1) with
spectrally normalised hidden layers, see :func:`gail_config`) scores ``(s, a)`` pairs, or
``(s, s')`` pairs in the state-only variant (inputs ``"ss"``, with DAC absorbing states);
expert samples are labelled 1 and agent samples 0. Its loss (``liayn-pytorch``,
``agents/sam_agent.py``) is

    L_D = BCE(D(expert), y) + BCE(D(agent), 0) − c_ent · H(σ(D)) + λ · GP,

with ``y = 1`` or, with label smoothing, ``y ~ U(0.7, 1.2)`` per expert sample;
``H(p) = −p log p − (1 − p) log(1 − p)`` the Bernoulli entropy averaged over both batches
(``c_ent = 0.001``); and GP a gradient penalty (:mod:`jaxrl.rewards.penalties`: ``wgan`` /
``dragan`` / ``nagard``, one- or two-sided, target ``k``, scale ``λ``).

**Reward.** The "minimax" reward ``r = −log(1 − σ(D))`` is computed as ``softplus(D)``: since
``1 − σ(D) = σ(−D) = 1/(1 + e^D)``, ``−log(1 − σ(D)) = log(1 + e^D) = softplus(D)`` exactly.
The softplus form is finite for every finite ``D`` (the naive form gives ``inf`` once σ(D)
rounds to 1, near ``D ≈ 17`` in float32; liayn adds 1e-8 inside the log, which caps the reward
at 18.4). It is ≥ 0, which suits environments that terminate on failure and is what makes the
preconditioning of :mod:`jaxrl.rewards.preconditioning` pessimistic (theory check 11). Also
available: ``"non_saturating"`` ``log σ(D) = −softplus(−D)`` (≤ 0) and ``"airl"``, their sum,
``= D``.

**Config split.** The :class:`~jaxrl.rewards.discriminator.DiscriminatorConfig` is static
(shapes, network, penalty *type*, sidedness, label smoothing) and lives in the
:class:`~jaxrl.rewards.discriminator.DiscState`; :class:`AdversarialHParams` (λ, k, noise σ,
entropy coefficient) is a pytree argument of :func:`train_adversarial_step`,
so ``jax.vmap`` sweeps λ (and seeds) in one compiled step.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl.rewards.discriminator import (
    REWARD_TYPES,
    DiscBatch,
    DiscriminatorConfig,
    DiscState,
    discriminator_input,
    discriminator_logits,
    logits_and_stats,
    transition_batch,
)
from jaxrl.rewards.penalties import gradient_penalty, input_gradient_norms
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
Params = Any


def gail_config(obs_dim: int, action_dim: int, **overrides) -> DiscriminatorConfig:
    """The liayn / SAM paper runs' discriminator: continuous ``(s, a)`` input, 2×100
    LeakyReLU(0.1) with spectral normalisation (one power-iteration step per call), Adam 5e-4
    without clipping, ``wgan`` one-sided gradient penalty, no label smoothing, minimax reward."""
    # The other fields' dataclass defaults are already these runs' values.
    paper = dict(
        hidden_sizes=(100, 100), negative_slope=0.1, spectral_norm=True, learning_rate=5e-4
    )
    return DiscriminatorConfig(obs_dim, action_dim, **{**paper, **overrides})


# ----------------------------------------------------------------------------- rewards
def minimax_reward(d: Array) -> Array:
    """``−log(1 − σ(D)) = softplus(D)`` (exact identity, stable for every finite D; ≥ 0)."""
    return jax.nn.softplus(d)


def reward_from_logits(d: Array, reward_type: str = "minimax") -> Array:
    """``minimax``: softplus(D) ≥ 0; ``non_saturating``: log σ(D) = −softplus(−D) ≤ 0;
    ``airl``: their sum, D."""
    d = jnp.asarray(d)
    if reward_type == "minimax":
        return jax.nn.softplus(d)
    if reward_type == "non_saturating":
        return -jax.nn.softplus(-d)
    if reward_type == "airl":
        return d
    raise ValueError(f"unknown reward type {reward_type!r}; expected one of {REWARD_TYPES}")


def bernoulli_entropy(d: Array) -> Array:
    """Entropy of ``Bernoulli(σ(d))`` from the logit: ``σ(d)·softplus(−d) + σ(−d)·softplus(d)``."""
    p = jax.nn.sigmoid(d)
    return p * jax.nn.softplus(-d) + (1.0 - p) * jax.nn.softplus(d)


def bce_with_logits(d: Array, label: Array) -> Array:
    """Per-sample ``−y log σ(d) − (1 − y) log(1 − σ(d))`` (labels outside [0, 1] allowed)."""
    return label * jax.nn.softplus(-d) + (1.0 - label) * jax.nn.softplus(d)


class AdversarialHParams(NamedTuple):
    """Traced (vmappable) hyperparameters of the discriminator loss.

    ``grad_pen_scale`` λ (liayn default 10), ``grad_pen_targ`` k (1), ``grad_pen_noise_std`` σ
    of DRAGAN/NAGARD (10), ``ent_reg_scale`` (0.001).
    """

    grad_pen_scale: Array = 10.0
    grad_pen_targ: Array = 1.0
    grad_pen_noise_std: Array = 10.0
    ent_reg_scale: Array = 0.001


def default_hparams(**overrides) -> AdversarialHParams:
    """:class:`AdversarialHParams` as float arrays (defaults of the paper runs)."""
    hp = AdversarialHParams()._replace(**overrides)
    return AdversarialHParams(*(jnp.asarray(v, jnp.result_type(float)) for v in hp))


@jax.jit
def train_adversarial_step(
    state: DiscState,
    expert_batch: DiscBatch,
    agent_batch: DiscBatch,
    key: Array,
    hparams: AdversarialHParams | None = None,
) -> tuple[DiscState, dict[str, Array]]:
    """One Adam step on ``L_D`` (module docstring); pure and jitted, vmappable over
    ``(state, key, hparams)`` for seeds × λ sweeps.

    ``expert_batch`` / ``agent_batch``: :class:`~jaxrl.rewards.discriminator.DiscBatch`
    ``[B, ...]`` (equal sizes for ``wgan``). ``hparams`` defaults to :func:`default_hparams`.
    The spectral-norm power iteration advances once per step (on the joint forward pass); the
    penalty is evaluated with the updated ``u``.

    Metrics (after the update unless noted): ``loss``, ``bce_expert``, ``bce_agent``,
    ``entropy``, ``grad_pen`` and ``grad_norm_penalty_points`` (mean ‖∇D(x̂)‖ at the penalty
    points; pre-update); ``grad_norm_expert``, ``grad_norm_agent`` (mean ‖∇_x D‖ at the data),
    ``grad_norm_max`` (max over both); ``accuracy``; ``reward_expert``, ``reward_agent`` (mean
    reward of each batch).
    """
    config = state.config
    hp = default_hparams() if hparams is None else hparams
    net = config.network()
    x_e = discriminator_input(config, expert_batch).reshape(-1, config.input_dim)
    x_a = discriminator_input(config, agent_batch).reshape(-1, config.input_dim)
    n_e = x_e.shape[0]
    k_gp, k_ls = jax.random.split(key)
    if config.label_smoothing:
        y_e = jax.random.uniform(k_ls, (n_e,), x_e.dtype, 0.7, 1.2)
    else:
        y_e = jnp.ones((n_e,), x_e.dtype)

    def loss_fn(params):
        x = jnp.concatenate([x_e, x_a])
        d, batch_stats = logits_and_stats(config, params, state.batch_stats, x)
        d_e, d_a = d[:n_e], d[n_e:]
        bce_e = jnp.mean(bce_with_logits(d_e, y_e))
        bce_a = jnp.mean(bce_with_logits(d_a, 0.0))
        ent = jnp.mean(bernoulli_entropy(d))
        new_vars = {"params": params, "batch_stats": batch_stats}
        per_sample = lambda xi: net.apply(new_vars, xi[None])[0]
        gp, norms = gradient_penalty(
            per_sample,
            k_gp,
            x_e,
            x_a,
            config.gp_type,
            hp.grad_pen_targ,
            config.one_sided,
            hp.grad_pen_noise_std,
            split=config.state_dim,
        )
        loss = bce_e + bce_a - hp.ent_reg_scale * ent + hp.grad_pen_scale * gp
        aux = {
            "bce_expert": bce_e,
            "bce_agent": bce_a,
            "entropy": ent,
            "grad_pen": gp,
            "grad_norm_penalty_points": jnp.mean(norms),
        }
        return loss, (batch_stats, aux)

    (loss, (batch_stats, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = config.optimizer().update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(
        params=params, batch_stats=batch_stats, opt_state=opt_state, step=state.step + 1
    )

    variables = new_state.variables
    per_sample = lambda xi: net.apply(variables, xi[None])[0]
    x_all = jnp.concatenate([x_e, x_a])
    g_all, d_all = input_gradient_norms(per_sample, x_all), net.apply(variables, x_all)
    g_e, g_a, d_e, d_a = g_all[:n_e], g_all[n_e:], d_all[:n_e], d_all[n_e:]
    metrics = {
        "loss": loss,
        **aux,
        "grad_norm_expert": jnp.mean(g_e),
        "grad_norm_agent": jnp.mean(g_a),
        "grad_norm_max": jnp.maximum(jnp.max(g_e), jnp.max(g_a)),
        "accuracy": (jnp.sum(d_e > 0) + jnp.sum(d_a < 0)) / (d_e.shape[0] + d_a.shape[0]),
        "reward_expert": jnp.mean(reward_from_logits(d_e, config.reward_type)),
        "reward_agent": jnp.mean(reward_from_logits(d_a, config.reward_type)),
    }
    return new_state, metrics


@partial(jax.jit, static_argnames=("config",))
def reward_fn(config: DiscriminatorConfig, variables: dict, batch: DiscBatch) -> Array:
    """The learned reward ``[*B]`` of (already wrapped) samples, e.g. replay-buffer batches."""
    d = discriminator_logits(config, variables, batch)
    return reward_from_logits(jax.lax.stop_gradient(d), config.reward_type)


def adversarial_reward(
    config: DiscriminatorConfig, variables: dict | None = None
) -> RewardTransform:
    """RewardTransform replacing the reward by the learned one, ``r = softplus(D(s, a))``
    (or ``D(s, s')``; ``config.reward_type``).

    ``params`` are the discriminator's variables ``{"params", "batch_stats"}``
    (:attr:`~jaxrl.rewards.discriminator.DiscState.variables`); an outer loop passes the
    current ones after each :func:`train_adversarial_step`. ``default_params`` is ``variables``
    (may be None). Reads ``obs``, ``action`` (or ``next_obs``) and, with ``config.absorbing``,
    ``terminated`` from the transition (raw, unwrapped observations; wrapping happens here).
    ``D`` is a constant for the learner (``stop_gradient``). No state.
    """

    def init(params):
        del params
        return ()

    def apply(params, state, transition: Transition):
        d = discriminator_logits(config, params, transition_batch(config, transition))
        r = reward_from_logits(jax.lax.stop_gradient(d), config.reward_type)
        return r.astype(jnp.result_type(transition.reward, float)), state

    return RewardTransform(init, apply, variables)
