"""The one learned discriminator of the library: network, inputs, state and optimiser.

Two losses ("heads") train it:

* :mod:`~jaxrl.rewards.occupancy_ratio` (ORPO; papers.md §1.3): logistic loss on current- vs
  reference-policy samples, so that ``d ≈ log μ_π/μ_ref``; its penalty rewards and the
  ``occupancy_penalty`` reward transform.
* :mod:`~jaxrl.rewards.adversarial` (GAIL / SAM / DAC; papers.md §3): BCE on expert vs agent
  samples with entropy and gradient penalties; the ``adversarial_reward`` reward transform.

``D`` is a flax MLP ``[..., D_in] -> [...]`` (LeakyReLU hidden layers, optionally spectrally
normalised) on one of three inputs (:attr:`DiscriminatorConfig.inputs`):

* ``"sa"``: ``(s, a)``, the action one-hot encoded (``discrete``) or raw (continuous);
* ``"s"``: ``s`` alone (state-occupancy variant of ORPO);
* ``"ss"``: ``(s, s')`` (state-only imitation).

**Absorbing states (DAC, Kostrikov et al. 2019).** With ``absorbing=True`` every observation
carries one extra indicator feature (0 for real states); a terminal transition's next state is
the absorbing state ``(0, …, 0, 1)``, and the replay buffer additionally holds the self-loop
``(s_abs, 0, s_abs)`` for each terminal transition: :func:`wrap_absorbing` and
:func:`absorbing_transitions` build both from ``(obs, next_obs, terminated)`` batches. Batches
passed to the discriminator must already be wrapped; the reward transforms wrap the transitions
they see themselves (using ``transition.terminated``).

**Parameters.** :class:`DiscState` holds ``params`` and ``batch_stats`` (the spectral-norm power
iteration vectors; empty without spectral normalisation) separately; :attr:`DiscState.variables`
``{"params", "batch_stats"}`` is what :func:`discriminator_logits` and the reward transforms take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxrl.rewards.penalties import GP_TYPES, SpectralDense

Array = Any
Params = Any

INPUTS = ("sa", "s", "ss")
REWARD_TYPES = ("minimax", "non_saturating", "airl")
SN_SWITCH = "spectral_norm_on"
"""``batch_stats`` entry of :class:`Discriminator`'s per-run spectral-normalisation switch"""


class Discriminator(nn.Module):
    """``[..., D_in] -> [...]`` logit MLP; hidden layers optionally spectrally normalised.

    Parameter names are ``Dense_0 … Dense_n`` with or without spectral normalisation (the power
    iteration vectors live in the ``batch_stats`` collection).

    With ``spectral_norm`` the hidden layers are :class:`~jaxrl.rewards.penalties.SpectralDense`
    (weights drawn as without it), and ``batch_stats["spectral_norm_on"]`` (``[]``, 1 at init)
    switches the normalisation per run: 1 uses ``W / σ̂(W)``, 0 the raw ``W`` (the power
    iteration still advances). It is a value, not a static setting, so runs with and without
    spectral normalisation share one ``vmap`` (:func:`set_spectral_norm`).
    """

    hidden_sizes: tuple[int, ...] = (256, 256)
    negative_slope: float = 0.01
    spectral_norm: bool = False
    sn_steps: int = 1

    @nn.compact
    def __call__(self, x, update_stats: bool = False):
        if self.spectral_norm:
            on = self.variable("batch_stats", SN_SWITCH, lambda: jnp.ones((), jnp.float32)).value
        for i, h in enumerate(self.hidden_sizes):
            if self.spectral_norm:
                x = SpectralDense(h, self.sn_steps, name=f"Dense_{i}")(x, update_stats, on)
            else:
                x = nn.Dense(h, name=f"Dense_{i}")(x)
            x = nn.leaky_relu(x, self.negative_slope)
        return nn.Dense(1, name=f"Dense_{len(self.hidden_sizes)}")(x)[..., 0]


