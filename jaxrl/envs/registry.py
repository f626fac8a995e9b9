"""``make(name, **kwargs) -> (env, env_params)`` and ``register(name, factory)``."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from jaxrl.envs.brax_adapter import make_brax
from jaxrl.envs.checks import check_params
from jaxrl.envs.core import PyTree
from jaxrl.envs.gymnax_adapter import CLASSIC_CONTROL, make_gymnax
from jaxrl.envs.tabular import make_tabular
from jaxrl.envs.wrappers import RewardChannels

Factory = Callable[..., tuple[Any, PyTree]]
BRAX_PREFIX = "brax/"

_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory, *, overwrite: bool = False) -> None:
    """Registers an environment factory under ``name``.

    Args:
      name: the id passed to :func:`make`; must not start with ``"brax/"``.
      factory: ``factory(**kwargs) -> (env, env_params)``. Its env follows the contract of
        :mod:`jaxrl.envs.core` (auto-resetting, ``final_observation`` in info, params with
        ``max_steps_in_episode``); ``make`` adds the ``"true_reward"`` channel if absent.
      overwrite: allow replacing an existing registration.

    Raises:
      ValueError: if ``name`` is taken (and not ``overwrite``) or reserved.
    """
    if name.startswith(BRAX_PREFIX):
        raise ValueError(f"register: names starting with {BRAX_PREFIX!r} are reserved for Brax")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"register: {name!r} is already registered (pass overwrite=True)")
    _REGISTRY[name] = factory


def registered_names() -> list[str]:
    """Returns the registered ids (Brax envs are made as ``"brax/<name>"`` and not listed)."""
    return sorted(_REGISTRY)


def make(name: str, **kwargs: Any) -> tuple[Any, PyTree]:
    """Makes an environment and its default params.

    Args:
      name: a registered id (``"CartPole-v1"``, ``"Acrobot-v1"``, ``"MountainCar-v0"``,
        ``"MountainCarContinuous-v0"``, ``"Pendulum-v1"``, ``"tabular"``, ...) or
        ``"brax/<env_name>"`` (e.g. ``"brax/inverted_pendulum"``).
      **kwargs: passed to the factory:

        * gymnax ids: overrides of params fields, e.g. ``max_steps_in_episode=200``;
        * ``"brax/<env>"``: ``backend`` (``"spring"``, ``"positional"``, ``"generalized"``,
          ``"mjx"``; default per task: ``jaxrl.envs.brax_adapter.DEFAULT_BACKEND``, else
          ``"spring"``), ``episode_length=1000``, other brax constructor kwargs;
        * ``"tabular"``: ``mdp`` (a ``TabularMDP``), ``max_steps=100``, ``obs_type="one_hot"``.

    Returns:
      ``(env, env_params)``; ``env`` auto-resets and puts ``"true_reward"`` in ``info``;
      ``env_params.max_steps_in_episode`` is the time limit.

    Raises:
      ValueError: unknown name (the message lists close matches and the valid ones), an unknown
        keyword, or a param out of range (:func:`jaxrl.envs.check_params`, run on the result).
      TypeError: a keyword of the wrong type (e.g. ``horizon="100"``).
    """
    if not isinstance(name, str):
        raise TypeError(f"make: the environment name must be a str, got {name!r}")
    if name.startswith(BRAX_PREFIX):
        factory: Factory = partial(make_brax, name[len(BRAX_PREFIX) :])
    elif name in _REGISTRY:
        factory = _REGISTRY[name]
    else:
        close = difflib.get_close_matches(str(name), registered_names(), n=3, cutoff=0.5)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"Unknown environment {name!r}.{hint} Valid names: {registered_names()}, or "
            f"'brax/<env_name>' for a Brax env (e.g. 'brax/inverted_pendulum', "
            f"make('brax/ant', backend='spring', episode_length=1000))."
        )
    _check_kwargs(name, factory, kwargs)
    env, params = factory(**kwargs)
    check_params(env, params)
    return RewardChannels(env), params


def _check_kwargs(name: str, factory: Factory, kwargs: dict[str, Any]) -> None:
    # Bind before calling so a typo gets a clear message and real TypeErrors inside the
    # factory are not mistaken for bad arguments.
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    try:
        sig.bind(**kwargs)
    except TypeError as e:
        accepted = [p.name for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        raise ValueError(f"make({name!r}): {e}; accepted keywords: {accepted}") from None


for _id in CLASSIC_CONTROL:
    register(_id, partial(make_gymnax, _id))
register("tabular", make_tabular)
