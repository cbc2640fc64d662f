"""The house by owner: a few modules at the root, wings that import only downward.

Each wing of `llmcompiler_graph` owns one thing (plan/, execution/, durability/, graph/, sot/,
local/, tools/); the root holds the shared vocabulary (state, events, node names, options,
which chat model) and the front doors (CLI, demo, Studio, visualisation, testing). An import
that runs against the table below is a wing reaching into a house it should not know.
"""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "llmcompiler_graph"

VOCABULARY = {"state", "nodes", "events"}
# What each part may import from the package (besides itself and the vocabulary).
ALLOWED: dict[str, set[str]] = {
    "state": set(),
    "nodes": set(),
    "events": set(),
    "plan": set(),
    "local": set(),
    "durability": set(),
    "tools": {"plan"},
    "execution": {"plan", "durability"},
    "options": {"plan", "execution", "durability"},
    "graph": {"plan", "execution", "durability", "options"},
    "sot": {"plan", "graph"},
    "chat_models": {"local"},
    "testing": set(),
    "visualize": set(),
    "demo": {"graph", "testing"},
    "cli": {"graph", "plan", "chat_models", "tools"},
    "studio": {"graph", "sot", "chat_models", "tools"},
    "__init__": {"plan", "graph", "durability", "sot", "options", "chat_models", "visualize"},
}


def _part(path: pathlib.Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_parts(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "llmcompiler_graph" and len(parts) > 1:
                candidate = parts[1]
                if (PACKAGE / candidate).is_dir() or (PACKAGE / f"{candidate}.py").is_file():
                    found.add(candidate)
    return found


def test_at_most_twelve_modules_live_at_the_package_root() -> None:
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 12, root_modules


def test_every_part_of_the_house_is_in_the_table() -> None:
    parts = {_part(p) for p in PACKAGE.rglob("*.py")}
    assert parts - set(ALLOWED) == set()


def test_wings_import_only_what_the_table_allows() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(path)
        extra = _imported_parts(path) - ALLOWED[part] - VOCABULARY - {part}
        wrong.extend(f"{path.relative_to(PACKAGE)} imports {other}" for other in sorted(extra))
    assert wrong == []


@pytest.mark.integration
def test_importing_the_package_loads_neither_the_local_model_nor_the_benchmark() -> None:
    probe = (
        "import sys, llmcompiler_graph; "
        "print(sorted({m.split('.')[0] + '.' + m.split('.')[1] if m.count('.') else m for m in sys.modules "
        "if m.startswith(('llmcompiler_graph.local', 'llmcompiler_bench', 'llama_cpp'))}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_module_map_in_the_docs_is_the_import_graph() -> None:
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        part = _part(path)
        edges.update((part, other) for other in _imported_parts(path) - VOCABULARY - {part})
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    drawn = set(re.findall(r"^    (\w+) --> (\w+);$", page, re.MULTILINE))
    expected = "\n".join(f"    {a} --> {b};" for a, b in sorted(edges))
    assert drawn == edges, f"redraw the map in docs/architecture.md:\n{expected}"
