"""The whole method × λ × seed grid of ``experiments.orpo_tomato`` as ONE jitted program per chunk.

Each method is a different program (its regulariser is static: no discriminator, an AD loss, or
an occupancy discriminator with its divergence and inputs), so methods cannot share one ``vmap``
without computing every method's branch for every run. Instead each method is vmapped over its
own ``[λ · seeds]`` axis and the methods sit side by side in one ``jit``:

    state[m], metrics[m] = vmap(trainer[m].chunk)(state[m], hp[m])     for every method m

The methods' computations are independent, so XLA:CPU's thunk executor runs them concurrently on
its intra-op pool (single-threaded Eigen, as ``make reproduce`` runs, uses one core per
computation: sequential methods leave the second core idle), there is one compile and one
dispatch per chunk instead of one per method, and each method's numbers are those of its own
``jit(vmap(chunk))`` (the same operations on the same inputs; ``tests/test_orpo_tomato.py``
compares them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

SEP = "/"
"""metric keys of the grid program are ``<method>/<metric>``"""


def grid_program(trainers: Mapping[str, Any]):
    """``(init, chunk)``, both jitted, over dicts ``method -> [runs_m, ...]`` pytrees.

    ``init(keys, hps) -> states`` and ``chunk(states, hps) -> (states, metrics)``, where
    ``keys[m]`` is ``[runs_m]`` typed PRNG keys, ``hps[m]`` the hyperparameters with the leading
    ``[runs_m]`` axis and ``metrics`` is flat: ``"<m>/<metric>" -> [runs_m, per_chunk, ...]``
    (what :func:`jaxrl.experiment.runner.run_chunked` expects).
    """
    names = tuple(trainers)

    def init(keys, hps):
        return {m: jax.vmap(trainers[m].init)(keys[m], hps[m]) for m in names}

    def chunk(states, hps):
        out, metrics = {}, {}
        for m in names:
            out[m], mm = jax.vmap(trainers[m].chunk)(states[m], hps[m])
            metrics.update({f"{m}{SEP}{k}": v for k, v in mm.items()})
        return out, metrics

    return jax.jit(init), jax.jit(chunk)


def split_metrics(metrics: Mapping[str, np.ndarray], method: str) -> dict[str, np.ndarray]:
    """The ``method``'s metrics of the flat grid metrics, without the ``<method>/`` prefix."""
    prefix = f"{method}{SEP}"
    return {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
