"""Prediction-error curiosity and Curiosity in Hindsight, as one learned reward transform.

**Prediction-error curiosity** (ICM-style forward model; Pathak et al. 2017, Burda et al. 2019):
a forward model ``f(s, a) -> ŝ'`` is trained online on the agent's own transitions, and the
bonus is its per-sample error ``b_pe = ||s' − f(s, a)||²``. Where ``s'`` is random (a noisy TV),
the error never falls below the noise variance, so the bonus rewards watching noise forever.

**Curiosity in Hindsight** (Jarrett et al. 2022, "Curiosity in Hindsight: Intrinsic Exploration in
Stochastic Environments"): the model also gets a *hindsight* representation ``z`` of the realised
future, ``ŝ'_h = f_h(s, a, z)``, where ``z`` is constrained to carry only what is NOT predictable
from ``(s, a)`` (the exogenous noise of a structural causal model ``s' = F(s, a, ε)``); the bonus
is the hindsight model's error ``b_hs = ||s' − f_h(s, a, z)||²``. Pure noise is explained by ``z``
(→ 0); a novel but deterministic transition cannot be, because a ``z`` that encoded it would
depend on ``(s, a)`` (→ the bonus stays until the model has learned the transition).

What the small-scale form keeps and changes. Kept: the hindsight code as an extra input to the
prediction, its two requirements (sufficiency: it reduces reconstruction error; it carries no
information predictable from (s, a)), and the reward = the hindsight model's error, which is the
plain error minus what the code explains. Changed: the paper enforces invariance of ``z`` to
``(s, a)`` with an adversarial/contrastive critic on BYOL latents; here ``z`` is a linear
bottleneck code of the *innovation* ``r = s' − sg(f(s, a))`` (the plain model's residual,
stop-gradient), ``z = E r`` with ``k`` dims, and ``f_h(s, a, z) = f(s, a) + D z``. The innovation
is, at the least-squares optimum of ``f``, uncorrelated with every function of ``(s, a)`` (it is
``s' − E[s' | s, a]``), so ``z`` carries no (second-order) information predictable from
``(s, a)``; the ``k``-dim bottleneck makes ``(E, D)`` keep only the directions where residual
variance *persists* (aleatoric noise), as online PCA: a transition never seen leaves a residual
outside that subspace, so ``b_hs`` stays high there. Dropped: BYOL's latent targets (we predict
raw observations), the critic, and any reward normalisation (bonuses are raw squared errors).

State and updates: both models' weights, their Adam states and a step count live in the
transform STATE; every ``apply`` (one vector-env step, batch ``[N]``) first computes both bonuses
with the current weights, then takes one Adam step on the batch. Conditions live in the PARAMS
(vmappable): ``beta_pe``, ``beta_hs`` (reward = r + beta_pe·b_pe + beta_hs·b_hs) and ``seed`` (the
models' initialisation). Extrinsic-only, curiosity and hindsight curiosity are therefore one
transform with three params values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any


class CuriosityParams(NamedTuple):
    """Vmappable params: ``beta_pe``, ``beta_hs`` ``[]`` float bonus scales; ``seed`` ``[]`` int32
    initialisation seed of the models."""

    beta_pe: Array = 0.0
    beta_hs: Array = 0.0
    seed: Array = 0


class CuriosityState(NamedTuple):
    """``model``: ``{"f": MLP weights, "E": [D, k], "D": [k, D]}``; ``opt``: Adam state;
    ``step``: int32 updates taken; ``last_pe``, ``last_hs``: ``[N]`` bonuses of the last batch
    (for logging / tests)."""

    model: Any
    opt: Any
    step: Array
    last_pe: Array
    last_hs: Array


def _mlp_init(key, sizes) -> list[tuple[Array, Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (m, n)) * jnp.sqrt(1.0 / m), jnp.zeros(n))
        for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def _mlp(layers, x: Array) -> Array:
    for w, b in layers[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = layers[-1]
    return x @ w + b


def init_models(key: Array, obs_dim: int, num_actions: int, hidden: int, code_dim: int) -> dict:
    """Forward-model MLP ``[obs_dim + A] -> hidden -> hidden -> obs_dim`` and the hindsight code
    ``E [obs_dim, k]``, decoder ``D [k, obs_dim]`` (small random init)."""
    kf, ke, kd = jax.random.split(key, 3)
    sizes = (obs_dim + num_actions, hidden, hidden, obs_dim)
    scale = 0.5 / jnp.sqrt(obs_dim)
    return {
        "f": _mlp_init(kf, sizes),
        "E": jax.random.normal(ke, (obs_dim, code_dim)) * scale,
        "D": jax.random.normal(kd, (code_dim, obs_dim)) * scale,
    }


def bonuses(model: dict, obs: Array, action_1h: Array, next_obs: Array) -> tuple[Array, Array]:
    """Per-sample bonuses ``(b_pe, b_hs)``, each ``[N]``.

    ``b_pe = ||s' − f(s, a)||²`` (prediction-error curiosity); ``b_hs = ||s' − f(s, a) − D E r||²``
    with ``r = s' − f(s, a)``: the error left after the hindsight code ``z = E r`` of the realised
    future is given to the model (Jarrett et al. 2022's reward, the hindsight model's error).
    """
    pred = _mlp(model["f"], jnp.concatenate([obs, action_1h], -1))  # [N, D]
    r = next_obs - pred
    z = r @ model["E"]  # [N, k] hindsight code of the unpredicted part
    r_h = r - z @ model["D"]
    return jnp.sum(r**2, -1), jnp.sum(r_h**2, -1)


def _loss(model: dict, obs, action_1h, next_obs) -> Array:
    """Plain model: mean ``b_pe``; hindsight code: mean ``b_hs`` with the residual stop-gradient
    (so the code explains the plain model's residual and never shapes ``f`` itself)."""
    pred = _mlp(model["f"], jnp.concatenate([obs, action_1h], -1))
    r = next_obs - pred
    rs = jax.lax.stop_gradient(r)
    r_h = rs - (rs @ model["E"]) @ model["D"]
    return jnp.mean(jnp.sum(r**2, -1)) + jnp.mean(jnp.sum(r_h**2, -1))


def curiosity_transform(
    obs_dim: int,
    num_actions: int,
    *,
    batch: int,
    hidden: int = 64,
    code_dim: int = 8,
    learning_rate: float = 1e-3,
    code_learning_rate: float = 0.5,
) -> RewardTransform:
    """The curiosity / hindsight-curiosity reward transform (see the module docstring).

    Args:
      obs_dim: D, observations are ``[N, D]`` float.
      num_actions: A, actions are ``[N]`` ints (one-hot encoded for the forward model).
      batch: N, the vector-env batch ``apply`` will see (only for the ``last_*`` buffers).
      hidden: forward-model MLP width.
      code_dim: k, dimensions of the hindsight code (the bottleneck).
      learning_rate: Adam step size of the forward model (one step per ``apply``).
      code_learning_rate: SGD step size of the hindsight code ``E``, ``D``.

    Returns:
      ``RewardTransform``; ``apply(params, state, tr)`` returns ``tr.reward + beta_pe·b_pe +
      beta_hs·b_hs`` ``[N]`` (bonuses from the weights BEFORE this step's update).
    """
    for name, v in (("obs_dim", obs_dim), ("num_actions", num_actions), ("batch", batch),
                    ("hidden", hidden), ("code_dim", code_dim)):  # fmt: skip
        if int(v) < 1:
            raise ValueError(f"curiosity_transform: {name}={v}; must be >= 1")
    for name, v in (("learning_rate", learning_rate), ("code_learning_rate", code_learning_rate)):
        if not v > 0:
            raise ValueError(f"curiosity_transform: {name}={v}; must be > 0")
    # Adam for the forward model; plain SGD for the hindsight code (E, D): its gradient is
    # quadratic in the residual, so while the agent is away from the noise (residuals ~ 0) the
    # code keeps the noise directions instead of drifting under Adam's normalised steps (that
    # drift made the TV periodically novel again in a pilot on key_door).
    labels = {"f": "adam", "E": "sgd", "D": "sgd"}
    opt = optax.multi_transform(
        {"adam": optax.adam(learning_rate), "sgd": optax.sgd(code_learning_rate)},
        lambda m: {k: jax.tree.map(lambda _, v=v: v, m[k]) for k, v in labels.items()},
    )

    def init(params: CuriosityParams) -> CuriosityState:
        key = jax.random.key(jnp.asarray(params.seed, jnp.int32))
        model = init_models(key, obs_dim, num_actions, hidden, code_dim)
        z = jnp.zeros(batch)
        return CuriosityState(model, opt.init(model), jnp.zeros((), jnp.int32), z, z)

    def apply(params: CuriosityParams, state: CuriosityState, tr: Transition):
        if tr.obs.shape[-1] != obs_dim:
            raise ValueError(f"curiosity_transform: obs dim {tr.obs.shape[-1]} != {obs_dim}")
        obs = tr.obs.astype(jnp.float32).reshape(-1, obs_dim)
        nxt = tr.next_obs.astype(jnp.float32).reshape(-1, obs_dim)
        a1h = jax.nn.one_hot(tr.action.reshape(-1), num_actions)
        b_pe, b_hs = bonuses(state.model, obs, a1h, nxt)
        grads = jax.grad(_loss)(state.model, obs, a1h, nxt)
        updates, opt_state = opt.update(grads, state.opt, state.model)
        model = optax.apply_updates(state.model, updates)
        bonus = params.beta_pe * b_pe + params.beta_hs * b_hs
        reward = tr.reward + bonus.reshape(tr.reward.shape).astype(tr.reward.dtype)
        last_pe = b_pe if b_pe.shape == state.last_pe.shape else state.last_pe
        last_hs = b_hs if b_hs.shape == state.last_hs.shape else state.last_hs
        return reward, CuriosityState(model, opt_state, state.step + 1, last_pe, last_hs)

    return RewardTransform(init, apply, CuriosityParams())
