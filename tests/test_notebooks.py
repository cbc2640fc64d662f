"""`notebooks/quickstart.ipynb` runs top to bottom, offline, on the embedded local model.

The notebook is executed from a copy in a temporary directory by a real Jupyter kernel
(nbclient + ipykernel) running this test's own Python; the committed notebook, outputs
included, is never written to.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from llmcompiler_graph.local.model import INSTALL_HINT, local_model_available

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"
CELL_TIMEOUT = 300
"""Seconds one cell may take; a whole run of the notebook takes about a minute on 2 cores."""
KERNEL_NAME = "llmcompiler-graph-test"

pytestmark = pytest.mark.skipif(
    not local_model_available(),
    reason=f"the embedded local model (Gemma 3 270M via llama.cpp) is not installed: {INSTALL_HINT}",
)


def install_kernelspec(directory: Path) -> None:
    """A kernelspec that starts ipykernel on this very interpreter, found through JUPYTER_PATH.

    Nothing outside the test's temporary directory is touched, and a `python3` kernelspec the
    user installed for another interpreter cannot be picked up by mistake.
    """
    spec = directory / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "llmcompiler-graph tests", "language": "python"})
    )


def cell(notebook: Any, tag: str) -> Any:
    (found,) = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    return found


def stdout(code_cell: Any) -> str:
    return "".join(
        o["text"] for o in code_cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout"
    )


def pngs(code_cell: Any) -> list[bytes]:
    return [
        base64.b64decode(o["data"]["image/png"])
        for o in code_cell.outputs
        if o["output_type"] in ("display_data", "execute_result") and "image/png" in o.get("data", {})
    ]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.enable_socket  # the kernel's ZMQ channels run over loopback TCP; ports are picked with socket()
@pytest.mark.timeout(6 * CELL_TIMEOUT)
def test_the_quickstart_notebook_runs_offline_on_the_local_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = NOTEBOOK.read_bytes()
    notebook = nbformat.reads(committed.decode(), as_version=4)
    for code_cell in notebook.cells:  # only this run's outputs count
        if code_cell.cell_type == "code":
            code_cell.outputs, code_cell.execution_count = [], None
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)", id="kernel-python"))

    install_kernelspec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))  # connection files stay here
    kernel_env = {name: value for name, value in os.environ.items() if name != "OPENAI_API_KEY"}
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute(env=kernel_env)  # raises CellExecutionError, with the traceback, if a cell fails

    assert not [
        o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert Path(stdout(notebook.cells[-1]).strip()).resolve() == Path(sys.executable).resolve()

    graph_text = stdout(cell(notebook, "build"))
    assert "planner" in graph_text
    assert "execute_task" in graph_text

    run = stdout(cell(notebook, "run"))
    assert re.search(r"^Answer: \S", run, re.MULTILINE), run
    assert re.search(r"^\$1 \w+\(.*\) -> (done|error|skipped)", run, re.MULTILINE), run

    (picture,) = pngs(cell(notebook, "timeline"))
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")

    stream = cell(notebook, "stream")
    streamed = stdout(stream)
    started = set(re.findall(r"\] started  \$(\d+) \w+\(", streamed))
    finished = set(re.findall(r"\] finished \$(\d+) (?:done|error|skipped)", streamed))
    assert started, streamed
    assert started <= finished, streamed
    assert re.search(r"^1\. \w+\(", streamed, re.MULTILINE), streamed  # the plan, as it streamed
    assert re.search(r"\] joiner: (finish|replan): ", streamed), streamed
    assert len(pngs(stream)) == 1

    hosted = stdout(cell(notebook, "hosted"))
    assert "Skipped: OPENAI_API_KEY is not set" in hosted, hosted

    side_by_side = stdout(cell(notebook, "sot"))
    assert re.search(
        r"^Skeleton-of-Thought \(\d+\.\d s, mode=(skeleton|direct), \d+ points\):", side_by_side, re.M
    )
    assert re.search(r"^Direct answer \(\d+\.\d s\):", side_by_side, re.M), side_by_side

    assert NOTEBOOK.read_bytes() == committed
