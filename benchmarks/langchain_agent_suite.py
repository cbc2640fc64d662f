"""LangChain's own agent tests, run against LangChain's factory and against this package's.

The `langchain` sdist of the installed version ships LangChain's unit tests. This script fetches
it (cached under ~/.cache/llmcompiler-graph/), extracts `tests/unit_tests/agents/` (middleware
included) with the package files above it, and runs pytest on it in a subprocess, once per
factory. For `--factory llmcompiler` the only change made to the tests is the import of
`create_agent`: every `from langchain.agents import create_agent` and
`from langchain.agents.factory import create_agent` (alone, among other names, aliased or in
parentheses) becomes `from llmcompiler_graph import create_agent`.

A test "builds an agent" when `create_agent` was called while it ran (its body, a fixture it
takes or a helper it calls) under LangChain's factory: a small plugin loaded with the run
wraps the factory the tests import, counts the calls per test and records each outcome.

Run:

    python3 benchmarks/langchain_agent_suite.py                      # both factories
    python3 benchmarks/langchain_agent_suite.py --factory llmcompiler
    python3 benchmarks/langchain_agent_suite.py --report suite.md --json suite.json --keep /tmp/suite

Needs pytest, pytest-asyncio, pytest-mock, syrupy and blockbuster (the `test` extra); no
network beyond fetching the sdist once. Exit status: 0 when every requested run finished
(whatever its tests did), 2 when a plugin the tests need is missing, 3 when the sdist could
not be fetched, 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

FACTORIES = ("langchain", "llmcompiler")
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmcompiler-graph"
SUITE = "tests/unit_tests/agents"
FACTORY_MODULES = {"langchain.agents", "langchain.agents.factory"}
NEW_IMPORT = "from llmcompiler_graph import create_agent"
NEEDED = ("pytest_asyncio", "pytest_mock", "syrupy", "blockbuster")  # what LangChain's tests import
PER_TEST_TIMEOUT = 60  # seconds, with pytest-timeout: one hung test must not stop the run
RUN_TIMEOUT = 1800  # seconds, for one factory's whole pytest run

# pytest's configuration for the extracted tree: LangChain's own [tool.pytest.ini_options]
# (its markers, asyncio mode and warning filters) less the options of plugins it does not need
# here (--durations, -vv), plus the `vcr` marker of pytest-recording.
PYTEST_INI = """\
[pytest]
addopts = --strict-markers --strict-config --snapshot-warn-unused
markers =
    requires: mark tests as requiring a specific library
    scheduled: mark tests to run in scheduled testing
    compile: mark placeholder test used to compile integration tests without running them
    benchmark: mark benchmark tests
    vcr: replays recorded HTTP cassettes (pytest-recording)
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    ignore::langchain_core._api.beta_decorator.LangChainBetaWarning
    ignore::langchain_core._api.deprecation.LangChainDeprecationWarning:tests
    ignore::langchain_core._api.deprecation.LangChainPendingDeprecationWarning:tests
"""

# Stands in for LangChain's tests/unit_tests/conftest.py, which also configures VCR cassettes
# for its integration-style tests and so imports langchain_tests and vcr. Kept: the autouse
# blockbuster fixture (a blocking call inside the event loop fails the test) and the
# `requires` marker. The VCR-marked tests (they replay recorded OpenAI traffic) are skipped.
CONFTEST = '''\
"""Stand-in for LangChain's tests/unit_tests/conftest.py (written by langchain_agent_suite.py)."""

from collections.abc import Iterator, Sequence
from importlib import util

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    with blockbuster_ctx() as bb:
        yield bb


def pytest_collection_modifyitems(config: pytest.Config, items: Sequence[pytest.Function]) -> None:
    installed: dict[str, bool] = {}
    for item in items:
        if item.get_closest_marker("vcr") is not None:
            item.add_marker(pytest.mark.skip(reason="replays a VCR cassette (not run by this harness)"))
            continue
        marker = item.get_closest_marker("requires")
        if marker is None:
            continue
        for pkg in marker.args:
            if pkg not in installed:
                try:
                    installed[pkg] = util.find_spec(pkg) is not None
                except Exception:
                    installed[pkg] = False
            if not installed[pkg]:
                item.add_marker(pytest.mark.skip(reason=f"Requires pkg: `{pkg}`"))
                break
