"""Helpers for traced hyperparameter pytrees (``NamedTuple``\\s such as ``PPOHParams``).

A hyperparameter class takes ``broadcast = broadcast_hparams`` as its method and implements
``check`` with :func:`check_hparams` and its bounds (starting from :data:`BASE_BOUNDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

BASE_BOUNDS = {"learning_rate": (0.0, None), "gamma": (0.0, 1.0)}
"""Bounds every agent shares: step size >= 0 (pass it in ``positive`` too) and γ in [0, 1]."""

POLYAK_BOUNDS = {**BASE_BOUNDS, "tau": (0.0, 1.0)}
""":data:`BASE_BOUNDS` plus the off-policy agents' target-network Polyak step τ in [0, 1]."""


def broadcast_hparams(hp, n: int, dtype=None, field_dtypes: Mapping[str, Any] | None = None):
    """Give every leaf a leading axis of size ``n`` (leaves already ``[n, ...]`` are kept), so
    ``jax.vmap(train)(keys, hp.broadcast(n))`` sweeps whichever leaves differ.

    Args:
      hp: a hyperparameter ``NamedTuple``; leaves ``[]`` or ``[n, ...]``.
      n: the sweep size.
      dtype: if given, every leaf is cast to it (e.g. ``jnp.float32``, so an ``int`` written for
        a float field does not change the traced dtype).
      field_dtypes: per-field dtypes (top-level field name -> dtype) overriding ``dtype``.

    A class opts in with ``broadcast = broadcast_hparams``, or
    ``broadcast = functools.partialmethod(broadcast_hparams, dtype=...)`` to cast.
    """
    field_dtypes = field_dtypes or {}

    def lead(x, dt):
        x = jnp.asarray(x, dt)
        return x if x.ndim and x.shape[0] == n else jnp.broadcast_to(x, (n, *x.shape))

    fields = {
        k: jax.tree.map(partial(lead, dt=field_dtypes.get(k, dtype)), v)
        for k, v in hp._asdict().items()
    }
    return type(hp)(**fields)


def check_hparams(hp, bounds: dict[str, tuple[float | None, float | None]], positive=()):
    """Raise ``ValueError`` naming a non-finite or out-of-bounds field; returns ``hp``."""
    cls = type(hp).__name__
    for name, (lo, hi) in bounds.items():
        value = jnp.asarray(getattr(hp, name))
        if not bool(jnp.all(jnp.isfinite(value))):
            raise ValueError(f"{cls}.{name} is not finite: {value}")
        if lo is not None and bool(jnp.any(value < lo)):
            raise ValueError(f"{cls}.{name} must be >= {lo}, got {value}")
        if hi is not None and bool(jnp.any(value > hi)):
            raise ValueError(f"{cls}.{name} must be <= {hi}, got {value}")
    for name in positive:
        if bool(jnp.any(jnp.asarray(getattr(hp, name)) <= 0)):
            raise ValueError(f"{cls}.{name} must be > 0, got {getattr(hp, name)}")
    return hp
