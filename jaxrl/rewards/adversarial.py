"""Off-policy adversarial imitation rewards (SAM / DAC; papers.md §3, theory.md §3).

A discriminator ``D`` (flax MLP, 2×100 LeakyReLU(0.1) by default, optional spectral
normalisation of the hidden layers) scores ``(s, a)`` pairs, or ``(s, s')`` pairs in the
state-only variant; expert samples are labelled 1 and agent samples 0. Its loss
(``liayn-pytorch``, ``agents/sam_agent.py``) is

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

**Config split.** :class:`AdversarialConfig` is static (shapes, network, penalty *type*,
sidedness, label smoothing) and lives in :class:`AdvDiscState`; :class:`AdversarialHParams`
(λ, k, noise σ, entropy coefficient) is a pytree argument of :func:`train_discriminator_step`,
so ``jax.vmap`` sweeps λ (and seeds) in one compiled step.

**Absorbing states (DAC, Kostrikov et al. 2019).** With ``absorbing=True`` every observation
carries one extra indicator feature (0 for real states); a terminal transition's next state is
the absorbing state ``(0, …, 0, 1)``, and the replay buffer additionally holds the self-loop
``(s_abs, 0, s_abs)`` for each terminal transition: :func:`wrap_absorbing` and
:func:`absorbing_transitions` build both from ``(obs, next_obs, terminated)`` batches. Batches
passed to the discriminator must already be wrapped; :func:`adversarial_reward` wraps the
transitions it sees itself (using ``transition.terminated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxrl.rewards.penalties import GP_TYPES, gradient_penalty, input_gradient_norms
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
Params = Any

REWARD_TYPES = ("minimax", "non_saturating", "airl")


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


# ----------------------------------------------------------------------------- absorbing states
def absorbing_state(obs_dim: int, batch_shape: tuple[int, ...] = (), dtype=None) -> Array:
    """The DAC absorbing state ``(0, …, 0, 1)`` of size ``obs_dim + 1``, broadcast to a batch."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    s = jnp.zeros((obs_dim + 1,), dtype).at[-1].set(1.0)
    return jnp.broadcast_to(s, (*batch_shape, obs_dim + 1))


def wrap_absorbing(obs: Array, next_obs: Array, terminated: Array) -> tuple[Array, Array]:
    """``(obs [*B, d+1], next_obs [*B, d+1])``: indicator 0 appended; terminal next states
    (``terminated`` ``[*B]``) replaced by the absorbing state."""
    obs = jnp.asarray(obs, jnp.result_type(float))
    next_obs = jnp.asarray(next_obs, obs.dtype)
    zero = jnp.zeros((*obs.shape[:-1], 1), obs.dtype)
    obs_w = jnp.concatenate([obs, zero], axis=-1)
    next_w = jnp.concatenate([next_obs, jnp.zeros((*next_obs.shape[:-1], 1), obs.dtype)], -1)
    absorbing = absorbing_state(obs.shape[-1], next_obs.shape[:-1], obs.dtype)
    next_w = jnp.where(jnp.asarray(terminated, bool)[..., None], absorbing, next_w)
    return obs_w, next_w


class AbsorbingTransitions(NamedTuple):
    """DAC's extra self-loop transitions ``(s_abs, 0, s_abs)``, one per batch entry;
    only the entries with ``mask`` (= ``terminated``) are real and go into the replay buffer."""

    obs: Array
    action: Array
    next_obs: Array
    mask: Array


def absorbing_transitions(terminated: Array, obs_dim: int, action_dim: int) -> AbsorbingTransitions:
    """Fixed-shape ``[*B]`` batch of ``(s_abs, a = 0, s_abs)`` with ``mask = terminated``."""
    terminated = jnp.asarray(terminated, bool)
    s = absorbing_state(obs_dim, terminated.shape)
    a = jnp.zeros((*terminated.shape, action_dim), s.dtype)
    return AbsorbingTransitions(s, a, s, terminated)