'''

# Loaded with `-p _suite_probe`: wraps the factory the tests import (before any test module is
# imported), counts its calls per test, and writes every test's outcome to $SUITE_RESULTS.
PROBE = '''\
"""Records outcomes and create_agent calls per test (written by langchain_agent_suite.py)."""

import functools
import json
import os

import pytest

_current = None
_calls = {}
_results = {}
_collect_errors = {}
_collected = []


def _wrap(fn):
    @functools.wraps(fn)
    def create_agent(*args, **kwargs):
        if _current is not None:
            _calls[_current] = _calls.get(_current, 0) + 1
        return fn(*args, **kwargs)

    return create_agent


def pytest_configure(config):
    if os.environ["SUITE_FACTORY"] == "llmcompiler":
        import llmcompiler_graph

        llmcompiler_graph.create_agent = _wrap(llmcompiler_graph.create_agent)
    else:
        import langchain.agents
        import langchain.agents.factory

        wrapped = _wrap(langchain.agents.factory.create_agent)
        langchain.agents.factory.create_agent = wrapped
        langchain.agents.create_agent = wrapped


def _message(report):
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return str(longrepr)[-2000:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _current
    _current = item.nodeid
    yield
    _current = None


def pytest_collection_finish(session):
    _collected.extend(item.nodeid for item in session.items)


def pytest_collectreport(report):
    if report.failed:
        _collect_errors[report.nodeid] = _message(report)


def pytest_runtest_logreport(report):
    result = _results.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    xfail = hasattr(report, "wasxfail")
    if report.when == "setup":
        if report.failed:
            result.update(outcome="error", message="in setup: " + _message(report))
        elif report.skipped:
            result.update(outcome="xfailed" if xfail else "skipped", message=_message(report))
    elif report.when == "call":
        if xfail:
            result["outcome"] = "xfailed" if report.skipped else "xpassed"
        elif report.failed:
            result.update(outcome="failed", message=_message(report))
        elif report.skipped:
            result.update(outcome="skipped", message=_message(report))
    elif report.failed and result["outcome"] in ("passed", "xpassed"):
        result.update(outcome="error", message="in teardown: " + _message(report))


def pytest_sessionfinish(session, exitstatus):
    for nodeid, result in _results.items():
        result["create_agent_calls"] = _calls.get(nodeid, 0)
    with open(os.environ["SUITE_RESULTS"], "w", encoding="utf-8") as out:
        json.dump(
            {
                "collected": _collected,
                "collect_errors": _collect_errors,
                "tests": _results,
                "exitstatus": int(exitstatus),
            },
            out,
            indent=1,
        )
'''


class SdistUnavailableError(RuntimeError):
    """The langchain sdist could not be fetched (no registry, or no such version)."""


def installed_version(distribution: str = "langchain") -> str:
    """The installed version of a distribution."""
    return importlib.metadata.version(distribution)


def fetch_sdist(version: str, cache_dir: Path = CACHE_DIR) -> Path:
    """The langchain sdist of `version`, from the cache or fetched there by pip download."""
    target = cache_dir / f"langchain-{version}.tar.gz"
    if target.is_file() and tarfile.is_tarfile(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lc-sdist-") as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--retries",
            "2",
            "--timeout",
            "30",
            "-d",
            scratch,
            f"langchain=={version}",
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SdistUnavailableError(f"pip download timed out: {exc}") from exc
        found = sorted(Path(scratch).glob("langchain-*.tar.gz"))
        if done.returncode != 0 or not found:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SdistUnavailableError(f"pip download langchain=={version} failed: {' | '.join(tail)}")
        shutil.move(str(found[0]), target)
    return target


def helper_modules(tree: Path) -> set[str]:
    """The `tests.*` modules that the extracted tests import from outside the suite itself."""
    needed: set[str] = set()
    for path in (tree / SUITE).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            needed.update(
                name
                for name in names
                if name.startswith("tests.") and not name.startswith("tests.unit_tests.agents")
            )
    return needed


def extract_suite(sdist: Path, dest: Path) -> Path:
    """Extract the agent tests and the packages above them into `dest`; return `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as archive:
        by_path: dict[str, tarfile.TarInfo] = {}
        for member in archive.getmembers():  # langchain-X.Y.Z/tests/... -> tests/...
            member.name = member.name.partition("/")[2]
            by_path[member.name] = member
        wanted = {"tests/__init__.py", "tests/unit_tests/__init__.py"}
        keep = [member for path, member in by_path.items() if path.startswith(SUITE + "/") or path in wanted]
        archive.extractall(dest, members=keep, filter="data")
        # Modules elsewhere under tests/ that the suite imports (none in langchain 1.5.2)
        for module in sorted(helper_modules(dest)):
            base = module.replace(".", "/")
            found = [by_path[path] for path in (base + ".py", base + "/__init__.py") if path in by_path]
            archive.extractall(dest, members=found, filter="data")
    (dest / "tests/unit_tests/conftest.py").write_text(CONFTEST, encoding="utf-8")
    (dest / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    (dest / "_suite_probe.py").write_text(PROBE, encoding="utf-8")
    return dest


def rewrite_source(source: str) -> tuple[str, int]:
    """Point every import of LangChain's `create_agent` at llmcompiler_graph's; count them."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module in FACTORY_MODULES and node.level == 0):
            continue
        ours = [alias for alias in node.names if alias.name == "create_agent"]
        if not ours:
            continue
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
        statements: list[str] = []
        rest = [alias for alias in node.names if alias.name != "create_agent"]
        if rest:
            names = ", ".join(alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in rest)
            statements.append(f"{indent}from {node.module} import {names}\n")
        for alias in ours:
            statements.append(
                f"{indent}{NEW_IMPORT}" + (f" as {alias.asname}" if alias.asname else "") + "\n"
            )
        end = node.end_lineno or node.lineno
        after = lines[end - 1][node.end_col_offset or 0 :].strip()
        if after.startswith("#"):  # keep a trailing comment (a noqa, say)
            statements[-1] = statements[-1].rstrip("\n") + "  " + after + "\n"
        edits.append((node.lineno, end, "".join(statements)))
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1 : end] = [text]
    return "".join(lines), len(edits)


def rewrite_imports(tree: Path) -> dict[str, int]:
    """Rewrite the `create_agent` imports of every test file under `tree`; per file, how many."""
    counts: dict[str, int] = {}
    for path in sorted((tree / SUITE).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        new, count = rewrite_source(source)
        if count:
            path.write_text(new, encoding="utf-8")
            counts[path.relative_to(tree).as_posix()] = count
    return counts


def importing_files(tree: Path) -> set[str]:
    """The suite's files that import LangChain's `create_agent` (before any rewrite)."""
    return {
        path.relative_to(tree).as_posix()
        for path in (tree / SUITE).rglob("*.py")
        if rewrite_source(path.read_text(encoding="utf-8"))[1]
    }


def run_pytest(tree: Path, factory: str, log: Path) -> dict[str, Any]:
    """Run pytest on the extracted tree for one factory; the probe's results, timed."""
    results = tree / "suite-results.json"
    results.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_", "ANTHROPIC_"))}
    env.update(
        SUITE_FACTORY=factory,
        SUITE_RESULTS=str(results),
        PYTHONPATH=os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])),
        LANGGRAPH_TEST_FAST="true",  # LangChain's default: checkpointers and stores in memory only
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        SUITE,
        "-p",
        "no:cacheprovider",
        "-p",
        "_suite_probe",
        "-c",
        str(tree / "pytest.ini"),
        "--rootdir",
        str(tree),
        "--continue-on-collection-errors",
        "-q",
        "-rA",
    ]
    if importlib.util.find_spec("pytest_socket") is not None:
        command += ["--disable-socket", "--allow-unix-socket"]
    if importlib.util.find_spec("pytest_timeout") is not None:
        command += [f"--timeout={PER_TEST_TIMEOUT}"]
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        try:
            done = subprocess.run(
                command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT
            )
            returncode = done.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
    seconds = time.monotonic() - started
    if not results.is_file():
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise RuntimeError(f"pytest ({factory}) wrote no results (exit {returncode}); {log} ends:\n{tail}")
    data: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    data.update(factory=factory, seconds=round(seconds, 1), returncode=returncode, log=str(log))
    return data


def tally(run: dict[str, Any]) -> dict[str, int]:
    """Counts per outcome of one run, with the tests collected and the modules that failed to."""
    counts = Counter(test["outcome"] for test in run["tests"].values())
    summary = {"collected": len(run["collected"]), "collection errors": len(run["collect_errors"])}
    for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        summary[outcome] = counts.get(outcome, 0)
    summary["called create_agent"] = sum(test["create_agent_calls"] > 0 for test in run["tests"].values())
    return summary


def file_of(nodeid: str) -> str:
    """The test file of a pytest node id."""
    return nodeid.split("::")[0]


def first_line(message: str) -> str:
    """The first non-blank line of a failure, cut at 200 characters."""
    return next((line.strip() for line in message.splitlines() if line.strip()), "(no message)")[:200]


def reason(message: str) -> str:
    """One line that groups alike failures: the first line of the crash, ids and numbers masked."""
    first = first_line(message)
    first = re.sub(r"0x[0-9a-fA-F]+", "0x…", first)
    first = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", first)
    first = re.sub(r"\d+(\.\d+)?", "N", first)
    return first[:160]


# Coarse causes of a failure, first match wins, by the first line of the crash; the Markdown
# report and docs/drop-in-suite.md say what reading the failures behind each showed.
CAUSES: list[tuple[str, str]] = [
    ("refused at build time: no tools", r"needs at least one tool"),
    ("middleware refused at build time: model-loop hooks", r"no single model loop"),
    ("response_format refused or unsupported", r"union of schemas|Unsupported function"),
    ("fake model's bind_tools rejects the structured-output schema", r"bind_tools"),
    (
        "stream projection or transformer missing",
        r"GraphRunStream|KeyError: 'tool_calls'|SubagentTransformer|ToolCallTransformer",
    ),
    ("expected exception not raised", r"DID NOT RAISE"),
    ("wrong count (tool calls, messages, model calls)", r"^(AssertionError: )?assert \d+ (==|>|<|>=|<=) \d+"),
    ("state or runtime value missing (KeyError)", r"^KeyError"),
    ("not collected", r"^(collection error|not collected)"),
    ("other assertion", r"^(AssertionError|assert |Failed: )"),
]


def cause(message: str) -> str:
    """The coarse cause of a failure (CAUSES), else its exception type."""
    first = first_line(message)
    for label, pattern in CAUSES:
        if re.search(pattern, first):
            return label
    return "other: " + (first.split(":")[0][:60] or "(no message)")


def outcome_on(run: dict[str, Any], nodeid: str) -> tuple[str, str]:
    """A test's outcome and message in a run; a test absent from it did not collect there."""
    test = run["tests"].get(nodeid)
    if test is not None:
        return test["outcome"], test["message"]
    file = file_of(nodeid)
    for errored, message in run["collect_errors"].items():
        if file == errored or file.startswith(errored.rstrip("/") + "/"):
            return "not collected", "collection error: " + message
    return "not collected", "not collected"


def compare(langchain_run: dict[str, Any], ours_run: dict[str, Any], importers: set[str]) -> dict[str, Any]:
    """Tests passing on LangChain's factory against ours: the headline figures and the differences."""
    passing = sorted(nodeid for nodeid, test in langchain_run["tests"].items() if test["outcome"] == "passed")
    builds = [nodeid for nodeid in passing if langchain_run["tests"][nodeid]["create_agent_calls"] > 0]
    in_importers = [nodeid for nodeid in passing if file_of(nodeid) in importers]

    def ok(nodeid: str) -> bool:
        return outcome_on(ours_run, nodeid)[0] == "passed"

    differ = [nodeid for nodeid in passing if not ok(nodeid)]
    per_file: dict[str, dict[str, int]] = defaultdict(lambda: Counter())
    for nodeid in passing:
        row = per_file[file_of(nodeid)]
        row["pass on langchain"] += 1
        row["pass on both"] += ok(nodeid)
        agent = langchain_run["tests"][nodeid]["create_agent_calls"] > 0
        row["builds agent"] += agent
        row["builds agent, pass on both"] += agent and ok(nodeid)
    reasons = Counter(reason(outcome_on(ours_run, nodeid)[1]) for nodeid in differ if nodeid in builds)
    causes = Counter(cause(outcome_on(ours_run, nodeid)[1]) for nodeid in differ if nodeid in builds)
    only_ours = sorted(
        nodeid
        for nodeid, test in ours_run["tests"].items()
        if test["outcome"] == "passed" and outcome_on(langchain_run, nodeid)[0] != "passed"
    )
    return {
        "pass on langchain": len(passing),
        "pass on both": len(passing) - len(differ),
        "build an agent and pass on langchain": len(builds),
        "build an agent and pass on both": sum(ok(nodeid) for nodeid in builds),
        "pass on langchain, in a file importing create_agent": len(in_importers),
        "of those, pass on both": sum(ok(nodeid) for nodeid in in_importers),
        "per file": {file: dict(row) for file, row in sorted(per_file.items())},
        "differ": {
            nodeid: {
                "outcome": outcome_on(ours_run, nodeid)[0],
                "reason": reason(outcome_on(ours_run, nodeid)[1]),
                "cause": cause(outcome_on(ours_run, nodeid)[1]),
                "first line": first_line(outcome_on(ours_run, nodeid)[1]),
                "builds agent": nodeid in builds,
            }
            for nodeid in differ
        },
        "causes (build an agent)": causes.most_common(),
        "top reasons (build an agent)": reasons.most_common(25),
        "pass only on llmcompiler": only_ours,
    }


def versions() -> dict[str, str]:
    """The versions the figures were measured with."""
    found = {"python": platform.python_version()}
    for name in ("langchain", "langchain-core", "langgraph", "llmcompiler-graph", "pytest", "syrupy"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def percent(part: int, whole: int) -> str:
    """`part` as a percentage of `whole`, one decimal."""
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def print_summary(runs: dict[str, dict[str, Any]], comparison: dict[str, Any] | None) -> None:
    """The figures on standard output."""
    for factory, run in runs.items():
        counts = tally(run)
        figures = ", ".join(f"{value} {key}" for key, value in counts.items())
        print(f"{factory:12} {figures} ({run['seconds']} s, pytest exit {run['returncode']})")
    if comparison is None:
        return
    c = comparison
    print(
        f"Of {c['build an agent and pass on langchain']} tests that build an agent and pass on "
        f"LangChain's factory, {c['build an agent and pass on both']} pass on llmcompiler_graph's "
        f"({percent(c['build an agent and pass on both'], c['build an agent and pass on langchain'])})."
    )
    print(
        f"Of all {c['pass on langchain']} tests passing on LangChain's factory, {c['pass on both']} pass "
        f"on llmcompiler_graph's ({percent(c['pass on both'], c['pass on langchain'])})."
    )
    print("Passing on LangChain's factory, not on ours, per file (all / building an agent):")
    for file, row in c["per_file_sorted"]:
        lost = row["pass on langchain"] - row["pass on both"]
        lost_agent = row["builds agent"] - row.get("builds agent, pass on both", 0)
        if lost:
            print(f"  {lost:4} / {lost_agent:4}  {file}")
    print("Causes (tests that build an agent, pass on LangChain's factory, not on ours):")
    for text, count in c["causes (build an agent)"]:
        print(f"  {count:4}  {text}")
    print("Most common first lines of those failures:")
    for text, count in c["top reasons (build an agent)"][:12]:
        print(f"  {count:4}  {text}")


def code(text: str) -> str:
    """`text` as inline code in a Markdown table cell or list item."""
    return "`" + text.replace("`", "'").replace("|", "/") + "`"


def markdown(
    runs: dict[str, dict[str, Any]], comparison: dict[str, Any] | None, command: str, version: str
) -> str:
    """The Markdown report."""
    out = [
        f"# LangChain {version}'s agent tests against llmcompiler_graph.create_agent",
        "",
        f"Measured {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')} with `{command}`.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "| factory | " + " | ".join(tally(next(iter(runs.values()))).keys()) + " | seconds |",
        "| --- |" + " ---: |" * (len(tally(next(iter(runs.values())))) + 1),
    ]
    for factory, run in runs.items():
        out.append(
            f"| {factory} | " + " | ".join(str(v) for v in tally(run).values()) + f" | {run['seconds']} |"
        )
    for factory, run in runs.items():
        if run["collect_errors"]:
            out += ["", f"Collection errors ({factory}):", ""]
            out += [
                f"- `{path}`: {reason(message)}" for path, message in sorted(run["collect_errors"].items())
            ]
    if comparison is None:
        return "\n".join(out) + "\n"
    c = comparison
    out += [
        "",
        "## Headline",
        "",
        f"- Tests that build an agent (called `create_agent` while they ran on LangChain's factory) and "
        f"pass there: **{c['build an agent and pass on langchain']}**; of them pass on llmcompiler_graph's: "
        f"**{c['build an agent and pass on both']}** "
        f"({percent(c['build an agent and pass on both'], c['build an agent and pass on langchain'])}).",
        f"- All tests passing on LangChain's factory: {c['pass on langchain']}; of them pass on ours: "
        f"{c['pass on both']} ({percent(c['pass on both'], c['pass on langchain'])}).",
        f"- Passing on LangChain's factory and in a file that imports `create_agent` (a static count): "
        f"{c['pass on langchain, in a file importing create_agent']}; of them pass on ours: "
        f"{c['of those, pass on both']}.",
        f"- Passing on ours but not on LangChain's: {len(c['pass only on llmcompiler'])}.",
        "",
        "## Per file (tests passing on LangChain's factory)",
        "",
        "| file | pass on langchain | pass on both | build an agent | build an agent, pass on both |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for file, row in c["per_file_sorted"]:
        out.append(
            f"| {code(file.removeprefix(SUITE + '/'))} | {row['pass on langchain']} "
            f"| {row.get('pass on both', 0)} "
            f"| {row.get('builds agent', 0)} | {row.get('builds agent, pass on both', 0)} |"
        )
    out += ["", "## Causes (tests that build an agent, pass on LangChain's factory, not on ours)", ""]
    out += ["| tests | cause |", "| ---: | --- |"]
    out += [f"| {count} | {text} |" for text, count in c["causes (build an agent)"]]
    out += ["", "## Most common first lines of those failures", ""]
    out += ["| tests | first line of the failure |", "| ---: | --- |"]
    out += [f"| {count} | {code(text)} |" for text, count in c["top reasons (build an agent)"]]
    out += ["", "## Every test that passes on LangChain's factory and not on ours", ""]
    by_file: dict[str, list[str]] = defaultdict(list)
    for nodeid, info in c["differ"].items():
        mark = "" if info["builds agent"] else " (builds no agent)"
        name = nodeid.split("::", 1)[1]
        by_file[file_of(nodeid)].append(
            f"- {code(name)}{mark}: {info['outcome']}, {info['cause']}: {code(info['first line'])}"
        )
    for file in sorted(by_file):
        out += [f"### `{file.removeprefix(SUITE + '/')}` ({len(by_file[file])})", "", *by_file[file], ""]
    if c["pass only on llmcompiler"]:
        out += ["## Passing on ours and not on LangChain's", ""]
        out += [f"- `{nodeid}`" for nodeid in c["pass only on llmcompiler"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factory", choices=[*FACTORIES, "both"], default="both")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (trees, logs, results)")
    parser.add_argument("--report", type=Path, help="write a Markdown report here")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument(
        "--cache-dir", type=Path, default=CACHE_DIR, help=f"sdist cache (default {CACHE_DIR})"
    )
    args = parser.parse_args(argv)
    factories = FACTORIES if args.factory == "both" else (args.factory,)

    missing = [module for module in NEEDED if importlib.util.find_spec(module) is None]
    if missing:
        print(
            f"missing for LangChain's tests: {', '.join(missing)} (the test extra has them)", file=sys.stderr
        )
        return 2
    version = installed_version()
    try:
        sdist = fetch_sdist(version, args.cache_dir)
    except SdistUnavailableError as exc:
        print(f"langchain {version} sdist unavailable: {exc}", file=sys.stderr)
        return 3
    print(f"langchain {version}: {sdist}")

    work = args.keep or Path(tempfile.mkdtemp(prefix="langchain-agent-suite-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        runs: dict[str, dict[str, Any]] = {}
        importers: set[str] = set()
        for factory in factories:
            tree = work / factory
            shutil.rmtree(tree, ignore_errors=True)
            extract_suite(sdist, tree)
            importers = importing_files(tree)
            if factory == "llmcompiler":
                rewritten = rewrite_imports(tree)
                print(f"rewrote {sum(rewritten.values())} imports of create_agent in {len(rewritten)} files")
            runs[factory] = run_pytest(tree, factory, work / f"{factory}.log")
        comparison = compare(runs["langchain"], runs["llmcompiler"], importers) if len(runs) == 2 else None
        if comparison is not None:
            comparison["per_file_sorted"] = sorted(
                comparison["per file"].items(),
                key=lambda kv: kv[1]["pass on both"] - kv[1]["pass on langchain"],
            )
        print_summary(runs, comparison)
        command = "python3 benchmarks/langchain_agent_suite.py" + (" " + " ".join(argv) if argv else "")
        if argv is None and len(sys.argv) > 1:
            command = "python3 benchmarks/langchain_agent_suite.py " + " ".join(sys.argv[1:])
        if args.report:
            args.report.write_text(markdown(runs, comparison, command, version), encoding="utf-8")
            print(f"report: {args.report}")
        if args.json:
            summary = {
                "langchain": version,
                "versions": versions(),
                "runs": {
                    f: {**tally(r), "seconds": r["seconds"], "returncode": r["returncode"]}
                    for f, r in runs.items()
                },
                "comparison": comparison,
            }
            args.json.write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
