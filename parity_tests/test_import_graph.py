"""The shape of the package, read from its source (AST only: nothing is imported or executed).

The rules, each a test below and each shown to fail on a planted violation:

1. **The library imports NumPy, the standard library and itself.** Every ``numpy_nn`` module outside
   ``numpy_nn/app/`` imports only ``numpy``, ``sys.stdlib_module_names`` and ``numpy_nn`` -- at module
   level or inside a function alike; CuPy only in ``numpy_nn/backend.py`` (the ``xp`` switch).
2. **The library never imports tf_nn**, and never the application (``numpy_nn.app``), except
   ``numpy_nn/__main__.py``, the ``python -m numpy_nn`` entry point.
3. **The application imports its optional dependencies lazily.** A module of ``numpy_nn/app/``
   imports at module level what the library may; tf_nn, matplotlib, threadpoolctl and the like only
   inside the function that needs them, so ``import numpy_nn.app.cli`` needs NumPy alone.
4. **No import cycle** among numpy_nn modules, counting imports inside functions too (a cycle that
   only a lazy import closes is still two modules that cannot be understood apart).
5. **No numpy_nn file over 400 lines.**
6. **Nothing in numpy_nn imports the test suite or the benchmarks** (``parity_tests``, ``benchmarks``),
   not even the application lazily: they are run from the checkout, never installed, and the CLI
   no longer delegates to them.

:func:`import_graph` builds the graph from any directory holding a ``numpy_nn`` package, so the
tests below run every check on a copy of this tree with one violation planted in it, and see it red.
"""
from __future__ import annotations

import ast
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "numpy_nn"
APP = "numpy_nn.app"
#: The one library module allowed to import CuPy.
CUPY_MODULE = "numpy_nn.backend"
#: The one library module allowed to import the application.
ENTRY_POINT = "numpy_nn.__main__"
MAX_LINES = 400
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    """One import statement: ``importer`` imports ``target`` (absolute, dotted) at ``line``."""

    importer: str
    target: str
    line: int
    lazy: bool          # inside a function (executed only when it runs)

    @property
    def top(self):
        return self.target.split(".")[0]

    def __str__(self):
        where = "inside a function" if self.lazy else "at module level"
        return f"{self.importer} (line {self.line}) imports {self.target} {where}"


@dataclass
class Graph:
    modules: dict       # dotted name -> Path
    imports: list       # every Import
    lines: dict         # dotted name -> number of lines


def _module_name(package_dir, path):
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree, name, is_package, modules):
    """Every import in ``tree`` (the module ``name``), relative ones resolved, with whether it is lazy."""
    found = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend(Import(name, alias.name, child.lineno, lazy) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    package = name if is_package else name.rpartition(".")[0]
                    base = package.split(".")
                    base = ".".join(base[:len(base) - (child.level - 1)])
                    base = f"{base}.{child.module}" if child.module else base
                else:
                    base = child.module
                for alias in child.names:
                    # ``from pkg import sub`` imports the submodule when there is one, else a name of pkg
                    sub = f"{base}.{alias.name}"
                    found.append(Import(name, sub if sub in modules else base, child.lineno, lazy))
            visit(child, inner)

    visit(tree, False)
    return found


def import_graph(root=ROOT):
    """The import graph of the ``numpy_nn`` package under ``root`` (a folder that holds ``numpy_nn/``)."""
    package_dir = Path(root) / PACKAGE
    paths = sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts)
    modules = {_module_name(package_dir, p): p for p in paths}
    imports, lines = [], {}
    for name, path in modules.items():
        text = path.read_text(encoding="utf-8")
        lines[name] = len(text.splitlines())
        imports += _imports(ast.parse(text, filename=str(path)), name, path.name == "__init__.py", modules)
    return Graph(modules, imports, lines)


def in_app(module):
    return module == APP or module.startswith(APP + ".")


def _library_may_import(imp):
    """Rule 1: NumPy, the standard library, numpy_nn itself; CuPy in backend.py."""
    return (imp.top in ("numpy", PACKAGE) or imp.top in sys.stdlib_module_names
            or (imp.top == "cupy" and imp.importer == CUPY_MODULE))


# ----------------------------------------------------------------------------------------------
# The checks: each returns the violations, one line each
# ----------------------------------------------------------------------------------------------

