"""Test-session setup.

XLA's multi-threaded Eigen CPU kernels were seen to deadlock intermittently on this 2-core machine
(jax 0.10.2) when two batched kernels (e.g. vmapped QR in orthogonal initialisers) wait on each
other; single-threaded Eigen avoids it. Set before jax is imported.

A CI run (2 cores, this flag set) still hung once, for over an hour, inside the pbrs experiment's
smoke test, which passes in 20 s on its own and did not hang in repeated local runs: the hang is
intermittent and lives in XLA's C++ runtime, where pytest-timeout's default SIGALRM method never
fires. So (pyproject, Makefile) the timeout uses the thread method, which dumps every thread's
stack and ends the xdist worker; pytest-rerunfailures reruns a crashed worker's test once. Ordinary
failures are not rerun. Checkpoints are saved synchronously (runner.py) to keep background threads
out of XLA.
"""

import os

_flag = "--xla_cpu_multi_thread_eigen=false"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()
