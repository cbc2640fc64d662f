"""The package's shape, as the style guide states it: short functions, no import cycles,
node names in one module, and the package never importing the benchmark (`llmcompiler_bench`)."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "llmcompiler_graph"
BENCH = PACKAGE.parent / "benchmarks" / "llmcompiler_bench"  # its own distribution, same rules
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *BENCH.rglob("*.py")]):
        root = BENCH.parent if BENCH in path.parents else PACKAGE.parent
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The package modules `name` imports, at module level or inside functions."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package `level - 1` steps up
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            found.update(submodules or ({base} & known))
    return found - {name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, set(known)) for name, path in known.items()}


def test_no_function_is_longer_than_80_lines() -> None:
    long = []
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)"
                    )
    assert long == []


def test_no_import_cycles_between_modules() -> None:
    graph = {name: {m for m in deps if m != "llmcompiler_graph"} for name, deps in import_graph().items()}
    assert cycles(graph) == []


def test_the_package_never_imports_bench() -> None:
    """The benchmark (`llmcompiler_bench`, its own distribution in benchmarks/) is never imported."""
    reverse = sorted(
        (name, imported)
        for name, path in modules().items()
        if name.split(".")[0] == "llmcompiler_graph"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for imported in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
        if imported.split(".")[0] == "llmcompiler_bench"
    )
    assert reverse == []


def test_node_names_are_defined_only_in_nodes_py() -> None:
    defined = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(t.endswith(("_NODE", "_TASK")) for t in targets) and name != "llmcompiler_graph.nodes":
                    defined.append(f"{name}: {targets}")
    assert defined == []


def test_the_checks_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    tree = ast.parse("def f():\n" + "    x = 1\n" * 90)
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    assert (function.end_lineno or 0) - function.lineno + 1 > MAX_FUNCTION_LINES


@pytest.mark.parametrize("module", ["llmcompiler_graph.graph.factory", "llmcompiler_graph.graph.planner"])
def test_the_import_graph_sees_real_imports(module: str) -> None:
    assert "llmcompiler_graph.execution.runner" in import_graph()[module]
