# Two commands: `make reproduce` (the main job) and `make test`. Each creates .venv if absent and
# installs the package with its extras from the pinned constraints before it runs.
# Python 3.12 (the floor, with jax 0.11; the pins in requirements/ are for 3.12). pyenv installs a
# python3.12 shim that fails when 3.12 is not the active version, so its own binary is tried next.
PYTHON ?= $(or $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; \
	do $$p -c 'import sys' >/dev/null 2>&1 && { command -v $$p || echo $$p; } && break; done),python3.12)
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints-py312.txt
STAMP := $(VENV)/.installed

.PHONY: test test-heavy reproduce install lock lint bench clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12) and \
		"$(VENV) is Python %d.%d; the pins are for 3.12: make clean, then retry" % sys.version_info[:2])'
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

# Two xdist workers (CI has 2 cores; work stealing keeps each file's jit cache on one worker). A test
# that hangs is ended by pytest-timeout's thread method (stacks dumped) and, being a crashed worker,
# rerun once; an ordinary failure is never rerun (--only-rerun matches timeouts only). See conftest.py.
# The 25 slowest tests are listed at the end (where the time goes, for keeping the suite lean).
# Three tiers (markers in pyproject.toml): `make test` runs neither `heavy` (over ~4 s cold each,
# mostly a training program's compile) nor `slow` (over a minute); `make test-heavy` runs the heavy
# tier; CI (.ci/run) runs both. Plain `pytest` runs everything but `slow` (pyproject addopts).
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --reruns 1 --only-rerun 'Timeout' --durations=25
test: $(STAMP)
	$(PYTEST) -m 'not slow and not heavy'

test-heavy: $(STAMP)
	$(PYTEST) -m 'heavy and not slow'

# Single-threaded Eigen, as in the tests (conftest.py): an Eigen thread-pool hang was once seen on a
# small machine, and the quick profiles' recorded numbers were made this way. A no-op on GPU.
# The theory checks and the experiments (run + figure each) go through paper_figures.reproduce,
# REPRODUCE_JOBS (default 2) at a time, longest first, each pinned to its own core where the
# machine has as many cores as jobs (REPRODUCE_PIN=0: not), each logged to paper_figures/out/logs/;
# each one's wall time goes to wall_times.txt, which the report reads. REPRODUCE_JOBS=1 runs them
# one after the other. `make reproduce PROFILE=paper` runs the paper profiles (GPU budgets; see
# each experiment's doc).
PROFILE ?= quick
REPRODUCE_JOBS ?= 2
# LLVM -O1 instead of XLA's default -O2 on CPU (not where nvidia-smi finds a GPU): our programs are
# many small loops, and -O2's loop vectorisation costs compile time and, at these sizes, run time.
# Measured (session 29, 2-core CPU): PPO CartPole 8 seeds compiles in 4.3-5.0 s instead of 6.2-6.4 s
# and runs in 8.3 s instead of 9.6-9.9 s (bit-identical there); make reproduce used 17 % fewer
# CPU-seconds. Some programs round differently, so some quick-profile numbers change (README).
CPU_OPT := $(if $(shell command -v nvidia-smi),,--xla_backend_optimization_level=1)
reproduce: export XLA_FLAGS := $(XLA_FLAGS) --xla_cpu_multi_thread_eigen=false $(CPU_OPT)
reproduce: $(STAMP)
	$(BIN)/python -m paper_figures.reproduce --profile $(PROFILE) --jobs $(REPRODUCE_JOBS)
	$(BIN)/python -m paper_figures.report
	$(BIN)/python -m jaxrl.experiment.frame results --out results/all_runs.parquet

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/ppo_throughput.py
	$(BIN)/python benchmarks/orpo_throughput.py
	$(BIN)/python benchmarks/offpolicy_throughput.py

# Re-pin after a deliberate upgrade: resolve the newest allowed versions and write the constraints.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q -e '.[dev,bench]'
	{ echo "# Pinned versions CI installs (Python 3.12, CPU). Regenerate with: make lock"; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -vi '^jaxrl'; } > $(CONSTRAINTS)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) results paper_figures/out
