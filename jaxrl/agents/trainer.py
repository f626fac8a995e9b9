"""The one trainer protocol every learner follows (PPO, ORPO, TD3/SAC/SAM, tabular Q/SARSA,
REINFORCE/actor-critic, BARFI).

A trainer is a frozen dataclass built by its module's ``make_train(static, env, ..., transform)``:

    state = trainer.init(key, hp)                    # one seed; vmap over keys and hp
    state, metrics = trainer.chunk(state, hp)        # metrics: name -> [per_chunk, ...]
    ret = trainer.evaluate(state, hp)                # [] mean return of the fixed eval episodes
    hp = trainer.check(hp)                           # concrete values, before compiling
    state, metrics = trainer(key, hp)                # init + static.num_chunks chunks, one jit

Checks that cannot be skipped (:class:`TrainerBase`): building a trainer checks its ``static``
config, and every ``init`` (hence ``trainer(key, hp)``) runs ``check(hp)`` first: eagerly, in
Python, when ``hp`` is concrete; at run time, once per init through ``jax.debug.callback``, when
``hp`` is traced (``jax.jit(jax.vmap(trainer))(keys, hp)``; the error then arrives as a
``JaxRuntimeError`` carrying our message). A deliberate γ mismatch between the reward transform and
the learner is allowed only with the trainer's ``allow_gamma_mismatch=True`` (e.g.
``dataclasses.replace(trainer, allow_gamma_mismatch=True)``).

``static`` is the trainer's closed-over config (shapes, counts; it has ``num_chunks``); ``hp`` is
the vmappable hyperparameter pytree (it has ``gamma`` and ``transform``: the params of the
``RewardTransform`` through which the learner receives every reward, see
``jaxrl.shaping.transform``). Every metric of ``chunk`` has the leading axis ``[per_chunk]`` (one
row per update, episode or iteration), so ``__call__`` and the chunked runner
(``jaxrl.experiment.run_chunked``) both give ``[num_chunks * per_chunk, ...]``. The runner, the
sweeps and the checkpointing use nothing but this protocol.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np

from jaxrl.config import validate_types
from jaxrl.shaping.transform import RewardTransform, check_gamma

Metrics = dict[str, jax.Array]


@runtime_checkable
class Trainer(Protocol):
    """What the runner, the sweeps and the checkpointing rely on (see the module docstring)."""

    static: Any
    transform: RewardTransform

    def init(self, key: jax.Array, hparams: Any) -> Any: ...

    def chunk(self, state: Any, hparams: Any) -> tuple[Any, Metrics]: ...

    def evaluate(self, state: Any, hparams: Any) -> jax.Array:
        """``[]`` the policy's mean return over fixed evaluation episodes (``eval_return``)."""
        ...

    def check(self, hparams: Any, allow_gamma_mismatch: bool = False) -> Any: ...

    def __call__(self, key: jax.Array, hparams: Any) -> tuple[Any, Metrics]: ...


def flatten_chunks(metrics: Metrics) -> Metrics:
    """``[num_chunks, per_chunk, ...] -> [num_chunks * per_chunk, ...]`` for every leaf."""
    return jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), metrics)


_NESTED = threading.local()
"""``depth > 0`` while a checked ``init`` runs: an inner trainer's ``init`` (ORPO's PPO) skips its
own check, which the outer one has done (with the outer trainer's ``allow_gamma_mismatch``)."""


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def check_static(static) -> None:
    """Type-check (a :class:`~jaxrl.config.Config` dataclass) and value-check ``static``."""
    if dataclasses.is_dataclass(static) and not isinstance(static, type):
        validate_types(static)
    check = getattr(static, "check", None)
    if callable(check):
        check()


@dataclasses.dataclass(frozen=True, eq=False)
class TrainerBase:
    """Base of every trainer dataclass (with ``static``, ``transform``, ``init`` and ``chunk``):
    gives the protocol's ``check`` and ``__call__``, checks ``static`` when the trainer is built
    and wraps ``init`` so that it checks its hyperparameters first (see the module docstring)."""

    allow_gamma_mismatch: bool = dataclasses.field(default=False, kw_only=True)
    """train with a reward transform built for another γ than the learner's (deliberately)"""

    def __post_init__(self):
        check_static(self.static)
        raw = getattr(self.init, "unchecked", self.init)  # dataclasses.replace passes the wrapper

        def init(key: jax.Array, hparams):
            if getattr(_NESTED, "depth", 0):
                return raw(key, hparams)
            self.validate(hparams)
            _NESTED.depth = 1
            try:
                return raw(key, hparams)
            finally:
                _NESTED.depth = 0

        init.unchecked = raw
        init.__doc__ = getattr(raw, "__doc__", None)
        object.__setattr__(self, "init", init)

    def check(self, hparams, allow_gamma_mismatch: bool = False):
        """Validate concrete hyperparameters before compiling (bad values, γ mismatch)."""
        check_gamma(self.transform, hparams.gamma, allow_gamma_mismatch)
        return hparams.check()

    def validate(self, hparams) -> None:
        """``check(hparams, self.allow_gamma_mismatch)`` now if ``hparams`` is concrete, else when
        the traced computation runs (a ``jax.debug.callback``: once per init and seed)."""
        if not _is_traced(hparams):
            self.check(hparams, self.allow_gamma_mismatch)
            return

        def at_run_time(hp):
            hp = jax.tree.map(np.asarray, hp)
            try:
                self.check(hp, self.allow_gamma_mismatch)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{e} (jaxrl: checked at run time, inside jit/vmap)") from e

        jax.debug.callback(at_run_time, hparams)

    def __call__(self, key: jax.Array, hparams):
        state = self.init(key, hparams)
        state, metrics = jax.lax.scan(
            lambda s, _: self.chunk(s, hparams), state, None, self.static.num_chunks
        )
        return state, flatten_chunks(metrics)
