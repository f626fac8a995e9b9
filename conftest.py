"""Test-session setup.

History (CI hung for over an hour on 2 cores with jax 0.10.2): jaxlib 0.10 ran each *batched*
LAPACK kernel (QR, LU, ...) by scheduling the batch on XLA's intra-op thread pool and blocking
until it was done; when as many such kernels ran concurrently as the pool had threads
(independent thunks of one program, e.g. the actor's and critic's orthogonal initialisers under
``vmap`` over seeds), every thread waited and nothing ran. jax 0.11 no longer does this; it is the
floor (pyproject.toml) and ``tests/test_cpu_runtime.py`` guards it.

Belt and braces for anything unknown: single-threaded Eigen (below, set before jax is imported;
it avoids an Eigen-pool hang seen earlier, and the recorded numbers were made with it);
pytest-timeout's thread method (pyproject), which dumps every thread's stack and ends the xdist
worker even when a hang is inside C++ where SIGALRM never fires; and one rerun of a crashed
worker's test (Makefile). Ordinary failures are never rerun.
"""

import os
import time

# LLVM -O1 (XLA's default is -O2), as `make reproduce` (Makefile CPU_OPT): the suite's time is
# mostly compilation (~74 % of the workers' time was XLA backend compile in a session-29 census),
# and -O1 compiles faster. No test depends on -O2's float rounding.
for _flag, _name in (
    ("--xla_cpu_multi_thread_eigen=false", "xla_cpu_multi_thread_eigen"),
    ("--xla_backend_optimization_level=1", "xla_backend_optimization_level"),
):
    if _name not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()

# JAX's persistent compilation cache from the first compile, in a directory of the suite's own
# (never the experiments' ~/.cache/jaxrl/jax, which the experiment smoke tests would otherwise
# fill through enable_compilation_cache, which reads these variables). A fresh machine (CI) starts
# cold, and only programs that several tests or workers compile alike are loaded (a few % of the
# suite's compile time); a rerun on the same machine loads nearly every program. Suite times in
# the README are cold ones.
for _var, _default in (
    ("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/jaxrl/tests-xla")),
    ("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2"),
):  # (no JAX_COMPILATION_CACHE_MAX_SIZE: it needs the `filelock` package, else every read fails)
    os.environ.setdefault(_var, _default)

import jax  # noqa: E402  (after XLA_FLAGS: jax reads them on import)
import pytest  # noqa: E402


@pytest.fixture
def x64():
    """Float64 for one test, as a context (not a global config update) so float32 tests elsewhere
    are unaffected. A module opts in with ``pytestmark = pytest.mark.usefixtures("x64")``."""
    with jax.enable_x64(True):
        yield


def _loop_ns(n: int = 3_000_000) -> float:
    """Nanoseconds per iteration of a pure-Python loop: a probe of this machine's speed (the
    shared CI machine's has been seen to vary ~3x between hours), so that a suite time can be
    read against the speed it ran at."""
    t, s = time.perf_counter(), 0
    for i in range(n):
        s += i
    return (time.perf_counter() - t) / n * 1e9


_PROBE_START = None if os.environ.get("PYTEST_XDIST_WORKER") else _loop_ns()


def pytest_terminal_summary(terminalreporter):
    if _PROBE_START is not None:
        terminalreporter.write_line(
            f"machine speed probe (pure-Python loop, ns per iteration; lower is faster): "
            f"{_PROBE_START:.0f} before the tests, {_loop_ns():.0f} after"
        )
