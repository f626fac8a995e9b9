"""The one trainer protocol every learner follows (PPO, ORPO, TD3/SAC/SAM, tabular Q/SARSA,
REINFORCE/actor-critic, BARFI).

A trainer is a frozen dataclass built by its module's ``make_train(static, env, ..., transform)``:

    state = trainer.init(key, hp)                    # one seed; vmap over keys and hp
    state, metrics = trainer.chunk(state, hp)        # metrics: name -> [per_chunk, ...]
    ret = trainer.evaluate(state, hp)                # [] mean return of the fixed eval episodes
    hp = trainer.check(hp)                           # concrete values, before compiling
    state, metrics = trainer(key, hp)                # init + static.num_chunks chunks, one jit

``static`` is the trainer's closed-over config (shapes, counts; it has ``num_chunks``); ``hp`` is
the vmappable hyperparameter pytree (it has ``gamma`` and ``transform``: the params of the
``RewardTransform`` through which the learner receives every reward, see
``jaxrl.shaping.transform``). Every metric of ``chunk`` has the leading axis ``[per_chunk]`` (one
row per update, episode or iteration), so ``__call__`` and the chunked runner
(``jaxrl.experiment.run_chunked``) both give ``[num_chunks * per_chunk, ...]``. The runner, the
sweeps and the checkpointing use nothing but this protocol.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

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


class TrainerBase:
    """Mixin giving a trainer dataclass (with ``static``, ``transform``, ``init`` and ``chunk``)
    the protocol's ``check`` and ``__call__``."""

    def check(self, hparams, allow_gamma_mismatch: bool = False):
        """Validate concrete hyperparameters before compiling (bad values, γ mismatch)."""
        check_gamma(self.transform, hparams.gamma, allow_gamma_mismatch)
        return hparams.check()

    def __call__(self, key: jax.Array, hparams):
        state = self.init(key, hparams)
        state, metrics = jax.lax.scan(
            lambda s, _: self.chunk(s, hparams), state, None, self.static.num_chunks
        )
        return state, flatten_chunks(metrics)
