"""Test-session setup.

Root cause of the CI hang (2 cores, jax 0.10.2): jaxlib 0.10 runs each *batched* LAPACK kernel
(QR, LU, ...) by scheduling the batch on XLA's intra-op thread pool and blocking until it is done;
when as many such kernels run concurrently as the pool has threads (independent thunks of one
program, e.g. the actor's and critic's orthogonal initialisers under ``vmap`` over seeds), every
thread waits and nothing runs. gdb on a hung benchmark showed a worker in
``jax::QrFactorization`` → ``ParallelBatchMap`` → ``BlockingCounter::Wait`` and all others idle;
``tests/test_cpu_runtime.py`` reproduces it in seconds. jax 0.11 (Python 3.12) no longer does
this, so ``make`` prefers Python 3.12 and CI pins jax 0.11.2 (requirements/constraints-py312.txt).

Belt and braces for 3.11 / jax 0.10 and anything unknown: single-threaded Eigen (below, set before
jax is imported; it did not prevent the LAPACK hang but avoids an Eigen-pool variant seen
earlier); pytest-timeout's thread method (pyproject), which dumps every thread's stack and ends
the xdist worker even when the hang is inside C++ where SIGALRM never fires; and one rerun of a
crashed worker's test (Makefile). Ordinary failures are never rerun.
"""

import os

_flag = "--xla_cpu_multi_thread_eigen=false"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()
