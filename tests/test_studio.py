"""The LangGraph Studio entry point: `studio.make_graph`, `langgraph.json`, and a real `langgraph dev`.

The end-to-end tests start `langgraph dev` (the server LangGraph Studio talks to) on
loopback with the real `langgraph.json` and the embedded local model, and drive a run
through `langgraph-sdk` the way Studio does. They skip when `langgraph-cli[inmem]`,
`langgraph-sdk` or the local model is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmcompiler_graph import ANSWER_TAG, EXECUTE_TASK_NODE, JOINER_NODE, PLANNER_NODE, SCHEDULER_NODE, studio
from llmcompiler_graph.local.model import INSTALL_HINT, local_model_available
from llmcompiler_graph.testing import ScriptedChatModel
from tests.processes import free_port, stop_process_group

ROOT = Path(__file__).resolve().parents[1]
GRAPH_ID = "llmcompiler"
QUESTION = "How much taller is Mount Everest than K2?"
STARTUP_TIMEOUT = 90.0
RUN_TIMEOUT = 420.0

_SERVER_MODULES = ("langgraph_cli", "langgraph_api", "langgraph_runtime_inmem", "langgraph_sdk")
_missing_server = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
needs_server = pytest.mark.skipif(
    bool(_missing_server),
    reason=f"langgraph dev is not installed ({', '.join(_missing_server)} missing): "
    'pip install "langgraph-cli[inmem]" langgraph-sdk',
)
needs_local_model = pytest.mark.skipif(
    not local_model_available(), reason=f"the embedded local model is not installed: {INSTALL_HINT}"
)


# --- the factory, without a server ---------------------------------------------------------


@pytest.fixture
def scripted_studio(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Make `studio` resolve models to a scripted one; returns the names it was asked for."""
    asked: list[str | None] = []

    def fake_resolve(name: str | None = None) -> ScriptedChatModel:
        asked.append(name)
        return ScriptedChatModel(
            responses=[
                '1. search("Mount Everest")\n2. search("K2")\n3. math("8849 - 8611")\n4. join()<END_OF_PLAN>',
                "Thought: both heights are known.\nAction: Finish(238 m)",
            ]
        )

    monkeypatch.setattr(studio, "resolve_model", fake_resolve)
    monkeypatch.setattr(studio, "_cache", {})
    monkeypatch.delenv(studio.MODEL_ENV_VAR, raising=False)
    return asked


async def test_make_graph_builds_a_named_graph_without_checkpointer(
    scripted_studio: list[str | None],
) -> None:
    graph = await studio.make_graph({"configurable": {}})
    assert graph.name == GRAPH_ID
    assert graph.checkpointer is None
    assert {PLANNER_NODE, SCHEDULER_NODE, EXECUTE_TASK_NODE, JOINER_NODE} <= set(graph.nodes)
    state = await graph.ainvoke({"messages": [("user", QUESTION)]})
    assert state["messages"][-1].content == "238 m"
    assert [task["status"] for task in state["tasks"].values()] == ["done", "done", "done"]
    assert "8,611 m" in state["tasks"][2]["result"]  # the offline demo corpus


async def test_make_graph_loads_the_model_once_and_builds_a_fresh_graph_each_call(
    scripted_studio: list[str | None],
) -> None:
    first = await studio.make_graph()
    second = await studio.make_graph()
    assert first is not second
    assert scripted_studio == [None]  # the model (and tools) were made once


