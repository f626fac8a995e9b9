"""Ring replay buffer: wraparound, sampling only valid entries, jit and vmap over seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.agents import replay_buffer as rb
from jaxrl.agents.replay_buffer import ReplayTransition


def _items(values):
    v = jnp.asarray(values, jnp.float32)
    return {"x": v, "pair": jnp.stack([v, -v], axis=-1)}


def _empty(capacity):
    return rb.init({"x": jnp.zeros(()), "pair": jnp.zeros(2)}, capacity)


def test_init_shapes_and_capacity():
    example = ReplayTransition(
        obs=jnp.zeros(3),
        action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros(()),
        next_obs=jax.ShapeDtypeStruct((3,), jnp.float32),
        terminated=jnp.zeros((), bool),
        channels={"true_reward": jnp.zeros(())},
    )
    buf = rb.init(example, 7)
    assert buf.capacity == 7
    assert buf.storage.obs.shape == (7, 3) and buf.storage.next_obs.shape == (7, 3)
    assert buf.storage.action.dtype == jnp.int32 and buf.storage.terminated.dtype == bool
    assert buf.storage.channels["true_reward"].shape == (7,)
    assert int(buf.size) == 0 and int(buf.position) == 0
    with pytest.raises(ValueError, match="capacity"):
        rb.init(example, 0)


def test_wraparound_overwrites_oldest():
    buf = _empty(5)
    add = jax.jit(rb.add)
    buf = add(buf, _items([1, 2, 3]))
    assert (int(buf.position), int(buf.size)) == (3, 3)
    buf = add(buf, _items([4, 5, 6, 7]))  # slots 3, 4, 0, 1
    assert (int(buf.position), int(buf.size)) == (2, 5)
    np.testing.assert_array_equal(buf.storage["x"], [6, 7, 3, 4, 5])
    np.testing.assert_array_equal(buf.storage["pair"][:, 1], [-6, -7, -3, -4, -5])
    buf = add(buf, _items([8, 9, 10, 11, 12]))  # a whole capacity at once
    assert (int(buf.position), int(buf.size)) == (2, 5)
    np.testing.assert_array_equal(buf.storage["x"], [11, 12, 8, 9, 10])


def test_add_more_than_capacity_raises():
    with pytest.raises(ValueError, match="capacity"):
        rb.add(_empty(3), _items([1, 2, 3, 4]))


def test_sample_only_valid_entries_uniformly():
    buf = rb.add(_empty(100), _items([1, 2, 3]))
    batch = jax.jit(rb.sample, static_argnums=2)(buf, jax.random.key(0), 3000)
    x = np.asarray(batch["x"])
    assert set(np.unique(x)) == {1.0, 2.0, 3.0}  # never the 97 empty slots
    np.testing.assert_array_equal(batch["pair"][:, 1], -x)  # rows stay aligned across leaves
    counts = np.bincount(x.astype(int))[1:]
    assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.05)


def test_vmap_over_seeds():
    seeds, capacity = 3, 4
    bufs = jax.vmap(lambda _: _empty(capacity))(jnp.arange(seeds))
    assert bufs.storage["x"].shape == (seeds, capacity)
    # seed s writes values 10*s + t
    batch = jax.vmap(lambda s: _items(10.0 * s + jnp.arange(3.0)))(jnp.arange(seeds))
    bufs = jax.jit(jax.vmap(rb.add))(bufs, batch)
    bufs = jax.jit(jax.vmap(rb.add))(bufs, batch)  # wraps: slots 3, 0, 1
    np.testing.assert_array_equal(bufs.storage["x"][1], [11, 12, 12, 10])
    np.testing.assert_array_equal(bufs.size, [4, 4, 4])
    keys = jax.random.split(jax.random.key(1), seeds)
    out = jax.jit(jax.vmap(rb.sample, in_axes=(0, 0, None)), static_argnums=2)(bufs, keys, 64)
    for s in range(seeds):
        assert set(np.unique(out["x"][s])) <= {10.0 * s, 10.0 * s + 1, 10.0 * s + 2}


def test_newest_first_counts_back_from_the_newest_item():
    # capacity 4, items 1..6 written: slots hold [5, 6, 3, 4], position 2; draw j is the j-th newest
    buf = rb.add(rb.add(_empty(4), _items([1, 2, 3, 4])), _items([5, 6]))
    key = jax.random.key(2)
    j = np.asarray(jax.random.randint(key, (50,), 0, 4))
    newest = rb.sample(buf, key, 50, newest_first=True)
    np.testing.assert_array_equal(newest["x"], 6 - j)
    np.testing.assert_array_equal(rb.sample(buf, key, 50)["x"], np.array([5, 6, 3, 4])[j])
    # partly filled: only the valid entries, newest first
    part = rb.add(_empty(5), _items([7, 8]))
    np.testing.assert_array_equal(
        rb.sample(part, key, 50, newest_first=True)["x"],
        8 - np.asarray(jax.random.randint(key, (50,), 0, 2)),
    )
