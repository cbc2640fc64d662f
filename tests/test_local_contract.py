"""Which call the local model serves comes from the core's run metadata, never from a prompt's words."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import Field, PrivateAttr

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.local.model import (
    CallRecord,
    LocalCompletionChatModel,
    local_model_available,
    render_prompt,
)
from llmcompiler_graph.local.protocol import LocalCall, prepare_call
from llmcompiler_graph.nodes import CAN_REPLAN_KEY, MODEL_CALL_KEY, REPLAN_FROM_KEY, ModelCall
from llmcompiler_graph.plan.prompts import JOINER_SYSTEM_PROMPT, build_planner_prompt
from llmcompiler_graph.plan.tool_schemas import describe_tool
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool
from tests.conftest import FINISH, ToolLog, build, question, scripted

QUESTION = "How much taller is Mount Everest than K2?"


@pytest.mark.integration
def test_importing_the_package_does_not_load_the_local_model_adapter() -> None:
    code = (
        "import llmcompiler_graph, sys; "
        "print(any(m.startswith('llmcompiler_graph.local') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


class _Decoder:
    """Takes the first option that contains a preference (in their order), else the first option."""

    def __init__(self, preferences: Sequence[str]) -> None:
        self.preferences = preferences

    def append(self, text: str) -> None:
        pass

    def choose(self, options: Sequence[str]) -> str:
        return next((o for p in self.preferences for o in options if p in o), options[0])

    def generate(self, max_tokens: int, stop: Sequence[str]) -> str:
        return " next"


class ProgramOnlyModel(LocalCompletionChatModel):
    """The local model, a scripted decoder instead of llama.cpp: records which program served each call."""

    preferences: list[str] = Field(default_factory=list)
    _served: list[str] = PrivateAttr(default_factory=list)

    def _protocol_pieces(self, call: LocalCall, stop: list[str] | None, record: CallRecord) -> Iterator[str]:
        self._served.append(call.kind)
        yield from call.program(_Decoder(self.preferences))

    def _plain_pieces(
        self, messages: Sequence[BaseMessage], stop: list[str] | None, record: CallRecord, part: Any = None
    ) -> Iterator[str]:
        self._served.append("plain")
        yield "a plain completion"


def program_only(*preferences: str) -> ProgramOnlyModel:
    return ProgramOnlyModel(model_path="unused.gguf", call_log=None, preferences=list(preferences))


def reworded_planner_prompt(tools: Sequence[Any]) -> str:
    """A planner prompt in words of its own: only the tool listing is the default's."""
    listing = "\n".join(describe_tool(tool, number) for number, tool in enumerate(tools, 1))
    return (
        f"You orchestrate tools. These exist:\n{listing}\n{len(tools) + 1}. join()\nWrite calls, then join."
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["ainvoke", "stream-messages"])
async def test_a_reworded_planner_prompt_is_still_served_by_the_planner_program(streamed: bool) -> None:
    """Also while the graph streams messages, when LangChain hands the model methods no run manager."""
    model = program_only("Mount Everest", '"K2"', '["$1", "$2"]')
    tools = [LocalSearchIndex.demo().as_tool(), make_math_tool(model)]
    prompt = reworded_planner_prompt(tools)
    assert "<END_OF_PLAN>" not in prompt and prompt not in build_planner_prompt(tools)
    graph = create_llmcompiler(
        model, tools, planner_prompt=prompt, joiner_prompt="Decide.", joiner_finish_only_prompt="Decide now."
    ).compile()
    if streamed:
        modes = ["custom", "messages", "values"]
        chunks = [
            chunk async for chunk in graph.astream({"messages": [("user", QUESTION)]}, stream_mode=modes)
        ]
        state = next(value for mode, value in reversed(chunks) if mode == "values")
    else:
        state = await graph.ainvoke({"messages": [("user", QUESTION)]})
    assert Counter(model._served) == Counter(["plan", "math", "join"])
    assert [task["tool"] for task in state["tasks"].values()] == ["search", "search", "math"]