# ----------------------------------------------------------------------------- network / config
class AdversarialDiscriminator(nn.Module):
    """``[..., D_in] -> [...]`` logit MLP; hidden layers optionally spectrally normalised."""

    hidden_sizes: tuple[int, ...] = (100, 100)
    negative_slope: float = 0.1
    spectral_norm: bool = True
    sn_steps: int = 1

    @nn.compact
    def __call__(self, x, update_stats: bool = False):
        for h in self.hidden_sizes:
            if self.spectral_norm:
                x = nn.SpectralNorm(nn.Dense(h), n_steps=self.sn_steps)(
                    x, update_stats=update_stats
                )
            else:
                x = nn.Dense(h)(x)
            x = nn.leaky_relu(x, self.negative_slope)
        return nn.Dense(1)(x)[..., 0]


@dataclass(frozen=True)
class AdversarialConfig:
    """Static (hashable) discriminator settings (defaults: the liayn / SAM paper runs).

    Attributes:
      obs_dim: observation size *before* absorbing wrapping.
      action_dim: action size (continuous) or number of actions (``discrete``).
      state_only: ``D(s, s')`` instead of ``D(s, a)``.
      absorbing: inputs carry the DAC absorbing indicator (``obs_dim + 1`` features).
      discrete: integer actions, one-hot encoded.
      hidden_sizes, negative_slope, spectral_norm, sn_steps: the network (2×100, 0.1, SN on, one
        power-iteration step per call).
      learning_rate, max_grad_norm: Adam (liayn d_lr 5e-4) and optional global-norm clipping.
      gp_type: one of :data:`~jaxrl.rewards.penalties.GP_TYPES`.
      one_sided: ``relu(‖∇D‖ − k)²`` (True) or ``(‖∇D‖ − k)²``.
      label_smoothing: expert labels ``~ U(0.7, 1.2)`` instead of 1.
      reward_type: see :func:`reward_from_logits`.
    """

    obs_dim: int
    action_dim: int
    state_only: bool = False
    absorbing: bool = False
    discrete: bool = False
    hidden_sizes: tuple[int, ...] = (100, 100)
    negative_slope: float = 0.1
    spectral_norm: bool = True
    sn_steps: int = 1
    learning_rate: float = 5e-4
    max_grad_norm: float | None = None
    gp_type: str = "wgan"
    one_sided: bool = True
    label_smoothing: bool = False
    reward_type: str = "minimax"

    def __post_init__(self):
        if self.gp_type not in GP_TYPES:
            raise ValueError(f"unknown gp_type {self.gp_type!r}; expected one of {GP_TYPES}")
        if self.reward_type not in REWARD_TYPES:
            raise ValueError(f"unknown reward_type {self.reward_type!r}; one of {REWARD_TYPES}")

    @property
    def state_dim(self) -> int:
        """Features of one (wrapped) state: the first input block, and the ``wgan`` split."""
        return self.obs_dim + (1 if self.absorbing else 0)

    @property
    def input_dim(self) -> int:
        return self.state_dim + (self.state_dim if self.state_only else self.action_dim)

    def network(self) -> AdversarialDiscriminator:
        return AdversarialDiscriminator(
            tuple(self.hidden_sizes), self.negative_slope, self.spectral_norm, self.sn_steps
        )

    def optimizer(self) -> optax.GradientTransformation:
        adam = optax.adam(self.learning_rate)
        if self.max_grad_norm is None:
            return adam
        return optax.chain(optax.clip_by_global_norm(self.max_grad_norm), adam)


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


class AdvBatch(NamedTuple):
    """Samples: ``obs [*B, state_dim]`` and ``action [*B, action_dim]`` (or int ``[*B]`` if
    discrete) and/or ``next_obs [*B, state_dim]`` (state-only); absorbing-wrapped if configured.
    The unused field may be ``None``."""

    obs: Array
    action: Array = None
    next_obs: Array = None


@flax.struct.dataclass
class AdvDiscState:
    """Discriminator params, spectral-norm statistics and optimizer state (``config`` static)."""

    params: Params
    batch_stats: Params
    opt_state: Any
    step: Array
    config: AdversarialConfig = flax.struct.field(pytree_node=False)

    @property
    def variables(self) -> dict:
        """``{"params", "batch_stats"}``: what :func:`discriminator_logits` and the reward
        transform take as the discriminator's parameters."""
        return {"params": self.params, "batch_stats": self.batch_stats}


