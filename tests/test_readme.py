"""The README's Python examples run offline as written and print what they say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run_and_print_the_documented_results() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"__name__": "readme"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for block in blocks:
            if "Not run by the tests" in block:
                continue
            exec(compile(block, str(README), "exec"), namespace)
    printed = output.getvalue()
    assert "Everest, by 238 m\n" in printed
    assert "mountains | Everest is taller, by 238 m\n" in printed
    assert "{1: '8,849 m', 2: '8,611 m'}" in printed
    assert "task_finished 1 done" in printed
    assert "['How tall is Everest?', '8,849 m', 'And K2?', '8,611 m']" in printed
    assert "Everest is taller\n" in printed
    assert "[('send_email', {'to': 'team', 'body': '$1'})]" in printed
    assert "{'to': 'ops', 'body': 'Everest: 8,849 m'}" in printed


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    assert "\n./install.sh test && python3 -m pytest\n" in readme
    assert "\n./install.sh test\npython3 -m pytest\n" in ci
