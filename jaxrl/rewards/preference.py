"""Bradley–Terry preference reward models: a small flax MLP fitted to pairwise preferences.

The Bradley–Terry (BT) model says a response with features ``x_a`` is preferred to one with
``x_b`` with probability ``σ(r(x_a) − r(x_b))``; the reward model ``r_θ`` is fitted by minimising
the negative log-likelihood of observed preferences (the RLHF reward-model loss),

    L(θ) = −mean log σ(r_θ(x_c) − r_θ(x_r)) + reg · mean(r_θ(x_c)² + r_θ(x_r)²),

where the optional second term is PAR's "Reg" baseline (papers.md §4.1, coefficient 0.005 there).
Only differences of ``r_θ`` are identified, so the model's offset is arbitrary (PAR's
reference-centred transforms are invariant to it; raw, ceiling and clip transforms are not).

* :func:`bt_labels` draws noisy BT labels from a gold reward, ``P(a ≻ b) = σ(β·(g_a − g_b))``
  (β = ∞ is noise-free); :func:`preference_pairs` orders feature pairs by such labels.
* :func:`train_bt_reward_model` fits :class:`RewardMLP` by full-batch AdamW (jittable, a
  ``lax.scan`` over steps); :func:`preference_accuracy` is the fraction of pairs it ranks
  like the labels (or like a gold reward).

Everything is pure JAX; ``jaxrl.envs.rlhf_bandit`` uses it to build the proxy reward of its toy
RLHF testbed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Array = Any


class RewardMLP(nn.Module):
    """Scalar reward model ``[..., D] -> [...]``: an MLP with a linear scalar head."""

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        act = {"relu": nn.relu, "tanh": nn.tanh, "gelu": nn.gelu}[self.activation]
        for h in self.hidden_sizes:
            x = act(nn.Dense(h)(x))
        return nn.Dense(1)(x)[..., 0]


class PreferenceData(NamedTuple):
    """``N`` preference pairs: features of the preferred and of the other response, ``[N, D]``."""

    chosen: Array
    rejected: Array


def bt_probability(r_a, r_b, beta=1.0):
    """Bradley–Terry ``P(a ≻ b) = σ(β·(r_a − r_b))``."""
    return jax.nn.sigmoid(beta * (jnp.asarray(r_a) - jnp.asarray(r_b)))


def bt_labels(key: jax.Array, gold_a, gold_b, beta=1.0):
    """Noisy BT labels: ``True`` where a is preferred, drawn with ``P = σ(β·(g_a − g_b))``.

    ``beta = inf`` gives noise-free labels (ties broken towards b)."""
    gold_a, gold_b = jnp.asarray(gold_a), jnp.asarray(gold_b)
    if beta == float("inf"):
        return gold_a > gold_b
    return jax.random.uniform(key, gold_a.shape) < bt_probability(gold_a, gold_b, beta)


def preference_pairs(x_a, x_b, a_preferred) -> PreferenceData:
    """Order feature pairs ``[N, D]`` by boolean labels ``[N]`` (a preferred) into pairs."""
    m = jnp.asarray(a_preferred, bool)[:, None]
    return PreferenceData(jnp.where(m, x_a, x_b), jnp.where(m, x_b, x_a))


def bt_loss(params, apply_fn, data: PreferenceData, reg=0.0):
    """BT negative log-likelihood ``−mean log σ(r_c − r_r)`` (+ ``reg·mean(r_c² + r_r²)``)."""
    r_c, r_r = apply_fn(params, data.chosen), apply_fn(params, data.rejected)
    nll = -jnp.mean(jax.nn.log_sigmoid(r_c - r_r))
    return nll + reg * jnp.mean(r_c**2 + r_r**2)


def preference_accuracy(
    params, apply_fn, data: PreferenceData, gold_chosen=None, gold_rejected=None
):
    """Fraction of pairs the model ranks like the labels (``r_c > r_r``).

    With ``gold_chosen``/``gold_rejected`` ``[N]``, accuracy against the *gold* ordering instead
    of the (noisy) labels, over the pairs whose gold rewards differ."""
    r_c, r_r = apply_fn(params, data.chosen), apply_fn(params, data.rejected)
    if gold_chosen is None:
        return jnp.mean(r_c > r_r)
    g = jnp.asarray(gold_chosen) - jnp.asarray(gold_rejected)
    valid = g != 0
    agree = jnp.sign(r_c - r_r) == jnp.sign(g)
    return jnp.sum(agree & valid) / jnp.maximum(jnp.sum(valid), 1)


def fit_full_batch(loss_fn, params, optimizer: optax.GradientTransformation, steps: int):
    """Minimise ``loss_fn(params)`` by ``steps`` full-batch ``optimizer`` steps (one
    ``lax.scan``; jittable and vmappable, e.g. over an ensemble's members or seeds).

    Returns ``(params, losses [steps])`` (the loss before each step)."""
    loss_grad = jax.value_and_grad(loss_fn)

    def step(carry, _):
        p, opt = carry
        loss, g = loss_grad(p)
        upd, opt = optimizer.update(g, opt, p)
        return (optax.apply_updates(p, upd), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, steps)
    return params, losses


class BTFit(NamedTuple):
    """Result of :func:`train_bt_reward_model`."""

    params: Any
    model: RewardMLP
    losses: Array  # [steps] training loss per step

    def reward(self, x):
        """``r_θ(x)`` for features ``[..., D]``."""
        return self.model.apply(self.params, x)


def train_bt_reward_model(
    key: jax.Array,
    data: PreferenceData,
    hidden_sizes: Sequence[int] = (64, 64),
    steps: int = 500,
    learning_rate: float = 3e-3,
    weight_decay: float = 1e-4,
    reg: float = 0.0,
    activation: str = "relu",
) -> BTFit:
    """Fit a :class:`RewardMLP` to ``data`` by full-batch AdamW on :func:`bt_loss`.

    Args:
      key: initialisation key.
      data: preference pairs, features ``[N, D]``.
      hidden_sizes, activation: the MLP.
      steps: full-batch optimisation steps.
      learning_rate, weight_decay: AdamW settings.
      reg: PAR's "Reg" coefficient on ``r²`` (0 = plain BT).

    Returns:
      :class:`BTFit` with the params, the module and the loss curve.
    """
    model = RewardMLP(tuple(hidden_sizes), activation)
    params = model.init(key, data.chosen[:1])
    tx = optax.adamw(learning_rate, weight_decay=weight_decay)

    @jax.jit
    def fit(params, data):
        return fit_full_batch(lambda p: bt_loss(p, model.apply, data, reg), params, tx, steps)

    params, losses = fit(params, data)
    return BTFit(params, model, losses)