def discriminator_input(config: AdversarialConfig, batch: AdvBatch) -> Array:
    """Network input ``[*B, input_dim]``: ``(s, a)`` or ``(s, s')``."""
    obs = jnp.asarray(batch.obs, jnp.result_type(float))
    if config.state_only:
        second = jnp.asarray(batch.next_obs, obs.dtype)
    elif config.discrete:
        second = jax.nn.one_hot(jnp.asarray(batch.action), config.action_dim, dtype=obs.dtype)
    else:
        second = jnp.asarray(batch.action, obs.dtype).reshape(*obs.shape[:-1], config.action_dim)
    return jnp.concatenate([obs, second], axis=-1)


def discriminator_logits(config: AdversarialConfig, variables: dict, x: Array) -> Array:
    """``D(x)`` ``[*B]`` for network inputs ``x [*B, input_dim]`` (no statistics update)."""
    return config.network().apply(_full_variables(variables), x)


def _full_variables(variables: dict) -> dict:
    v = dict(variables)
    v.setdefault("batch_stats", {})
    return v


def init_discriminator(key: Array, config: AdversarialConfig) -> AdvDiscState:
    """Fresh :class:`AdvDiscState` (params, SN ``u`` vectors, Adam state)."""
    variables = config.network().init(key, jnp.zeros((1, config.input_dim)))
    params = variables["params"]
    return AdvDiscState(
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=config.optimizer().init(params),
        step=jnp.zeros((), jnp.int32),
        config=config,
    )


@jax.jit
def train_discriminator_step(
    state: AdvDiscState,
    expert_batch: AdvBatch,
    agent_batch: AdvBatch,
    key: Array,
    hparams: AdversarialHParams | None = None,
) -> tuple[AdvDiscState, dict[str, Array]]:
    """One Adam step on ``L_D`` (module docstring); pure and jitted, vmappable over
    ``(state, key, hparams)`` for seeds × λ sweeps.

    ``expert_batch`` / ``agent_batch``: :class:`AdvBatch` ``[B, ...]`` (equal sizes for
    ``wgan``). ``hparams`` defaults to :func:`default_hparams`. The spectral-norm power iteration
    advances once per step (on the joint forward pass); the penalty is evaluated with the
    updated ``u``.

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
        variables = {"params": params, "batch_stats": state.batch_stats}
        if config.spectral_norm:
            d, mutated = net.apply(variables, x, update_stats=True, mutable=["batch_stats"])
            batch_stats = mutated["batch_stats"]
        else:
            d, batch_stats = net.apply(variables, x), state.batch_stats
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
def reward_fn(config: AdversarialConfig, variables: dict, batch: AdvBatch) -> Array:
    """The learned reward ``[*B]`` of (already wrapped) samples, e.g. replay-buffer batches."""
    d = discriminator_logits(config, variables, discriminator_input(config, batch))
    return reward_from_logits(jax.lax.stop_gradient(d), config.reward_type)


def adversarial_reward(config: AdversarialConfig, variables: dict | None = None) -> RewardTransform:
    """RewardTransform replacing the reward by the learned one, ``r = softplus(D(s, a))``
    (or ``D(s, s')``; ``config.reward_type``).

    ``params`` are the discriminator's variables ``{"params", "batch_stats"}``
    (:attr:`AdvDiscState.variables`); an outer loop passes the current ones after each
    :func:`train_discriminator_step`. ``default_params`` is ``variables`` (may be None). Reads
    ``obs``, ``action`` (or ``next_obs``) and, with ``config.absorbing``, ``terminated`` from the
    transition (raw, unwrapped observations; wrapping happens here). ``D`` is a constant for the
    learner (``stop_gradient``). No state.
    """

    def init(params):
        del params
        return ()

    def apply(params, state, transition: Transition):
        obs, next_obs = transition.obs, transition.next_obs
        if config.absorbing:
            obs, next_obs = wrap_absorbing(obs, next_obs, transition.terminated)
        batch = AdvBatch(obs, None if config.state_only else transition.action, next_obs)
        d = discriminator_logits(config, params, discriminator_input(config, batch))
        r = reward_from_logits(jax.lax.stop_gradient(d), config.reward_type)
        return r.astype(jnp.result_type(transition.reward, float)), state

    return RewardTransform(init, apply, variables)
