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
import numpy as np

BASE_BOUNDS = {"learning_rate": (0.0, None), "gamma": (0.0, 1.0)}
"""Bounds every agent shares: step size >= 0 (pass it in ``positive`` too) and γ in [0, 1]."""

PROBABILITY = (0.0, 1.0)
"""Bounds of a probability (an ε, a clip ε, a λ-return's λ, a ratio)."""

NONNEGATIVE = (0.0, None)
"""Bounds of a coefficient whose sign matters (an entropy or KL coefficient, a penalty)."""

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


def _leaf_name(cls: str, name: str, value: np.ndarray, index) -> str:
    if value.ndim == 0:
        return f"{cls}.{name}"
    where = ", ".join(str(int(j)) for j in index)
    return f"{cls}.{name}[{where}] (of an array of shape {value.shape})"


def check_range(
    cls: str, name: str, value, lo: float | None = None, hi: float | None = None, *, open_lo=False
) -> None:
    """Raise naming ``cls.name`` (and, for a sweep, the index) and the first bad value unless every
    value of ``value`` is a finite number in ``[lo, hi]`` (``(lo, hi]`` if ``open_lo``).

    Raises:
      TypeError: a value that is not a number (e.g. the string ``"0.99"``).
      ValueError: a non-finite or out-of-range value.
    """
    try:
        v = np.asarray(value)
    except (TypeError, ValueError):  # ragged
        v = np.asarray(None)
    if v.dtype.kind not in "iuf":
        raise TypeError(f"{cls}.{name} = {value!r} is not a number (int or float, or an array)")
    shown, v = v, v.astype(np.float64)  # shown: the value as given (a float32 0.1 prints 0.1)
    if lo is not None and hi is not None:
        allowed = f"in {'(' if open_lo else '['}{lo:g}, {hi:g}]"
    elif lo is not None:
        allowed = f"{'>' if open_lo else '>='} {lo:g}"
    elif hi is not None:
        allowed = f"<= {hi:g}"
    else:
        allowed = "real"
    bad = ~np.isfinite(v)
    if lo is not None:
        bad |= (v <= lo) if open_lo else (v < lo)
    if hi is not None:
        bad |= v > hi
    if np.any(bad):
        index = np.unravel_index(int(np.argmax(bad)), v.shape) if v.ndim else ()
        raise ValueError(
            f"{_leaf_name(cls, name, v, index)} = {shown[index]!s} is invalid: "
            f"must be finite and {allowed}"
        )


def check_hparams(hp, bounds: dict[str, tuple[float | None, float | None]], positive=()):
    """Raise naming the field (and sweep index) of a non-numeric, non-finite or out-of-bounds
    value; returns ``hp``. Fields in ``positive`` must be ``> lo`` (``> 0`` if not in ``bounds``).

    Plain numpy (no jax op): it also runs inside a ``jax.debug.callback``
    (:meth:`jaxrl.agents.trainer.TrainerBase.validate`).
    """
    cls = type(hp).__name__
    for name in dict.fromkeys((*bounds, *positive)):
        lo, hi = bounds.get(name, (0.0, None))
        check_range(cls, name, getattr(hp, name), lo, hi, open_lo=name in positive)
    return hp
