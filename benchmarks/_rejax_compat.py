"""Benchmark-only shim: run rejax 0.1.3 (written for the old gymnax 5-tuple step API) on gymnax 1.0.

gymnax 1.0 ``step`` returns ``(obs, state, reward, terminated, truncated, info)`` (and auto-resets);
rejax 0.1.3 unpacks ``(obs, state, reward, done, info)``. ``FiveTupleEnv`` returns
``done = terminated | truncated`` and delegates everything else to the wrapped environment. Like old
gymnax, rejax then treats a time-limit truncation as a terminal (no bootstrap) — a learning
difference, not a throughput one.

Not part of the ``jaxrl`` package on purpose: it only exists to benchmark against rejax.
"""

from __future__ import annotations

import jax.numpy as jnp


class FiveTupleEnv:
    """Wrap a gymnax-1.0 environment so ``step`` returns the legacy 5-tuple."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        # ``_env`` itself must not recurse (copy.deepcopy builds the object without __init__).
        if name == "_env":
            raise AttributeError(name)
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info

    def reset(self, key, params=None):
        return self._env.reset(key, params)

    def __repr__(self) -> str:
        return f"FiveTupleEnv({self._env!r})"
