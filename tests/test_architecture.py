"""Layers point one way: the import graph of ``jaxrl/`` and ``experiments/`` has no cycle, and no
lower layer imports a higher one. Every import counts, including those inside functions and under
``TYPE_CHECKING`` (a lazy import hides a cycle; it does not remove it).

The layer order is declared here, once, lowest first; a package may import its own layer and
any lower one. ``jaxrl/config.py`` (typed configs) is the bottom layer, so agents and the
bi-level code never import the experiment layer.

``experiments`` (one package per experiment) is the top layer, above ``jaxrl.experiment``. An
experiment package may import ``experiments.common`` but no other experiment, unless
:data:`EXPERIMENT_DEPENDS` declares it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Lowest first. Each entry is one layer: the top-level modules/subpackages of ``jaxrl`` in it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_platform", "config", "distributions"),
    ("mdp",),
    ("shaping",),
    ("rewards",),
    ("regularizers", "analysis"),
    ("envs",),
    ("agents",),
    ("bilevel",),
    ("experiment",),
)
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}
#: The packages whose import graph is checked; ``experiments`` sits above every ``jaxrl`` layer.
PACKAGES = ("jaxrl", "experiments")
#: The experiment packages shared by all the others (importable from any experiment).
SHARED_EXPERIMENTS = frozenset({"common"})
#: Declared imports of one experiment package by another: ``{importer: (imported, ...)}``.
EXPERIMENT_DEPENDS: Mapping[str, tuple[str, ...]] = {}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The modules of ``modules`` that ``path`` imports anywhere in its body."""
    current = module_name(path, root)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, current, is_package)
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` if there is one.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # ``import a.b.c`` -> nearest known module
                target = target.rpartition(".")[0]
            if target and target != current:
                found.add(target)
    return found


def import_graph(packages: Iterable[str] = PACKAGES, root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: modules of ``packages`` it imports}`` over every ``.py`` file of ``packages``."""
    files = sorted(f for package in packages for f in (root / package).rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return {module_name(f, root): imports_of(f, modules, root) for f in files}


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] == "experiments":
        return len(LAYERS)
    return LAYER_OF.get(parts[1]) if len(parts) > 1 else None


def _layer_name(layer: int) -> tuple[str, ...]:
    return LAYERS[layer] if layer < len(LAYERS) else ("experiments",)


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """``"a -> b"`` for every import of a higher layer by a lower one."""
    out = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            ls, ld = _layer(src), _layer(dst)
            if ls is not None and ld is not None and ld > ls:
                out.append(f"{src} ({_layer_name(ls)}) -> {dst} ({_layer_name(ld)})")
    return out


def experiment_violations(
    graph: Mapping[str, Iterable[str]],
    depends: Mapping[str, tuple[str, ...]] = EXPERIMENT_DEPENDS,
) -> list[str]:
    """``"a -> b"`` for every import of one experiment package by another that is neither shared
    (:data:`SHARED_EXPERIMENTS`) nor declared in ``depends``."""
    out = []
    for src, targets in sorted(graph.items()):
        s = src.split(".")
        if s[0] != "experiments" or len(s) < 2:
            continue
        for dst in sorted(targets):
            d = dst.split(".")
            if d[0] != "experiments" or len(d) < 2 or d[1] == s[1]:
                continue
            if d[1] not in SHARED_EXPERIMENTS and d[1] not in depends.get(s[1], ()):
                out.append(f"{src} -> {dst}")
    return out


# ----------------------------------------------------------------------------- the real package
GRAPH = import_graph()


def test_every_subpackage_has_a_layer():
    top = {m.split(".")[1] for m in GRAPH if m.count(".") >= 1 and m.startswith("jaxrl.")}
    assert top <= set(LAYER_OF), f"declare a layer for {sorted(top - set(LAYER_OF))}"


def test_no_import_cycle():
    assert find_cycles(GRAPH) == []


def test_layers_point_one_way():
    assert layer_violations(GRAPH) == []


def test_experiments_are_in_the_graph_and_independent():
    assert "experiments.orpo_tomato.config" in GRAPH
    assert "jaxrl.agents.ppo" in GRAPH["experiments.orpo_tomato.base"]
    assert experiment_violations(GRAPH) == []


# ----------------------------------------------------------------------------- the test has teeth
def _write(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_lazy_cycle_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "jaxrl/__init__.py": "",
            "jaxrl/mdp/__init__.py": "",
            "jaxrl/mdp/a.py": "from jaxrl.mdp import b\n",
            "jaxrl/mdp/b.py": "def f():\n    from jaxrl.mdp.a import g\n",
            "jaxrl/mdp/c.py": "import jaxrl.mdp.a\n",
        },
    )
    graph = import_graph(root=tmp_path)
    assert graph["jaxrl.mdp.c"] == {"jaxrl.mdp.a"}
    assert find_cycles(graph) == [["jaxrl.mdp.a", "jaxrl.mdp.b"]]


def test_a_lower_layer_importing_a_higher_one_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "jaxrl/__init__.py": "",
            "jaxrl/agents/__init__.py": "",
            "jaxrl/agents/ppo.py": "from jaxrl.config import Config\n",
            "jaxrl/config.py": "",
            "jaxrl/mdp/__init__.py": "",
            "jaxrl/mdp/solvers.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from jaxrl.agents.ppo import make_train\n",
        },
    )
    graph = import_graph(root=tmp_path)
    assert find_cycles(graph) == []
    assert layer_violations(graph) == [
        "jaxrl.mdp.solvers (('mdp',)) -> jaxrl.agents.ppo (('agents',))"
    ]


@pytest.mark.parametrize("bad", ["from jaxrl.experiment import results\n"])
def test_the_real_graph_fails_with_an_added_upward_import(tmp_path, bad):
    """Copy the package, add one upward import to the bottom layer: the checks must fail."""
    import shutil

    shutil.copytree(ROOT / "jaxrl", tmp_path / "jaxrl")
    (tmp_path / "jaxrl" / "config.py").write_text(
        (ROOT / "jaxrl" / "config.py").read_text() + "\n" + bad
    )
    graph = import_graph(root=tmp_path)
    assert any(v.startswith("jaxrl.config ") for v in layer_violations(graph))
    assert any("jaxrl.config" in c for c in find_cycles(graph))  # results imports config


def test_a_type_checking_cycle_between_experiment_modules_is_found(tmp_path):
    """The old ``_orpo_base`` <-> ``orpo_tomato`` shape: a config annotation imported under
    ``TYPE_CHECKING`` from the module that imports the helper."""
    _write(
        tmp_path,
        {
            "jaxrl/__init__.py": "",
            "jaxrl/experiment/__init__.py": "",
            "experiments/__init__.py": "",
            "experiments/exp/__init__.py": "from experiments.exp.run import main\n",
            "experiments/exp/base.py": "from typing import TYPE_CHECKING\n"
            "import jaxrl.experiment\n"
            "if TYPE_CHECKING:\n    from experiments.exp.run import Config\n",
            "experiments/exp/run.py": "from experiments.exp.base import get_base\n",
        },
    )
    graph = import_graph(root=tmp_path)
    assert graph["experiments.exp.base"] == {"experiments.exp.run", "jaxrl.experiment"}
    assert find_cycles(graph) == [["experiments.exp.base", "experiments.exp.run"]]
    assert layer_violations(graph) == []


def test_experiment_cross_imports_and_upward_imports_are_found(tmp_path):
    _write(
        tmp_path,
        {
            "jaxrl/__init__.py": "",
            "jaxrl/experiment/__init__.py": "from experiments.a import main\n",
            "experiments/__init__.py": "",
            "experiments/common/__init__.py": "",
            "experiments/a/__init__.py": "from experiments.common import x\n",
            "experiments/b/__init__.py": "from experiments.a import main\n",
        },
    )
    graph = import_graph(root=tmp_path)
    assert experiment_violations(graph) == ["experiments.b -> experiments.a"]
    assert experiment_violations(graph, depends={"b": ("a",)}) == []
    assert layer_violations(graph) == [
        "jaxrl.experiment (('experiment',)) -> experiments.a (('experiments',))"
    ]
