"""Input checks for environments: params (always, at ``make``) and actions (in debug mode).

**Params.** :func:`jaxrl.envs.make` validates the params it returns. If you build or replace params
by hand (``params.replace(random_action_eps=...)``), call :func:`check_params` before using them;
each env's own ``check_params(params)`` method holds its rules (probabilities in [0, 1], sizes and
horizons >= 1, ...). Traced values (inside ``jit``/``vmap``) are skipped: check outside.

**Actions.** A discrete action outside ``[0, n)`` is *clipped* to that range by every env of
:mod:`jaxrl.envs` (continuous actions: each env clips to its own bounds). In debug mode, enabled by
``with jaxrl.envs.debug_actions():`` (or ``debug_actions(True)``) or by the environment variable
``JAXRL_CHECK_ACTIONS=1``, ``step`` instead raises, naming the action and the valid range; it also
checks the action's shape. The mode is read when ``step`` is traced: enable it before ``jit``.
Eager calls raise a ``ValueError``; inside ``jit`` the check is a ``jax.debug.callback`` whose
error jax re-raises as ``JaxRuntimeError`` (with our message).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

_DEBUG: list[bool] = []  # stack of debug_actions() settings; empty -> the environment variable


def actions_checked() -> bool:
    """Whether debug mode (action checks in ``step``) is on now."""
    if _DEBUG:
        return _DEBUG[-1]
    return os.environ.get("JAXRL_CHECK_ACTIONS", "").lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def debug_actions(enabled: bool = True) -> Iterator[None]:
    """Context manager: within it, ``step`` raises on an out-of-range action (see module doc)."""
    _DEBUG.append(bool(enabled))
    try:
        yield
    finally:
        _DEBUG.pop()


# ----------------------------------------------------------------------------- params
def _concrete(value: Any) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _scalar(where: str, field: str, value: Any, kind: str) -> float | None:
    """``value`` as a float if it is a concrete real scalar (``kind`` "int" needs an integer);
    ``None`` for traced values. Bools and strings are refused."""
    if not _concrete(value):
        return None
    arr = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if arr is None or arr.ndim != 0 or arr.dtype.kind not in "iuf" or isinstance(value, bool):
        raise TypeError(f"{where}: {field} must be a real number ({kind}), got {value!r}")
    x = float(arr)
    if kind == "int" and not (arr.dtype.kind in "iu" or x.is_integer()):
        raise TypeError(f"{where}: {field} must be an integer, got {value!r}")
    return x


def check_probability(where: str, field: str, value: Any, what: str = "a probability") -> None:
    """``value`` in [0, 1] (``ValueError``; ``TypeError`` for a non-number)."""
    x = _scalar(where, field, value, "float")
    if x is not None and not 0.0 <= x <= 1.0:
        raise ValueError(f"{where}: {field} is {what} and must be in [0, 1], got {value!r}")


def check_at_least(where: str, field: str, value: Any, low: float, integer: bool = True) -> None:
    """``value >= low`` (an integer if ``integer``)."""
    x = _scalar(where, field, value, "int" if integer else "float")
    if x is not None and not x >= low:
        raise ValueError(f"{where}: {field} must be >= {low}, got {value!r}")


def check_positive(where: str, field: str, value: Any) -> None:
    """``value > 0`` and not NaN (``inf`` allowed)."""
    x = _scalar(where, field, value, "float")
    if x is not None and not x > 0.0:
        raise ValueError(f"{where}: {field} must be > 0, got {value!r}")


def check_finite(where: str, field: str, value: Any) -> None:
    """A finite real number."""
    x = _scalar(where, field, value, "float")
    if x is not None and not math.isfinite(x):
        raise ValueError(f"{where}: {field} must be finite, got {value!r}")


def check_params(env: Any, params: Any) -> None:
    """Validates ``params`` for ``env`` (wrappers are looked through).

    Every env's ``max_steps_in_episode`` must be an integer >= 1; the env's own
    ``check_params(params)`` method, if it has one, adds its rules.

    Raises:
      ValueError: a value out of range (the message names the field and the value).
      TypeError: a field of the wrong type (e.g. a string or a bool where a number belongs).
    """
    where = getattr(env, "name", type(env).__name__)
    if hasattr(params, "max_steps_in_episode"):
        check_at_least(where, "max_steps_in_episode", params.max_steps_in_episode, 1)
    inner = env
    while True:
        own = type(inner).__dict__.get("check_params")
        if own is not None:
            own(inner, params)
            return
        nxt = getattr(inner, "_env", None) if "_env" in vars(inner) else None
        if nxt is None:
            return
        inner = nxt


# ----------------------------------------------------------------------------- actions
def check_action(env_name: str, action: Any, space: Any) -> None:
    """Debug-mode check of one ``step``'s action against ``space`` (``Discrete`` or ``Box``).

    Static shape errors raise ``ValueError`` at trace time; values raise ``ValueError`` eagerly or,
    for traced actions, from a ``jax.debug.callback`` at run time."""
    n = getattr(space, "n", None)
    shape = () if n is not None else tuple(getattr(space, "shape", ()))
    act_shape = tuple(np.shape(action))
    if act_shape != shape:
        kind = f"Discrete({n})" if n is not None else f"a Box of shape {shape}"
        raise ValueError(
            f"jaxrl.envs {env_name}: step got an action of shape {act_shape}, expected {shape} "
            f"(the action space is {kind}); vmap over a batch of envs instead of passing a batch"
        )
    if n is None:
        return
    if _concrete(action):
        _raise_if_out_of_range(env_name, int(n), np.asarray(action))
    else:
        check = lambda a: _raise_if_out_of_range(env_name, int(n), np.asarray(a))
        jax.debug.callback(check, action)


def _raise_if_out_of_range(env_name: str, n: int, action: np.ndarray) -> None:
    bad = action[(action < 0) | (action >= n)] if action.ndim else action[None]
    bad = bad[(bad < 0) | (bad >= n)]
    if bad.size or not np.all(np.equal(np.floor(action), action)):
        value = (bad.ravel()[0] if bad.size else action.ravel()[0]).item()
        raise ValueError(
            f"jaxrl.envs {env_name}: action {value!r} is out of range; valid actions are the "
            f"integers 0..{n - 1} (Discrete({n})). Outside debug mode it would be clipped."
        )
