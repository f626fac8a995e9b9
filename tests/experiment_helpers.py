"""How tests reach the experiments and the figure scripts.

Experiments are packages (``experiments/<name>/``), imported by name: pytest puts the repository
root on ``sys.path`` (``pythonpath`` in pyproject.toml). Figure scripts in ``paper_figures/`` are
still plain scripts, loaded by path.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def experiment(name: str) -> ModuleType:
    """The package ``experiments.<name>`` (its ``main(argv) -> runs``, ``PRESETS``, ...)."""
    return importlib.import_module(f"experiments.{name}")


def load_script(path: Path) -> ModuleType:
    """Execute the script at ``path`` as a fresh module named after its folder and stem.

    The module is registered in ``sys.modules`` first: dataclasses resolve annotations through it.
    """
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"{path.parent.name}_{path.stem}_script", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def run_quick(name: str, results: Path, flags: str = "") -> list:
    """``experiments.<name>``'s ``main`` on its quick profile with 2 seeds, writing into
    ``results``; ``flags`` is the rest of the command line (shrunk budgets). Returns its runs."""
    argv = ["--profile", "quick", "--seeds", "2", *flags.split(), "--results", str(results)]
    return experiment(name).main(argv)


def draw_figure(name: str, results: Path):
    """``paper_figures/<name>.py``'s ``main`` on the runs in ``results``, into ``results/out``."""
    fig = load_script(ROOT / "paper_figures" / f"{name}.py")
    return fig.main(["--results", str(results), "--out", str(results / "out")])


def load_declared(run, schema, name: str = "metrics"):
    """``<name>.npz`` of a finished run read through its experiment's ``schema``, after checking
    that the run recorded that same schema when it wrote the file (validated on write)."""
    assert (run.path / f"{name}.schema.json").exists(), f"{run.path}/{name} has no schema"
    assert run.load_schema(name) == schema
    return run.load_metrics(name, schema=schema)
