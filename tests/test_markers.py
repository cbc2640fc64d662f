"""The split by cost stays honest: `pytest -m "not integration"` is the fast inner loop, so a
test that starts a real service or process (PostgreSQL, Redis, a server, a subprocess, a
Jupyter kernel, the embedded local model) carries the `integration` marker, on itself or on
its whole file (`pytestmark`). What starts something is matched by name, not by module path
(the throwaway services move between modules): a test is caught when it, a fixture it takes
or a helper it calls, directly or in turn, names one of them."""

from __future__ import annotations

import ast
import pathlib
import tomllib

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
# Modules whose every name, once imported into a test file, starts (or is for) a process.
STARTING_MODULES = {
    "subprocess",
    "multiprocessing",
    "nbclient",
    "uvicorn",
    "tests.pg_cluster",
    "tests.processes",
}
# Names that start something wherever they are defined.
STARTING_NAMES = {
    "ThrowawayPostgres",
    "ThrowawayRedis",
    "load_local_model",
    "Popen",
    "create_subprocess_exec",
    "create_subprocess_shell",
    "HTTPServer",
    "ThreadingHTTPServer",
}
# Markers that mean the test is also `integration`.
IMPLY_INTEGRATION = {"slow", "campaign"}


def checked_files() -> list[pathlib.Path]:
    return sorted(TESTS.glob("test_*.py"))


def marker_names(expressions: list[ast.expr]) -> set[str]:
    """`pytest.mark.NAME` or `pytest.mark.NAME(...)` in a decorator list or a pytestmark value."""
    names: set[str] = set()
    for expression in expressions:
        for node in ast.walk(expression):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "mark"
            ):
                names.add(node.attr)
    return names


def module_markers(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            return marker_names([node.value])
    return set()


def starting_module(module: str) -> bool:
    return module in STARTING_MODULES or module.split(".")[0] in STARTING_MODULES


def imported_starters(tree: ast.Module) -> set[str]:
    """The names a file binds by importing a starting module or importing from one."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(
                alias.asname or alias.name.split(".")[0]
                for alias in node.names
                if starting_module(alias.name)
            )
        elif isinstance(node, ast.ImportFrom) and node.module and starting_module(node.module):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def referenced(node: ast.AST) -> set[str]:
    """The names and attribute names a definition uses, and the parameters it takes."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.arg):
            found.add(child.arg)
    return found


def definitions(tree: ast.Module) -> dict[str, ast.AST]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def starters(tree: ast.Module) -> set[str]:
    """Names that start something: the known ones, and the module's definitions using them."""
    found = STARTING_NAMES | imported_starters(tree)
    defined = {
        name: referenced(node) for name, node in definitions(tree).items() if not name.startswith("test_")
    }
    while True:
        more = {name for name, uses in defined.items() if name not in found and uses & found}
        if not more:
            return found
        found |= more


def functions_of(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    functions = []
    for node in tree.body:
        members = node.body if isinstance(node, ast.ClassDef) and node.name.startswith("Test") else [node]
        functions += [
            member
            for member in members
            if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and member.name.startswith("test_")
        ]
    return functions


def unmarked_starting_tests(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text())
    if "integration" in module_markers(tree):
        return []
    names = starters(tree)
    return [
        test.name
        for test in functions_of(tree)
        if referenced(test) & names and "integration" not in marker_names(test.decorator_list)
    ]


@pytest.mark.parametrize("path", checked_files(), ids=[path.name for path in checked_files()])
def test_a_test_that_starts_a_service_or_process_is_marked_integration(path: pathlib.Path) -> None:
    assert unmarked_starting_tests(path) == []


@pytest.mark.parametrize("path", checked_files(), ids=[path.name for path in checked_files()])
def test_slow_and_campaign_tests_are_also_integration(path: pathlib.Path) -> None:
    tree = ast.parse(path.read_text())
    module = module_markers(tree)
    wrong = [
        test.name
        for test in functions_of(tree)
        if (module | marker_names(test.decorator_list)) & IMPLY_INTEGRATION
        and "integration" not in module | marker_names(test.decorator_list)
    ]
    assert wrong == []


def test_the_check_catches_a_test_using_a_fixture_that_starts_a_process(tmp_path: pathlib.Path) -> None:
    source = (
        "import subprocess\nimport pytest\n\n"
        "def helper():\n    return subprocess.run(['true'])\n\n"
        "@pytest.fixture\ndef started():\n    return helper()\n\n"
        "def test_fast():\n    assert 1\n\n"
        "def test_uses_it(started):\n    assert started\n\n"
        "@pytest.mark.integration\ndef test_marked(started):\n    assert started\n\n"
        "def test_local():\n    load_local_model()\n"
    )
    path = tmp_path / "test_sample.py"
    path.write_text(source)
    assert unmarked_starting_tests(path) == ["test_uses_it", "test_local"]
    path.write_text("import pytest\npytestmark = [pytest.mark.integration]\n" + source)
    assert unmarked_starting_tests(path) == []


def test_the_markers_are_registered_and_strict() -> None:
    options = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in options["addopts"].split()
    registered = {line.split(":")[0] for line in options["markers"]}
    assert {"integration", "campaign", "slow"} <= registered
