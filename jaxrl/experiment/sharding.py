"""Spread the seed axis over local devices with ``jit`` + ``NamedSharding`` (no ``pmap``).

A vmapped-over-seeds computation is embarrassingly parallel, so placing its inputs with
``NamedSharding(mesh, P("seeds"))`` is enough: ``jit`` propagates the sharding through the
computation and each device runs its slice of seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

SEED_AXIS = "seeds"


def seed_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named ``"seeds"`` over ``devices`` (default: all local devices)."""
    devices = list(devices) if devices is not None else jax.local_devices()
    return Mesh(np.asarray(devices), (SEED_AXIS,))


def seed_sharding(mesh: Mesh | None = None) -> NamedSharding:
    """``NamedSharding`` splitting the leading axis over the ``"seeds"`` mesh axis."""
    return NamedSharding(mesh if mesh is not None else seed_mesh(), P(SEED_AXIS))


def shard_seeds(tree: Any, mesh: Mesh | None = None) -> Any:
    """Place every leaf of ``tree`` with its leading (seed) axis split over ``mesh``.

    Rank-0 leaves (e.g. a shared step counter) are replicated. Typed PRNG key arrays work as any
    other leaf.

    Args:
      tree: pytree of arrays ``[seeds, ...]``.
      mesh: a 1-D mesh with axis ``"seeds"``; default all local devices.

    Returns:
      The same tree with leaves as sharded ``jax.Array``s.

    Raises:
      ValueError: if a leaf's seed count is not divisible by the number of devices.
    """
    mesh = mesh if mesh is not None else seed_mesh()
    n_dev = mesh.shape[SEED_AXIS]
    split = NamedSharding(mesh, P(SEED_AXIS))
    replicated = NamedSharding(mesh, P())

    def place(path: Any, x: Any) -> Any:
        x = x if isinstance(x, jax.Array) else jax.numpy.asarray(x)
        if x.ndim == 0:
            return jax.device_put(x, replicated)
        if x.shape[0] % n_dev:
            raise ValueError(
                f"leaf {jax.tree_util.keystr(path)} has {x.shape[0]} seeds, not divisible by "
                f"{n_dev} devices; use a multiple of {n_dev} seeds (or fewer devices)"
            )
        return jax.device_put(x, split)

    return jax.tree_util.tree_map_with_path(place, tree)


def state_shardings(abstract_tree: Any, shard: bool) -> Any:
    """Shardings for restoring ``abstract_tree``: seed-split if ``shard``, else local device 0."""
    if not shard:
        single = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        return jax.tree_util.tree_map(lambda _: single, abstract_tree)
    mesh = seed_mesh()
    split, replicated = NamedSharding(mesh, P(SEED_AXIS)), NamedSharding(mesh, P())
    return jax.tree_util.tree_map(lambda x: split if len(x.shape) else replicated, abstract_tree)
