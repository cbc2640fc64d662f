"""The Python examples of the README and of every page in docs/ run offline as written and
print what they say; the README's links into the repository resolve."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

# What each page's examples print, by the page the example is on.
PRINTED: dict[str, list[str]] = {
    "README.md": [
        "Everest, by 238 m\n",
        "mountains | Everest is taller, by 238 m\n",
        "{1: '8,849 m', 2: '8,611 m'}",
        "task_finished 1 done",
        "['How tall is Everest?', '8,849 m', 'And K2?', '8,611 m']",
    ],
    "docs/durability.md": [
        "Everest is taller\n",
        "[('send_email', {'to': 'team', 'body': '$1'})]",
        "{'to': 'ops', 'body': 'Everest: 8,849 m'}",
    ],
    "docs/api.md": ["['human', 'ai', 'tool', 'tool', 'tool', 'ai'] 238\n"],
    "docs/sot.md": [
        "1. Exercise: Move every day.\n2. Sleep: Keep a schedule.\n",
        "True\n",
    ],
}


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL)


def run_python_blocks(page: Path) -> str:
    """Run the page's blocks in file order in one namespace; return what they printed."""
    namespace: dict[str, object] = {"__name__": page.stem}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for block in python_blocks(page):
            if "Not run by the tests" in block:
                continue
            exec(compile(block, str(page), "exec"), namespace)
    return output.getvalue()


def test_readme_python_blocks_run_and_print_the_documented_results() -> None:
    assert len(python_blocks(README)) >= 3
    printed = run_python_blocks(README)
    for expected in PRINTED["README.md"]:
        assert expected in printed


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_docs_python_blocks_run_and_print_the_documented_results(page: Path) -> None:
    printed = run_python_blocks(page)
    for expected in PRINTED.get(page.relative_to(ROOT).as_posix(), []):
        assert expected in printed


def test_every_page_with_documented_output_exists() -> None:
    assert [name for name in PRINTED if not (ROOT / name).is_file()] == []


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    assert "\n./install.sh test && python3 -m pytest\n" in readme
    assert "\n./install.sh test\npython3 -m pytest\n" in ci
    # ... in a virtual environment of its own, made before anything is installed
    venv = ci.index('python3 -m venv "$WORK/venv"')
    assert venv < ci.index('source "$WORK/venv/bin/activate"') < ci.index("\n./install.sh test\n")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_links_into_the_repository_resolve() -> None:
    """mkdocs checks the links inside docs/; this checks the README's, as GitHub reads them."""
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (ROOT / path) if path else README
        if not target.exists():
            broken.append(link)
        elif anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.MULTILINE)
            if anchor not in {github_anchor(h) for h in headings}:
                broken.append(link)
    assert links and broken == []
