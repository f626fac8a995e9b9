"""Spread the seed axis over devices with ``jit`` + ``NamedSharding`` (no ``pmap``).

A vmapped-over-seeds computation is embarrassingly parallel, so placing its inputs with
``NamedSharding(mesh, P("seeds"))`` is enough: ``jit`` propagates the sharding through the
computation and each device runs its slice of seeds.

The mesh spans ``jax.devices()``: every device of every process. In one process that is the
local devices; in a multi-process program (``jax.distributed.initialize()``, one process per
host) every process runs the same script on the same global inputs, places only its own rows
(:func:`shard_seeds`), and :func:`to_host` gathers the results onto every process
(``process_allgather``) so that process 0 can write them.
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
    """A 1-D mesh named ``"seeds"`` over ``devices`` (default: ``jax.devices()``, the devices of
    all processes; in a single process these are the local devices)."""
    devices = list(devices) if devices is not None else jax.devices()
    return Mesh(np.asarray(devices), (SEED_AXIS,))


def seed_sharding(mesh: Mesh | None = None) -> NamedSharding:
    """``NamedSharding`` splitting the leading axis over the ``"seeds"`` mesh axis."""
    return NamedSharding(mesh if mesh is not None else seed_mesh(), P(SEED_AXIS))


def shard_seeds(tree: Any, mesh: Mesh | None = None) -> Any:
    """Place every leaf of ``tree`` with its leading (seed) axis split over ``mesh``.

    Rank-0 leaves (e.g. a shared step counter) are replicated. Typed PRNG key arrays work as any
    other leaf. In a multi-process program every process passes the same global ``tree`` (same
    config, same seeds) and each places only the rows of its own devices
    (``jax.make_array_from_callback``); leaves that already span the mesh's processes (the
    output of a jitted step on sharded inputs) are resharded by ``jax.device_put``.

    Args:
      tree: pytree of arrays ``[seeds, ...]``.
      mesh: a 1-D mesh with axis ``"seeds"``; default all devices (:func:`seed_mesh`).

    Returns:
      The same tree with leaves as sharded ``jax.Array``s.

    Raises:
      ValueError: if a leaf's seed count is not divisible by the number of devices.
    """
    mesh = mesh if mesh is not None else seed_mesh()
    n_dev = mesh.shape[SEED_AXIS]
    split = NamedSharding(mesh, P(SEED_AXIS))
    replicated = NamedSharding(mesh, P())

    multiprocess = not all(d.process_index == jax.process_index() for d in mesh.devices.flat)

    def place(path: Any, x: Any) -> Any:
        x = x if isinstance(x, jax.Array) else jax.numpy.asarray(x)
        if x.ndim and x.shape[0] % n_dev:
            raise ValueError(
                f"leaf {jax.tree_util.keystr(path)} has {x.shape[0]} seeds, not divisible by "
                f"{n_dev} devices; use a multiple of {n_dev} seeds (or fewer devices)"
            )
        sharding = split if x.ndim else replicated
        if not multiprocess or not x.is_fully_addressable:
            return jax.device_put(x, sharding)
        return _from_process_local(x, sharding)

    return jax.tree_util.tree_map_with_path(place, tree)


def state_shardings(abstract_tree: Any, shard: bool) -> Any:
    """Shardings for restoring ``abstract_tree``: seed-split if ``shard``, else local device 0."""
    if not shard:
        single = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        return jax.tree_util.tree_map(lambda _: single, abstract_tree)
    mesh = seed_mesh()
    split, replicated = NamedSharding(mesh, P(SEED_AXIS)), NamedSharding(mesh, P())
    return jax.tree_util.tree_map(lambda x: split if len(x.shape) else replicated, abstract_tree)


def _from_process_local(x: jax.Array, sharding: NamedSharding) -> jax.Array:
    """A global array of ``sharding`` from ``x``, the global value held whole by this process:
    each process builds only the rows of its own devices. Typed PRNG keys go through their
    ``uint32`` key data (with a trailing key axis that is not split)."""
    is_key = jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key)
    host = np.asarray(jax.random.key_data(x) if is_key else x)
    out = jax.make_array_from_callback(host.shape, sharding, host.__getitem__)
    return jax.random.wrap_key_data(out, impl=jax.random.key_impl(x)) if is_key else out


def to_host(tree: Any) -> Any:
    """Every leaf of ``tree`` as a numpy array of its global value, on every process.

    A leaf that spans several processes (sharded over a multi-process :func:`seed_mesh`) is
    gathered with ``multihost_utils.process_allgather`` (a collective: every process must call
    this with the same tree); a single-process tree is ``jax.device_get``, as before.
    """
    leaves = jax.tree_util.tree_leaves(tree)
    if all(not isinstance(x, jax.Array) or x.is_fully_addressable for x in leaves):
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return jax.tree_util.tree_map(
        lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)), tree
    )