def set_spectral_norm(batch_stats: dict, on: Array) -> dict:
    """``batch_stats`` of a spectrally normalised :class:`Discriminator` with the per-run switch
    set to ``on`` (1: normalised, 0: raw weights; may be traced)."""
    if SN_SWITCH not in batch_stats:
        raise ValueError("set_spectral_norm needs a discriminator built with spectral_norm=True")
    return {**batch_stats, SN_SWITCH: jnp.asarray(on, jnp.float32)}


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Static (hashable) discriminator settings, closed over by jit.

    The defaults are ORPO's network and the SAM runs' GAIL loss; the heads' constructors
    :func:`~jaxrl.rewards.occupancy_ratio.orpo_config` and
    :func:`~jaxrl.rewards.adversarial.gail_config` fill in the rest of each paper's settings.

    Attributes:
      obs_dim: flat observation size *before* absorbing wrapping.
      action_dim: number of actions (``discrete``, one-hot encoded) or action size.
      inputs: ``"sa"`` ``D(s, a)``, ``"s"`` ``D(s)`` or ``"ss"`` ``D(s, s')``.
      discrete: integer actions ``[*B]`` (one-hot encoded) vs continuous ``[*B, action_dim]``.
      absorbing: states carry the DAC absorbing indicator (``obs_dim + 1`` features).
      hidden_sizes, negative_slope, spectral_norm, sn_steps: the network (:class:`Discriminator`).
      learning_rate, max_grad_norm: Adam and optional global-norm clipping.
      num_epochs, num_minibatches: ORPO head, default passes per training call.
      gp_type: GAIL head, one of :data:`~jaxrl.rewards.penalties.GP_TYPES`.
      one_sided: GAIL head, ``relu(‖∇D‖ − k)²`` (True) or ``(‖∇D‖ − k)²``.
      label_smoothing: GAIL head, expert labels ``~ U(0.7, 1.2)`` instead of 1.
      reward_type: GAIL head, one of :data:`REWARD_TYPES`
        (:func:`~jaxrl.rewards.adversarial.reward_from_logits`).
    """

    obs_dim: int
    action_dim: int
    inputs: Literal["sa", "s", "ss"] = "sa"
    discrete: bool = False
    absorbing: bool = False
    hidden_sizes: tuple[int, ...] = (256, 256)
    negative_slope: float = 0.01
    spectral_norm: bool = False
    sn_steps: int = 1
    learning_rate: float = 1e-3
    max_grad_norm: float | None = None
    num_epochs: int = 8
    num_minibatches: int = 4
    gp_type: str = "wgan"
    one_sided: bool = True
    label_smoothing: bool = False
    reward_type: str = "minimax"

    def __post_init__(self):
        if self.inputs not in INPUTS:
            raise ValueError(f"unknown inputs {self.inputs!r}; expected one of {INPUTS}")
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
        second = {"sa": self.action_dim, "s": 0, "ss": self.state_dim}[self.inputs]
        return self.state_dim + second

    def network(self) -> Discriminator:
        return Discriminator(
            tuple(self.hidden_sizes), self.negative_slope, self.spectral_norm, self.sn_steps
        )

    def optimizer(self) -> optax.GradientTransformation:
        adam = optax.adam(self.learning_rate)
        if self.max_grad_norm is None:
            return adam
        return optax.chain(optax.clip_by_global_norm(self.max_grad_norm), adam)


class DiscBatch(NamedTuple):
    """Samples: ``obs [*B, state_dim]``; ``action [*B]`` int (discrete) or ``[*B, action_dim]``
    (inputs ``"sa"``); ``next_obs [*B, state_dim]`` (inputs ``"ss"``). Absorbing-wrapped if
    configured. A field the inputs do not use may be ``None``."""

    obs: Array
    action: Array = None
    next_obs: Array = None


@flax.struct.dataclass
class DiscState:
    """Discriminator params, spectral-norm statistics, optimizer state and Adam step count
    (a pytree; ``config`` is static)."""

    params: Params
    batch_stats: Params
    opt_state: Any
    step: Array
    config: DiscriminatorConfig = flax.struct.field(pytree_node=False)

    @property
    def variables(self) -> dict:
        """``{"params", "batch_stats"}``: what :func:`discriminator_logits` and the reward
        transforms take as the discriminator's parameters."""
        return {"params": self.params, "batch_stats": self.batch_stats}


def init_discriminator(key: Array, config: DiscriminatorConfig) -> DiscState:
    """Fresh :class:`DiscState` (params, spectral-norm ``u`` vectors, Adam state)."""
    variables = config.network().init(key, jnp.zeros((1, config.input_dim)))
    params = variables["params"]
    return DiscState(
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=config.optimizer().init(params),
        step=jnp.zeros((), jnp.int32),
        config=config,
    )


def discriminator_input(config: DiscriminatorConfig, batch: DiscBatch) -> Array:
    """Network input ``[*B, input_dim]``: ``(s, a)``, ``s`` or ``(s, s')``."""
    obs = jnp.asarray(batch.obs, jnp.result_type(float))
    if config.inputs == "s":
        return obs
    if config.inputs == "ss":
        second = jnp.asarray(batch.next_obs, obs.dtype)
    elif config.discrete:
        second = jax.nn.one_hot(jnp.asarray(batch.action), config.action_dim, dtype=obs.dtype)
    else:
        second = jnp.asarray(batch.action, obs.dtype).reshape(*obs.shape[:-1], config.action_dim)
    return jnp.concatenate([obs, second], axis=-1)


def _full_variables(variables: dict) -> dict:
    v = dict(variables)
    v.setdefault("batch_stats", {})
    return v


def network_logits(config: DiscriminatorConfig, variables: dict, x: Array) -> Array:
    """``D(x)`` ``[*B]`` for network inputs ``x [*B, input_dim]`` (no statistics update)."""
    return config.network().apply(_full_variables(variables), x)


def discriminator_logits(config: DiscriminatorConfig, variables: dict, batch: DiscBatch) -> Array:
    """``D`` ``[*B]`` of (already wrapped) samples (no statistics update)."""
    return network_logits(config, variables, discriminator_input(config, batch))


def logits_and_stats(
    config: DiscriminatorConfig, params: Params, batch_stats: Params, x: Array
) -> tuple[Array, Params]:
    """Training forward pass ``(D(x) [*B], batch_stats)``: with spectral normalisation the power
    iteration advances one step (``sn_steps``) and the new ``u`` vectors are returned."""
    variables = {"params": params, "batch_stats": batch_stats}
    if not config.spectral_norm:
        return config.network().apply(variables, x), batch_stats
    d, mutated = config.network().apply(variables, x, update_stats=True, mutable=["batch_stats"])
    return d, mutated["batch_stats"]


def flatten_batch(config: DiscriminatorConfig, batch: DiscBatch) -> DiscBatch:
    """``batch`` with its leading axes ``[*B]`` merged into one ``[n]``."""
    obs = jnp.asarray(batch.obs)
    n = 1
    for size in obs.shape[:-1]:
        n *= size
    states = lambda x: None if x is None else jnp.asarray(x).reshape(n, config.state_dim)
    action = batch.action
    if action is not None:
        shape = (n,) if config.discrete else (n, config.action_dim)
        action = jnp.asarray(action).reshape(shape)
    return DiscBatch(states(obs), action, states(batch.next_obs))


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


def transition_batch(config: DiscriminatorConfig, transition) -> DiscBatch:
    """The :class:`DiscBatch` of a reward transform's ``Transition`` (raw observations; wrapped
    here with ``transition.terminated`` when ``config.absorbing``)."""
    obs, next_obs = transition.obs, transition.next_obs
    if config.absorbing:
        obs, next_obs = wrap_absorbing(obs, next_obs, transition.terminated)
    action = transition.action if config.inputs == "sa" else None
    return DiscBatch(obs, action, next_obs if config.inputs == "ss" else None)
