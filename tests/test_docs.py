"""The reference in docs/ builds without a broken link or anchor, and its tables stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@pytest.mark.integration
def test_mkdocs_build_strict_passes(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install 'mkdocs>=1.6'")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_docs_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assert "docs_dir: docs" in config
    missing = [page.name for page in sorted(DOCS.glob("*.md")) if f": {page.name}\n" not in config]
    assert missing == []


def test_the_api_compatibility_table_names_tests_that_exist() -> None:
    api = (DOCS / "api.md").read_text()
    section = api.split("## Compatibility with `create_agent`", 1)[1].split("\n## ", 1)[0]
    rows = [
        line for line in section.splitlines() if line.startswith("| ") and _cell(line, 3).startswith("works")
    ]
    named = [re.search(r"`(test_\w+)`", row) for row in rows]
    assert rows and all(named), [row for row, name in zip(rows, named, strict=True) if not name]
    sources = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    here = set(re.findall(r"^(?:async )?def (test_\w+)", sources, re.MULTILINE))
    missing = [n.group(1) for n in named if n and n.group(1) not in here]
    assert missing == []


def _cell(row: str, column: int) -> str:
    cells = row.split(" | ")
    return cells[column - 1].strip() if len(cells) >= column else ""