def foreign_imports(graph):
    """Rule 1, for every module outside numpy_nn/app/."""
    return [f"{imp}: the library imports only NumPy, the standard library and numpy_nn"
            + (" (CuPy only in numpy_nn/backend.py)" if imp.top == "cupy" else "")
            for imp in graph.imports if not in_app(imp.importer) and not _library_may_import(imp)
            and imp.top != "tf_nn"]


def tf_nn_imports(graph):
    """Rule 2: tf_nn, or the application, imported by the library."""
    bad = []
    for imp in graph.imports:
        if in_app(imp.importer):
            continue
        if imp.top == "tf_nn":
            bad.append(f"{imp}: only numpy_nn/app/ may import tf_nn")
        elif in_app(imp.target) and imp.importer != ENTRY_POINT:
            bad.append(f"{imp}: the library does not import the application (only {ENTRY_POINT} does)")
    return bad


def eager_app_imports(graph):
    """Rule 3: a module of numpy_nn/app/ importing an optional dependency at module level."""
    return [f"{imp}: import it inside the function that needs it"
            for imp in graph.imports if in_app(imp.importer) and not imp.lazy and not _library_may_import(imp)]


def import_cycles(graph):
    """Rule 4: every strongly connected component of more than one module (or a module importing
    itself), as ``a -> b -> a`` with the lines of the imports that close it."""
    edges = {}
    for imp in graph.imports:
        if imp.target in graph.modules:
            edges.setdefault(imp.importer, {}).setdefault(imp.target, imp)
    index, low, stack, on_stack, components, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v):  # Tarjan's algorithm
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                strongconnect(w)
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
            components.append(sorted(component))

    for v in sorted(graph.modules):
        if v not in index:
            strongconnect(v)
    cycles = []
    for component in components:
        if len(component) == 1 and component[0] not in edges.get(component[0], {}):
            continue
        members = set(component)
        links = [str(imp) for v in component for w, imp in sorted(edges.get(v, {}).items()) if w in members]
        cycles.append(f"import cycle among {', '.join(component)}: " + "; ".join(links))
    return cycles


def long_files(graph):
    """Rule 5."""
    return [f"{graph.modules[name].relative_to(graph.modules[PACKAGE].parent.parent)}: {n} lines (at most {MAX_LINES})"
            for name, n in sorted(graph.lines.items()) if n > MAX_LINES]


def dev_tool_imports(graph):
    """Rule 6: parity_tests or benchmarks imported anywhere in numpy_nn (the app included, lazily too)."""
    return [f"{imp}: numpy_nn never imports the tests or the benchmarks (run them from the checkout)"
            for imp in graph.imports if imp.top in DEV_TOOLS]


DEV_TOOLS = ("parity_tests", "benchmarks")

CHECKS = {"foreign": foreign_imports, "tf_nn": tf_nn_imports, "eager": eager_app_imports,
          "cycles": import_cycles, "size": long_files, "dev_tools": dev_tool_imports}


# ----------------------------------------------------------------------------------------------
# This tree
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_graph_sees_the_whole_package(graph):
    """The control for the tests below: the parser finds the modules and their imports, relative,
    absolute and inside functions."""
    assert {"numpy_nn", "numpy_nn.functional", "numpy_nn.app.cli", "numpy_nn.datasets.idx"} <= set(graph.modules)
    targets = {(imp.importer, imp.target) for imp in graph.imports}
    assert ("numpy_nn.__main__", "numpy_nn.app.cli") in targets
    assert ("numpy_nn.app.driver", "numpy_nn.loop") in targets
    assert any(imp.importer == "numpy_nn.app.driver" and imp.top == "tf_nn" and imp.lazy for imp in graph.imports)


def test_the_library_imports_only_numpy_the_standard_library_and_itself(graph):
    assert foreign_imports(graph) == []


def test_the_library_never_imports_tf_nn_or_the_application(graph):
    assert tf_nn_imports(graph) == []


def test_the_application_imports_tf_nn_and_matplotlib_only_inside_functions(graph):
    assert eager_app_imports(graph) == []


def test_numpy_nn_has_no_import_cycle(graph):
    cycles = import_cycles(graph)
    assert cycles == [], "\n".join(cycles)


