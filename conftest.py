"""Test-session setup.

XLA's multi-threaded Eigen CPU kernels were seen to deadlock intermittently on this 2-core machine
(jax 0.10.2) when two batched kernels (e.g. vmapped QR in orthogonal initialisers) wait on each
other; single-threaded Eigen avoids it. Set before jax is imported. pytest-timeout (pyproject)
turns any remaining hang into a failure instead of a stalled CI run.
"""

import os

_flag = "--xla_cpu_multi_thread_eigen=false"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()
