"""The call and check shared by the trainers (PPO, ORPO, the off-policy agents)."""

from __future__ import annotations

import jax

from jaxrl.shaping.transform import check_gamma


class ChunkedTrainer:
    """Mixin for a trainer dataclass with ``static`` (an ``EvalConfig``), ``init(key, hp)``,
    ``chunk(state, hp)`` and ``transform``: ``trainer(key, hp)`` is ``init`` followed by
    ``static.num_chunks`` chunks, one ``jit``-able function."""

    def check(self, hparams, allow_gamma_mismatch: bool = False):
        """Validate concrete hyperparameters before compiling (bad values, γ mismatch)."""
        check_gamma(self.transform, hparams.gamma, allow_gamma_mismatch)
        return hparams.check()

    def __call__(self, key: jax.Array, hparams):
        state = self.init(key, hparams)
        state, metrics = jax.lax.scan(
            lambda s, _: self.chunk(s, hparams), state, None, self.static.num_chunks
        )
        # [num_chunks, per_chunk, ...] -> [num_chunks * per_chunk, ...]
        metrics = {k: v.reshape(-1, *v.shape[2:]) for k, v in metrics.items()}
        return state, metrics
