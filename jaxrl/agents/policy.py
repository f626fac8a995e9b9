"""Action distributions for actor-critic agents: categorical or squashed/clipped Gaussian."""

from __future__ import annotations

from dataclasses import dataclass

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
