"""Policies: how an agent's parameters become actions for one action space.

Two kinds, for two kinds of learner:

* :class:`Policy` (PPO, TD3/SAC/SAM, ORPO): the *distribution head* of a flax network. The network
  (``networks.py``) owns the parameters and outputs ``(logits or mean, log_std)``; ``Policy`` maps
  them to a categorical or a (clipped / tanh-squashed) diagonal Gaussian through ``distributions``,
  with a learned ``log_std``.
* :class:`FeaturePolicy` (REINFORCE / actor-critic, BARFI; papers.md §2.2): a linear (or small MLP)
  policy on fixed state features ``x(s)`` that owns its parameters (a list of ``(W, b)``), with a
  softmax or a *fixed*-std, unsquashed Gaussian, as in BARFI's code. Its log-probabilities are
  closed-form so that BARFI can take Hessian-vector products of the REINFORCE objective through
  them (forward-over-reverse), and its numbers are those of the published runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import distributions


@dataclass(frozen=True, eq=False)
class Policy:
    """How network outputs become actions for one action space.

    Continuous policies sample an unsquashed ``u ~ N(mean, std)`` and send ``squash(u)`` to the
    environment; log-probabilities and ratios are taken in ``u``-space (see ``distributions``).
    """

    continuous: bool
    action_dim: int
    action_shape: tuple[int, ...]
    action_dtype: object
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    squash: str = "clip"

    @classmethod
    def for_env(cls, env, env_params, squash: str = "clip") -> Policy:
        space = env.action_space(env_params)
        if hasattr(space, "n"):
            return cls(False, int(space.n), (), jnp.int32)
        shape = tuple(space.shape)
        if len(shape) != 1:
            raise ValueError(f"continuous actions must be a vector, got shape {shape}")
        low = np.broadcast_to(np.asarray(space.low, np.float32), shape)
        high = np.broadcast_to(np.asarray(space.high, np.float32), shape)
        return cls(True, shape[0], shape, jnp.float32, low, high, squash)

    def dist(self, logits, log_std):
        if self.continuous:
            return distributions.diag_gaussian(logits, log_std)
        return distributions.categorical(logits)

    def sample(self, logits, log_std, key):
        """``(u, log π(u))`` with ``u`` the unsquashed sample (the action index if discrete)."""
        return self.dist(logits, log_std).sample_and_log_prob(seed=key)

    def log_prob(self, logits, log_std, u):
        return self.dist(logits, log_std).log_prob(u)

    def entropy(self, logits, log_std):
        return self.dist(logits, log_std).entropy()

    def to_env(self, u):
        if not self.continuous:
            return u
        return distributions.squash_action(u, self.low, self.high, self.squash)

    def act(self, logits, log_std, key, deterministic: bool):
        """Environment action: the mode if ``deterministic``, else a sample."""
        if deterministic:
            u = logits if self.continuous else jnp.argmax(logits, axis=-1)
        else:
            u, _ = self.sample(logits, log_std, key)
        return self.to_env(u)


@dataclass(frozen=True)
class FeaturePolicy:
    """A softmax (``continuous=False``) or fixed-std Gaussian policy on state features ``[*B, F]``;
    linear if there is no hidden layer.

    Params are a list of ``(W, b)`` layers (tanh between them); the last layer starts at zero
    (uniform softmax / zero mean), hidden layers use a scaled normal init. ``std`` is the Gaussian's
    standard deviation (a traced hyperparameter, unused when discrete).
    """

    n_features: int
    action_dim: int
    continuous: bool = False
    hidden_sizes: tuple[int, ...] = ()

    def init(self, key) -> list:
        sizes = (self.n_features, *self.hidden_sizes, self.action_dim)
        layers = []
        for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            key, k = jax.random.split(key)
            last = i == len(sizes) - 2
            w = jnp.zeros((m, n)) if last else jax.random.normal(k, (m, n)) / math.sqrt(m)
            layers.append((w, jnp.zeros((n,))))
        return layers

    def out(self, params, feat):
        """Logits (discrete) or mean (continuous) ``[*B, A]``."""
        h = feat
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jnp.tanh(h)
        return h

    def log_prob(self, params, feat, action, std=0.1):
        """``log π(a|s)`` ``[*B]``."""
        o = self.out(params, feat)
        if self.continuous:
            z = (action - o) / std
            return jnp.sum(-0.5 * z**2 - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi), -1)
        logp = jax.nn.log_softmax(o)
        return jnp.take_along_axis(logp, jnp.asarray(action, jnp.int32)[..., None], -1)[..., 0]

    def entropy(self, params, feat, std=0.1):
        """``H(π(·|s))`` ``[*B]``."""
        o = self.out(params, feat)
        if self.continuous:
            per = 0.5 * jnp.log(2 * jnp.pi * jnp.e * std**2)
            return jnp.full(o.shape[:-1], self.action_dim * per)
        logp = jax.nn.log_softmax(o)
        return -jnp.sum(jnp.exp(logp) * logp, -1)

    def sample(self, params, feat, key, std=0.1):
        """An action ``[*B(, A)]`` (int32 index, or the unsquashed Gaussian sample)."""
        o = self.out(params, feat)
        if self.continuous:
            return o + std * jax.random.normal(key, o.shape)
        return jax.random.categorical(key, o).astype(jnp.int32)

    def mode(self, params, feat):
        o = self.out(params, feat)
        return o if self.continuous else jnp.argmax(o, -1).astype(jnp.int32)

    @classmethod
    def for_env(cls, env, env_params, n_features, hidden_sizes=()) -> FeaturePolicy:
        space = env.action_space(env_params)
        if hasattr(space, "n"):
            return cls(n_features, int(space.n), False, tuple(hidden_sizes))
        return cls(n_features, int(space.shape[0]), True, tuple(hidden_sizes))
