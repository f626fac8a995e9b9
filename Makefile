# Two commands: `make reproduce` (the main job) and `make test`. Each creates .venv if absent and
# installs the package with its extras from the pinned constraints before it runs.
# Python 3.12 first: it gets jax 0.11, whose CPU runtime no longer deadlocks on concurrent batched
# LAPACK kernels (tests/test_cpu_runtime.py); 3.11 (jax 0.10) still works, with that risk.
# (pyenv installs a python3.12 shim that fails when 3.12 is not the active version: try each.)
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3.11 python3; \
	do $$p -c 'import sys' >/dev/null 2>&1 && { command -v $$p || echo $$p; } && break; done)
VENV := .venv
BIN := $(VENV)/bin
# The constraints file follows the venv's Python when .venv already exists.
PYVER := $(shell $$(test -x $(BIN)/python && echo $(BIN)/python || echo $(PYTHON)) \
	-c 'import sys; print("%d%d" % sys.version_info[:2])')
CONSTRAINTS := requirements/constraints-py$(PYVER).txt
STAMP := $(VENV)/.installed

.PHONY: test reproduce install lock lint bench clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

# Two xdist workers (CI has 2 cores; work stealing keeps each file's jit cache on one worker). A test
# that hangs is ended by pytest-timeout's thread method (stacks dumped) and, being a crashed worker,
# rerun once; an ordinary failure is never rerun (--only-rerun matches timeouts only). See conftest.py.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --reruns 1 --only-rerun 'Timeout'

# Single-threaded Eigen: multi-threaded XLA CPU kernels deadlock intermittently on small machines
# (conftest.py); the flag is a no-op on GPU.
reproduce: export XLA_FLAGS := $(XLA_FLAGS) --xla_cpu_multi_thread_eigen=false
reproduce: $(STAMP)
	$(BIN)/python -m theory_checks --json paper_figures/out/theory_checks.json
	$(BIN)/python experiments/ppo_classic.py --profile quick
	$(BIN)/python paper_figures/ppo_classic.py
	$(BIN)/python experiments/pbrs.py --profile quick
	$(BIN)/python paper_figures/pbrs.py
	$(BIN)/python experiments/barfi.py --profile quick
	$(BIN)/python paper_figures/barfi.py
	$(BIN)/python experiments/orpo_tomato.py --profile quick
	$(BIN)/python paper_figures/orpo_tomato.py
	$(BIN)/python experiments/rlhf_shaping.py --profile quick
	$(BIN)/python paper_figures/rlhf_shaping.py
	$(BIN)/python experiments/lipschitz_gail.py --profile quick
	$(BIN)/python paper_figures/lipschitz_gail.py

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
	{ echo "# Pinned versions CI installs (Python $(PYVER), CPU). Regenerate with: make lock"; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -vi '^jaxrl'; } > $(CONSTRAINTS)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) results paper_figures/out
