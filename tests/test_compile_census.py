"""benchmarks/compile_census.py: per-test XLA compile counts from jax's monitoring events."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import compile_census  # noqa: E402


def test_table_sums_tests_and_orders_by_wall():
    rows = {
        "a.py::t1": {"wall": 1.0, "compiles": 2, "compile_s": 0.5},
        "a.py::t2": {"wall": 3.0, "compiles": 1, "compile_s": 2.0},
        "b.py::t3": {"wall": 2.0, "compiles": 0, "compile_s": 0.0},
        "<between tests>": {"wall": 0.0, "compiles": 5, "compile_s": 9.0},  # not a test
    }
    out = compile_census.table(rows, top=5)
    assert (
        out.splitlines()[0] == "3 tests: 6 test-seconds, 3 XLA compiles, 2 s backend compile (42%)"
    )
    files = [line.split()[-1] for line in out.splitlines()[3:5]]
    assert files == ["a.py", "b.py"]  # by wall: 4 s, 2 s
    assert out.index("a.py::t2") < out.index("b.py::t3") < out.index("a.py::t1")


@pytest.mark.heavy  # a pytest subprocess importing jax (~10 s cold)
def test_census_counts_each_tests_own_compiles(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_toy.py").write_text(
        textwrap.dedent(
            """
            import jax, jax.numpy as jnp

            def test_two_programs():
                jax.jit(lambda x: x + 1)(jnp.ones(3)).block_until_ready()
                jax.jit(lambda x: x * 2)(jnp.ones(4)).block_until_ready()

            def test_no_jax():
                assert 1 + 1 == 2
            """
        )
    )
    out = tmp_path / "census"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "compile_census.py"),
            "--workers",
            "0",
            "--out",
            str(out),
            "-p",
            "no:cacheprovider",
            "test_toy.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [p.name for p in out.glob("*.json")] == ["main.json"]  # one process, no xdist worker
    rows = compile_census.load(out)
    two, none = rows["test_toy.py::test_two_programs"], rows["test_toy.py::test_no_jax"]
    assert two["compiles"] >= 2 and two["compile_s"] > 0  # two jits (plus any eager ops)
    assert none["compiles"] == 0 and none["wall"] >= 0
    assert "test_toy.py::test_two_programs" in proc.stdout
