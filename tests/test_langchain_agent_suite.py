"""LangChain's own agent tests (tests/unit_tests/agents/ of the installed langchain's sdist) run
end to end by benchmarks/langchain_agent_suite.py, against LangChain's factory and ours.

LangChain's factory must pass the bulk of its own suite (else the harness, not the factory, is
broken); ours is measured and printed, not yet held to a goal (docs/drop-in-suite.md)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "langchain_agent_suite.py"


def load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langchain_agent_suite", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_langchain_agent_suite_runs_on_both_factories(tmp_path: Path) -> None:
    harness = load_harness()
    version = harness.installed_version()
    try:
        harness.fetch_sdist(version)  # pip download in a subprocess, cached for the run below
    except harness.SdistUnavailableError as exc:
        pytest.skip(f"the langchain {version} sdist cannot be fetched (no package registry?): {exc}")

    figures_path = tmp_path / "suite.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--keep", str(tmp_path / "work"), "--json", str(figures_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2300,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(figures_path.read_text())
    runs, comparison = figures["runs"], figures["comparison"]
    assert set(runs) == {"langchain", "llmcompiler"}

    theirs, ours = runs["langchain"], runs["llmcompiler"]
    assert theirs["collection errors"] == 0
    assert theirs["collected"] > 1000, theirs  # the suite was found: 1,205 tests in langchain 1.5.2
    assert theirs["passed"] >= 0.9 * theirs["collected"], theirs
    assert comparison["build an agent and pass on langchain"] > 400, comparison  # 478 in 1.5.2
    # The rewritten import took: the tests called our factory, and some pass on it
    assert ours["called create_agent"] > 0, ours
    assert ours["passed"] >= 1, ours
    # Measured, not yet a goal (issue 24 aims at 80% of the tests that build an agent)
    print(
        f"langchain {version}: of {comparison['build an agent and pass on langchain']} tests that build an"
        f" agent and pass on LangChain's factory, {comparison['build an agent and pass on both']} pass on"
        f" llmcompiler_graph's; of all {comparison['pass on langchain']} passing there,"
        f" {comparison['pass on both']} pass here"
    )
