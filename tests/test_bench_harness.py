"""The throughput benchmarks' shared driver (benchmarks/_harness.py): which sharded
configurations it skips, and that a sharded configuration computes what the unsharded one does."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import _harness  # noqa: E402


def test_sharded_skips_only_seed_counts_that_do_not_split():
    impls = ["ours", "ours_sharded", "purejaxrl_sharded"]
    skips = _harness.sharded_skips(impls, [1, 3, 8, 32], devices=2)
    assert skips == [
        ("ours_sharded", 1),
        ("ours_sharded", 3),
        ("purejaxrl_sharded", 1),
        ("purejaxrl_sharded", 3),
    ]
    assert _harness.sharded_skips(impls, [8], devices=16) == [
        ("ours_sharded", 8),
        ("purejaxrl_sharded", 8),
    ]


SCRIPT = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(BENCH_DIR)!r})
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_num_cpu_devices", 2)
    import _harness

    def train(key, scale):
        return jax.random.normal(key, (5,)) * scale

    keys = jax.random.split(jax.random.key(0), 4)
    fn = jax.jit(jax.vmap(train, in_axes=(0, None)))
    args = _harness.shard_seed_arg((keys, jnp.float32(2.0)), seed_arg=0)
    assert len(args[0].sharding.device_set) == 2, args[0].sharding
    assert args[0].sharding.spec == jax.sharding.PartitionSpec("seeds")
    assert len(args[1].sharding.device_set) == 2 and args[1].sharding.is_fully_replicated
    out = fn(*args)
    assert len(out.sharding.device_set) == 2, out.sharding
    np.testing.assert_array_equal(out, fn(keys, 2.0))
    try:
        _harness.shard_seed_arg((keys[:3], 1.0), seed_arg=0)
    except SystemExit as e:
        assert "3 seeds cannot be split evenly over 2 devices" in str(e), e
    else:
        raise AssertionError("3 seeds over 2 devices was accepted")
    print("SHARDED_OK")
    """
)


@pytest.mark.heavy
def test_sharded_configuration_splits_the_seeds_and_computes_the_same():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "SHARDED_OK" in proc.stdout, proc.stderr[-4000:]
