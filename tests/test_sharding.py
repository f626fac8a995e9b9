"""Tests for jaxrl.experiment.sharding (multi-device parts run in a subprocess with 4 CPUs)."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.experiment.sharding import shard_seeds

SCRIPT = textwrap.dedent(
    """
    import tempfile
    import jax, jax.numpy as jnp, numpy as np
    from jaxrl.experiment import ResultsStore, run_chunked, shard_seeds

    assert jax.local_device_count() == 4, jax.devices()

    def f(key, hp):
        x = jax.random.normal(key, (16,))
        return {"y": jnp.tanh(hp["scale"] * x).sum(), "x": x}

    g = jax.jit(jax.vmap(f))
    keys = jax.random.split(jax.random.key(0), 8)
    hp = {"scale": jnp.linspace(0.5, 2.0, 8), "shared": jnp.float32(1.0)}
    ref = g(keys, {"scale": hp["scale"], "shared": jnp.zeros(8)})
    skeys, shp = shard_seeds(keys), shard_seeds(hp)
    assert len(skeys.sharding.device_set) == 4
    assert shp["shared"].sharding.is_fully_replicated  # rank-0 leaves are replicated
    out = g(skeys, {"scale": shp["scale"], "shared": jnp.zeros(8)})
    for k in ref:
        np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(ref[k]))
        assert len(out[k].sharding.device_set) == 4, out[k].sharding
    assert out["x"].addressable_shards[0].data.shape == (2, 16)  # 8 seeds / 4 devices

    try:
        shard_seeds(jnp.zeros((6, 3)))
        raise AssertionError("expected ValueError")
    except ValueError as e:
        assert "6 seeds" in str(e) and "4 devices" in str(e), e

    # run_chunked(shard=True): same metrics as unsharded up to float rounding (the per-device
    # program is compiled for 2 seeds, not 8, so XLA may vectorise reductions differently), and
    # bit-identical between an uninterrupted sharded run and a sharded checkpoint + resume.
    def init(key, hp):
        return {"key": key, "x": jnp.zeros(3), "t": jnp.int32(0)}

    def chunk(s, hp):
        def step(s, _):
            key, sub = jax.random.split(s["key"])
            x = s["x"] + hp * jax.random.normal(sub, (3,))
            return {"key": key, "x": x, "t": s["t"] + 1}, {"loss": (x ** 2).sum()}
        return jax.lax.scan(step, s, None, length=2)

    init_fn, chunk_fn = jax.jit(jax.vmap(init)), jax.jit(jax.vmap(chunk))
    lrs = jnp.linspace(0.1, 0.8, 8)
    plain = run_chunked(init_fn, chunk_fn, keys, lrs, num_chunks=3, run=None, resume=False,
                        progress=False)
    store = ResultsStore(tempfile.mkdtemp())
    run = store.create("shard", {"a": 1}, run_id="r")
    run_chunked(init_fn, chunk_fn, keys, lrs, num_chunks=2, run=run, resume=False,
                progress=False, shard=True)
    sharded, state = run_chunked(init_fn, chunk_fn, keys, lrs, num_chunks=3, run=run,
                                 resume=True, progress=False, shard=True, return_state=True)
    uninterrupted = run_chunked(init_fn, chunk_fn, keys, lrs, num_chunks=3, run=None,
                                resume=False, progress=False, shard=True)
    np.testing.assert_array_equal(sharded["loss"], uninterrupted["loss"])
    np.testing.assert_allclose(sharded["loss"], plain["loss"], rtol=1e-6)
    assert len(state["x"].sharding.device_set) == 4
    print("SHARDING_OK")
    """
)


@pytest.mark.heavy
def test_sharded_matches_unsharded_on_4_cpu_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "SHARDING_OK" in proc.stdout, proc.stderr[-4000:]


def test_shard_seeds_single_device():
    tree = {"k": jax.random.split(jax.random.key(1), 3), "w": jnp.ones((3, 2))}
    out = shard_seeds(tree)
    np.testing.assert_array_equal(out["w"], tree["w"])
    assert jnp.issubdtype(out["k"].dtype, jax.dtypes.prng_key)
    assert out["w"].sharding.spec == jax.sharding.PartitionSpec("seeds")