async def test_make_graph_honours_the_model_variable(
    scripted_studio: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(studio.MODEL_ENV_VAR, "local")
    await studio.make_graph()
    assert scripted_studio == ["local"]


async def test_the_skeleton_and_auto_factories_build_named_graphs_on_the_same_model(
    scripted_studio: list[str | None],
) -> None:
    skeleton = await studio.make_skeleton_graph()
    auto = await studio.make_auto_graph()
    assert (skeleton.name, auto.name) == ("skeleton_of_thought", "auto")
    assert {"skeleton", "expand_point", "assemble"} <= set(skeleton.nodes)
    assert {"route", "direct_answer", "skeleton_of_thought", "llmcompiler"} <= set(auto.nodes)
    assert skeleton.checkpointer is None and auto.checkpointer is None
    state = await auto.ainvoke({"messages": [("user", QUESTION)]})  # routed to the tools
    assert (state["mode"], state["messages"][-1].content) == ("tools", "238 m")
    assert scripted_studio == [None]


def test_langgraph_json_serves_the_three_graphs() -> None:
    graphs = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    assert {name: spec["path"].rsplit(":", 1)[1] for name, spec in graphs.items()} == {
        "llmcompiler": "make_graph",
        "skeleton_of_thought": "make_skeleton_graph",
        "auto": "make_auto_graph",
    }


@pytest.mark.integration
def test_importing_the_package_builds_nothing_and_skips_studio() -> None:
    code = "import sys, llmcompiler_graph; assert 'llmcompiler_graph.studio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_langgraph_json_names_the_factory() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert config["python_version"] == "3.11"
    spec = config["graphs"][GRAPH_ID]
    path, variable = (spec if isinstance(spec, str) else spec["path"]).rsplit(":", 1)
    assert (ROOT / path).resolve() == Path(studio.__file__).resolve()
    assert callable(getattr(studio, variable))


@needs_server
def test_langgraph_json_passes_the_cli_validation() -> None:
    from langgraph_cli.config import validate_config_file

    config = validate_config_file(ROOT / "langgraph.json")
    assert list(config["graphs"]) == [GRAPH_ID, "skeleton_of_thought", "auto"]


# --- a real `langgraph dev` ------------------------------------------------------------------


class DevServer:
    """A `langgraph dev` subprocess in its own process group, with its log in a file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The real langgraph.json, with its paths made absolute so that the server runs
        # (and writes its .langgraph_api/ folder) in a scratch directory, not the checkout.
        config = json.loads((ROOT / "langgraph.json").read_text())
        config["dependencies"] = [str((ROOT / dep).resolve()) for dep in config["dependencies"]]
        for graph_id, spec in config["graphs"].items():
            path, variable = (spec if isinstance(spec, str) else spec["path"]).rsplit(":", 1)
            absolute = f"{(ROOT / path).resolve()}:{variable}"
            config["graphs"][graph_id] = absolute if isinstance(spec, str) else {**spec, "path": absolute}
        config_path = self.workdir / "langgraph.json"
        config_path.write_text(json.dumps(config))
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("OPENAI_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")
        }
        env.update(
            LLMCOMPILER_MODEL="local",  # offline and reproducible even with an API key set
            LANGGRAPH_CLI_NO_ANALYTICS="1",  # the CLI would post usage data from a thread
            LANGGRAPH_NO_VERSION_CHECK="true",  # and ask PyPI for a newer langgraph-api
            LANGSMITH_TRACING="false",
            LANGCHAIN_TRACING_V2="false",
            PYTHONUNBUFFERED="1",
        )
        command = [
            sys.executable, "-m", "langgraph_cli", "dev",
            "--config", str(config_path),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--no-browser", "--no-reload",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole in stop()
            )

    def wait_healthy(self, timeout: float) -> float:
        """Seconds until `GET /ok` answers 200; fails with the server's log otherwise."""
        import httpx

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"langgraph dev exited with {self.process.returncode}\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=2.0).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        pytest.fail(f"langgraph dev was not healthy after {timeout:.0f} s\n{self.log()}")

    def stop(self) -> None:
        stop_process_group(self.process)

    def log(self, tail: int = 12000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # the server's log is coloured
        return "--- langgraph dev log (tail) ---\n" + text[-tail:]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = DevServer(tmp_path_factory.mktemp("langgraph-dev"))
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("NO_PROXY", no_proxy)  # the test talks to loopback only, never via a proxy
            server.start()
            server.wait_healthy(STARTUP_TIMEOUT)
            yield server
    finally:
        server.stop()


@pytest.mark.integration
@needs_server
@needs_local_model
@pytest.mark.enable_socket
@pytest.mark.timeout(STARTUP_TIMEOUT + 60)
async def test_dev_server_lists_the_graph_and_its_nodes(dev_server: DevServer) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=dev_server.url, timeout=60.0)
    assistants = await client.assistants.search(graph_id=GRAPH_ID)
    assert [a["name"] for a in assistants] == [GRAPH_ID], dev_server.log()
    drawn = await client.assistants.get_graph(assistants[0]["assistant_id"])
    nodes = {node["id"] for node in drawn["nodes"]}
    assert {PLANNER_NODE, SCHEDULER_NODE, EXECUTE_TASK_NODE, JOINER_NODE} <= nodes, (nodes, dev_server.log())


@pytest.mark.integration
@needs_server
@needs_local_model
@pytest.mark.enable_socket
@pytest.mark.timeout(STARTUP_TIMEOUT + RUN_TIMEOUT + 60)
async def test_dev_server_runs_the_agent_and_streams_its_events(dev_server: DevServer) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=dev_server.url, timeout=120.0)
    thread = await client.threads.create()
    question: Any = {"messages": [{"role": "user", "content": QUESTION}]}
    custom: list[dict[str, Any]] = []
    streamed_nodes: set[str] = set()
    answer_tokens: list[str] = []
    final: dict[str, Any] = {}
    errors: list[Any] = []
    async with asyncio.timeout(RUN_TIMEOUT):
        async for part in client.runs.stream(
            thread["thread_id"],
            GRAPH_ID,
            input=question,
            stream_mode=["custom", "messages-tuple", "values"],
        ):
            if part.event == "custom":
                custom.append(part.data)
            elif part.event.startswith("messages"):
                chunk, metadata = part.data
                streamed_nodes.add(metadata.get("langgraph_node", ""))
                if ANSWER_TAG in (metadata.get("tags") or []):
                    answer_tokens.append(str(chunk.get("content", "")))
            elif part.event == "values":
                final = part.data
            elif part.event == "error":
                errors.append(part.data)
    context = f"events: {json.dumps(custom, default=str)[:4000]}\n{dev_server.log()}"
    assert not errors, f"the run failed: {errors}\n{context}"

    kinds = [event["type"] for event in custom]
    assert "plan_finished" in kinds, context
    assert "joiner_decision" in kinds, context
    planned = {event["idx"]: event["tool"] for event in custom if event["type"] == "task_parsed"}
    started = {event["idx"]: event["tool"] for event in custom if event["type"] == "task_started"}
    finished = {event["idx"]: event for event in custom if event["type"] == "task_finished"}
    assert started, context
    assert set(started.values()) <= {"search", "math"}, context
    assert all(planned.get(idx) == tool for idx, tool in started.items()), context  # tools from the plan
    assert set(started) <= set(finished), context  # every started task finished
    assert PLANNER_NODE not in streamed_nodes, streamed_nodes  # no protocol text on the messages stream
    assert JOINER_NODE in streamed_nodes, streamed_nodes  # the answer streamed live, tagged

    answer = final["messages"][-1]
    assert answer["type"] == "ai", context
    assert str(answer["content"]).strip(), context
    assert "".join(answer_tokens) == answer["content"], answer_tokens
    tasks = final["tasks"]
    assert {int(idx) for idx in tasks} >= set(started), context
    assert any(task["status"] == "done" for task in tasks.values()), context
    assert all(task["status"] in ("done", "error", "skipped") for task in tasks.values()), context

    # The server supplied the persistence: the thread holds the same conversation.
    saved: Any = (await client.threads.get_state(thread["thread_id"]))["values"]
    assert [m["content"] for m in saved["messages"]] == [m["content"] for m in final["messages"]]