def test_numpy_nn_never_imports_the_tests_or_the_benchmarks(graph):
    assert dev_tool_imports(graph) == []


def test_no_numpy_nn_file_is_over_400_lines(graph):
    assert long_files(graph) == []


# ----------------------------------------------------------------------------------------------
# Each check fails on a planted violation
# ----------------------------------------------------------------------------------------------

def _copy_tree(tmp_path):
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    return tmp_path


def _new_violations(tmp_path, plant):
    """``{check: violations}`` that planting ``{relative path: source}`` into a copy of this tree adds."""
    root = _copy_tree(tmp_path)
    before = {name: set(check(import_graph(root))) for name, check in CHECKS.items()}
    for rel, source in plant.items():
        (root / PACKAGE / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / PACKAGE / rel).write_text(source)
    after = {name: set(check(import_graph(root))) for name, check in CHECKS.items()}
    return {name: sorted(after[name] - before[name]) for name in CHECKS if after[name] - before[name]}


LAZY = "def f():\n    {}\n"

PLANTED = {
    "scipy in the library": ({"planted.py": "import scipy.linalg\n"},
                             {"foreign": "numpy_nn.planted (line 1) imports scipy.linalg at module level"}),
    "matplotlib inside a library function": ({"planted.py": LAZY.format("import matplotlib.pyplot as plt")},
                                             {"foreign": "imports matplotlib.pyplot inside a function"}),
    "cupy outside backend.py": ({"planted.py": "import cupy\n"}, {"foreign": "CuPy only in numpy_nn/backend.py"}),
    "tf_nn in the library": ({"planted.py": LAZY.format("from tf_nn.training import KerasTrainer")},
                             {"tf_nn": "imports tf_nn.training inside a function: only numpy_nn/app/ may"}),
    "the app from the library": ({"planted.py": "from .app import cli\n"},
                                 {"tf_nn": "imports numpy_nn.app.cli at module level: the library does not"}),
    "tf_nn at module level in the app": ({"app/planted.py": "import tf_nn.training\n"},
                                         {"eager": "numpy_nn.app.planted (line 1) imports tf_nn.training at module"}),
    "matplotlib at module level in the app": ({"app/planted.py": "from matplotlib.figure import Figure\n"},
                                              {"eager": "imports matplotlib.figure at module level"}),
    "a cycle closed inside a function": ({"planted_a.py": "from . import planted_b\n",
                                          "planted_b.py": LAZY.format("from .planted_a import x")},
                                         {"cycles": "import cycle among numpy_nn.planted_a, numpy_nn.planted_b"}),
    "a module importing itself": ({"planted.py": "from numpy_nn import planted\n"},
                                  {"cycles": "import cycle among numpy_nn.planted:"}),
    "a 401-line file": ({"planted.py": "x = 1\n" * 401}, {"size": "planted.py: 401 lines"}),
    "the report delegated to from an app function": ({"app/planted.py": LAZY.format("from parity_tests import report")},
                                                     {"dev_tools": "numpy_nn never imports the tests or the benchmarks"}),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_a_planted_violation_is_caught_by_its_check_alone(case, tmp_path):
    plant, expected = PLANTED[case]
    new = _new_violations(tmp_path, plant)
    assert set(new) == set(expected), new
    for check, fragment in expected.items():
        assert len(new[check]) == 1 and fragment in new[check][0], new[check]


@pytest.mark.parametrize("case, plant", [
    ("tf_nn and matplotlib inside an app function", {"app/planted.py": LAZY.format("import tf_nn.training")
                                                     + LAZY.format("import matplotlib").replace("f()", "g()")}),
    ("cupy inside backend.py", {"backend.py": (ROOT / PACKAGE / "backend.py").read_text()
                                + LAZY.format("import cupy")}),
    ("the app from __main__.py", {"__main__.py": "from .app.cli import main\n"}),
    ("numpy and the standard library", {"planted.py": "import os\nimport numpy as np\nfrom . import backend\n"}),
    ("a 400-line file", {"planted.py": "x = 1\n" * 400}),
])
def test_what_the_rules_allow_is_not_flagged(case, plant, tmp_path):
    """The controls: the allowed cases, planted the same way, add no violation."""
    assert _new_violations(tmp_path, plant) == {}
