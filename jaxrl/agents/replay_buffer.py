"""A jittable, vmappable ring replay buffer that lives on the device.

The buffer is a pytree (``NamedTuple``): ``storage`` holds any pytree of arrays with a leading
``capacity`` axis, ``position`` is the next slot to write and ``size`` the number of valid
entries. Capacity is explicit and fixed at :func:`init` (never derived from a step count; see
mujoco#1431, where Brax's default ``max_replay_size = num_timesteps`` ran out of memory), and is
read back from the storage shape, so it stays a static Python int under ``jit`` and ``vmap``.

Off-policy agents store a :class:`ReplayTransition`: ``obs, action, reward`` (the *transformed*
reward the learner optimises), ``next_obs`` (``info["final_observation"]`` on the last step of an
episode, never the reset observation) and ``terminated`` (never a ``done`` that mixes in
truncation), plus optional named ``channels``.

Off-policy agents and BARFI's episode buffer (:mod:`jaxrl.bilevel.barfi`, ``newest_first``
draws) share it. flashbax 0.1.3 would do this too and runs on jax 0.11.2, but its item buffer
draws other indices for a key, so adopting it would change every replayed batch; it is not a
dependency, and the ring buffer below is ~60 lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = Any


class ReplayTransition(NamedTuple):
    """What an off-policy learner replays; each field has leading shape ``[*B]``."""

    obs: Array  # [*B, *obs_shape]
    action: Array  # [*B, *action_shape]
    reward: Array  # [*B] transformed reward the learner optimises
    next_obs: Array  # [*B, *obs_shape] final observation at episode ends
    terminated: Array  # [*B] bool; truncation is *not* stored here
    channels: Mapping[str, Array] = {}  # optional extra per-step data (e.g. raw reward channels)
    truncated: Array = None  # [*B] bool time-limit cut; stored only for n-step returns (else None)


class ReplayBuffer(NamedTuple):
    """Ring buffer state: ``storage`` leaves ``[capacity, ...]``; ``position``, ``size`` ``[]``."""

    storage: Any
    position: jnp.ndarray  # [] int32, next slot to write
    size: jnp.ndarray  # [] int32, number of valid entries (<= capacity)

    @property
    def capacity(self) -> int:
        return int(jax.tree.leaves(self.storage)[0].shape[0])


def init(example: Any, capacity: int) -> ReplayBuffer:
    """An empty buffer for items shaped like ``example`` (one item, no leading axis).

    Args:
      example: a pytree of arrays (or shape-dtype structs) for a *single* item.
      capacity: number of items kept; the oldest are overwritten once full.
    """
    if not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"replay buffer capacity must be a positive int, got {capacity!r}")

    def slots(x):
        x = x if isinstance(x, jax.ShapeDtypeStruct) else jnp.asarray(x)
        return jnp.zeros((capacity, *x.shape), x.dtype)

    storage = jax.tree.map(slots, example)
    return ReplayBuffer(storage, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(buffer: ReplayBuffer, batch: Any) -> ReplayBuffer:
    """Write a batch ``[N, ...]`` (same pytree structure as the storage) at the ring position.

    ``N`` must not exceed the capacity (the slots would collide within one write).
    """
    capacity = buffer.capacity
    n = jax.tree.leaves(batch)[0].shape[0]
    if n > capacity:
        raise ValueError(f"cannot add {n} items at once to a buffer of capacity {capacity}")
    idx = (buffer.position + jnp.arange(n, dtype=jnp.int32)) % capacity
    storage = jax.tree.map(
        lambda s, b: s.at[idx].set(b.astype(s.dtype), unique_indices=True),
        buffer.storage,
        batch,
    )
    return ReplayBuffer(
        storage,
        (buffer.position + n) % capacity,
        jnp.minimum(buffer.size + n, capacity).astype(jnp.int32),
    )


def sample(
    buffer: ReplayBuffer, key: jax.Array, batch_size: int, newest_first: bool = False
) -> Any:
    """``batch_size`` items drawn uniformly, with replacement, from the valid entries.

    The draw ``j`` in ``[0, size)`` names slot ``j`` (``newest_first=False``) or the ``j``-th
    newest item, slot ``(position − 1 − j) mod capacity`` (``newest_first=True``, BARFI's
    episode buffer): the same distribution, a different stream of items for a given key.

    On an empty buffer this returns copies of a zero slot: callers gate learning on ``size``
    (the agents start updating after ``learning_starts`` steps, BARFI's outer step once the
    buffer holds episodes).
    """
    high = jnp.maximum(buffer.size, 1)
    idx = jax.random.randint(key, (batch_size,), 0, high)
    if newest_first:
        idx = (buffer.position - 1 - idx) % buffer.capacity
    return jax.tree.map(lambda s: s[idx], buffer.storage)


def window_slots(
    buffer: ReplayBuffer, slot: Array, length: int, stride: int
) -> tuple[Array, Array]:
    """The slots of items ``slot, slot + stride, …`` (``length`` of them) and whether each has
    been written yet: ``(slots [B, length], exists [B, length])``.

    With ``num_envs = stride`` environments adding one item each per vector step, slot
    ``slot + k·stride`` holds the same environment ``k`` steps later (positions are a running
    count mod capacity, so this holds across the wrap); an item is there iff it is not newer
    than the newest item (``k·stride ≤ age(slot)``, age 0 = newest).
    """
    k = jnp.arange(length, dtype=jnp.int32) * stride
    slots = (slot[:, None] + k) % buffer.capacity
    age = (buffer.position - 1 - slot) % buffer.capacity
    return slots, k[None, :] <= age[:, None]