def test_a_call_is_served_as_the_part_it_is_tagged_with_whatever_its_words() -> None:
    tools = [LocalSearchIndex.demo().as_tool(), make_math_tool()]
    planner_like = [
        SystemMessage(build_planner_prompt(tools)),
        HumanMessage(f"Question: {QUESTION}\n\n(none)"),
    ]
    joiner = {MODEL_CALL_KEY: ModelCall.JOINER.value}
    model = program_only()
    model.invoke(planner_like, {"metadata": joiner})
    "".join(str(chunk.content) for chunk in model.stream(planner_like, {"metadata": joiner}))
    model.invoke(planner_like)
    assert model._served == ["join", "join", "plain"]

    call = prepare_call(planner_like, joiner)
    assert call is not None and call.kind == "join"
    assert prepare_call(planner_like) is None  # no contract: no program, whatever the prompt says
    assert prepare_call(planner_like, {MODEL_CALL_KEY: ModelCall.SKELETON.value}) is None
    assert prepare_call(planner_like, {MODEL_CALL_KEY: "something else"}) is None
    # without the contract the joiner's own prompt is not primed with its format either
    assert render_prompt([SystemMessage(JOINER_SYSTEM_PROMPT), HumanMessage("Hi")])[1] == ""
    assert render_prompt([SystemMessage("Decide."), HumanMessage("Hi")], ModelCall.JOINER)[1] == "Thought:"


async def test_a_call_without_the_contract_is_a_plain_completion_when_streamed_too() -> None:
    model = program_only()
    messages = [SystemMessage("Say '<END_OF_PLAN>' after you call join"), HumanMessage(QUESTION)]
    text = "".join([str(chunk.content) async for chunk in model.astream(messages)])
    assert text == "a plain completion" and model._served == ["plain"]
    await model.ainvoke(messages, {"metadata": {MODEL_CALL_KEY: "plan"}})
    assert model._served == ["plain", "plan"]


async def test_the_benchmarks_text_react_steps_are_served_by_the_react_program() -> None:
    from llmcompiler_bench.text_react import run_text_react

    model = program_only("Mount Everest", '"K2"', "math(")
    tools = [LocalSearchIndex.demo().as_tool(), make_math_tool(model)]
    result = await run_text_react(model, tools, QUESTION)
    assert result.tool_calls == ["search", "search", "math"]
    assert model._served == ["react", "react", "react", "math", "react"]


class _MetadataLog(AsyncCallbackHandler):
    """The contract's keys of every chat model call, as LangChain hands its run metadata to callbacks."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        metadata = kwargs.get("metadata") or {}
        keys = (MODEL_CALL_KEY, REPLAN_FROM_KEY, CAN_REPLAN_KEY)
        self.calls.append({key: metadata[key] for key in keys if key in metadata})


async def test_the_core_tags_its_planner_joiner_and_math_calls(log: ToolLog) -> None:
    model = scripted(
        '1. search("Everest")\n2. join()<END_OF_PLAN>',
        "Thought: K2 is missing.\nAction: Replan(look up K2)",
        '2. search("K2")\n3. math("how much taller is $1 than $2", ["$1", "$2"])\n4. join()<END_OF_PLAN>',
        "Expression: 8849 - 8611",
        FINISH.format(answer="238"),
    )
    tools = [log.search_tool(), make_math_tool(model)]
    metadata = _MetadataLog()
    await build(model, tools, max_replans=1).ainvoke(question(QUESTION), {"callbacks": [metadata]})
    calls = [call for call in metadata.calls if call.get(MODEL_CALL_KEY) != "answer"]
    assert calls == [
        {MODEL_CALL_KEY: "plan"},
        {MODEL_CALL_KEY: "joiner", CAN_REPLAN_KEY: True},
        {MODEL_CALL_KEY: "plan", REPLAN_FROM_KEY: 2},
        {MODEL_CALL_KEY: "math"},
        {MODEL_CALL_KEY: "joiner", CAN_REPLAN_KEY: False},
    ]


@pytest.mark.integration
@pytest.mark.skipif(not local_model_available(), reason="the local model is not installed")
async def test_the_embedded_model_answers_238_with_reworded_prompts(tmp_path: Path) -> None:
    from llmcompiler_graph.local.model import load_local_model
    from llmcompiler_graph.tools import build_tools

    model = load_local_model(call_log=str(tmp_path / "calls.jsonl"))
    tools = build_tools("local", None, model)
    graph = create_llmcompiler(
        model,
        tools,
        planner_prompt=reworded_planner_prompt(tools),
        joiner_prompt="Decide.",
        joiner_finish_only_prompt="Decide now.",
    ).compile()
    state = await graph.ainvoke({"messages": [("user", QUESTION)]})
    assert "238" in state["messages"][-1].content
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert Counter(kinds) == Counter(["plan", "math", "join"])
