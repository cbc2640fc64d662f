"""The package's import graph: no cycles, and the benchmark is never imported by the package."""

from __future__ import annotations

import ast
from pathlib import Path

import llmcompiler_graph

PACKAGE = Path(llmcompiler_graph.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere, inside functions too."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the package, `level - 1` packages up
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:  # `from package import submodule` imports the submodule
                submodule = f"{module}.{alias.name}"
                found.add(submodule if submodule in modules else module)
    return {imported for imported in found if imported in modules and imported != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_package_has_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycle = [*path[path.index(imported) :], imported]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_nothing_outside_the_benchmark_imports_it() -> None:
    importers = {
        module: sorted(imported for imported in imports if imported.startswith("llmcompiler_graph.bench"))
        for module, imports in _graph().items()
        if not module.startswith("llmcompiler_graph.bench")
    }
    assert {module: found for module, found in importers.items() if found} == {}


def test_the_cli_finds_bench_and_report_as_plugins() -> None:
    from llmcompiler_graph.cli import _parser, _subcommands

    subcommands = _subcommands()
    assert {"bench", "report"} <= set(subcommands)
    assert "bench" in _parser(subcommands).format_help()
