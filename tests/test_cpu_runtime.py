"""The CPU runtime must not deadlock on batched LAPACK calls that run concurrently.

jaxlib 0.10.x ran each batched LAPACK kernel (QR, LU, Cholesky, ...) by scheduling the batch on
XLA's intra-op thread pool and blocking until it was done; when as many such kernels ran at once
as the pool had threads (independent thunks of one program, e.g. the actor's and critic's
orthogonal initialisers under ``vmap`` over seeds), every thread waited and nothing ran. We saw it
hang CI for over an hour (gdb: a worker in ``jax::QrFactorization`` → ``ParallelBatchMap`` →
``BlockingCounter::Wait``, all others idle). The program below hung at its first or second call on
jax 0.10.2 with 2 cores, every time we tried (20 calls here). jaxlib 0.11 no longer does this, so
jax 0.11 is the floor (pyproject.toml) and the agents initialise their networks with flax's own
orthogonal initialiser under ``vmap``, with no workaround: this test is the regression guard for
that.
"""

import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import jax, jax.numpy as jnp

    @jax.jit
    def f(key):
        total = 0.0
        for k in jax.random.split(key, 8):  # 8 independent batched QRs: concurrent thunks
            q, _ = jnp.linalg.qr(jax.random.normal(k, (64, 48, 48)))
            total = total + q.sum()
        return total

    key = jax.random.PRNGKey(0)
    for _ in range(20):  # it hung at the first or second call
        key, k = jax.random.split(key)
        f(k).block_until_ready()
    print("ok")
    """
)


@pytest.mark.heavy
def test_concurrent_batched_qr_does_not_deadlock():
    try:
        out = subprocess.run(
            [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired:
        pytest.fail("concurrent batched QRs deadlocked the XLA CPU runtime (90 s)")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
