"""Eager dispatch: tasks start while the plan is still streaming, with identical results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel
from tests.conftest import FINISH, ToolLog, build, hanging_tool, last_text, question, scripted

PLAN = (
    "Thought: look both up, then combine.\n"
    '1. search("Everest")\n'
    '2. search("K2")\n'
    '3. search("compare $1 and ${2}")\n'
    '4. fly("nowhere")\n'
    '5. search("after $4")\n'
    "6. explode()\n"
    '7. search("after $6")\n'
    "8. join()<END_OF_PLAN>"
)


@tool
async def explode() -> str:
    """Always fails."""
    raise RuntimeError("kaboom")


async def stream_events(graph: Any) -> list[dict[str, Any]]:
    return [e async for e in graph.astream(question(), stream_mode="custom")]


def thread(name: str = "eager") -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


def durable(model: ScriptedChatModel, tools: list[Any]) -> Any:
    """Eager dispatch with a checkpointer: the planner's tool calls are saved as they finish."""
    return create_llmcompiler(model, tools, eager=True, stream_protocol=True).compile(
        checkpointer=InMemorySaver()
    )


def graph_for(model: ScriptedChatModel, tools: list[Any], *, checkpointer: bool) -> Any:
    """Eager dispatch in memory, or with a checkpointer (the durable path); run with `thread()`."""
    return durable(model, tools) if checkpointer else build(model, tools, eager=True)


async def test_first_task_starts_before_the_planner_finishes_streaming(log: ToolLog) -> None:
    model = scripted(PLAN, FINISH.format(answer="x"), token_delay=0.01)
    events = await stream_events(build(model, [log.search_tool(), explode]))
    kinds = [(e["type"], e.get("idx")) for e in events]
    assert kinds.index(("task_started", 1)) < kinds.index(("plan_finished", None))
    assert kinds.index(("task_finished", 1)) < kinds.index(("plan_finished", None))
    started = next(e["time"] for e in events if e["type"] == "task_started" and e["idx"] == 1)
    plan_tokens = [t for call, t in model.token_times if call == 0]
    assert started < plan_tokens[-1]


async def test_without_eager_dispatch_no_task_starts_before_the_plan_is_finished(log: ToolLog) -> None:
    model = scripted(PLAN, FINISH.format(answer="x"), token_delay=0.01)
    events = await stream_events(build(model, [log.search_tool(), explode], eager=False))
    kinds = [e["type"] for e in events]
    assert kinds.index("task_started") > kinds.index("plan_finished")


def comparable(state: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    return {
        idx: (t["tool"], t["status"], t["resolved_args"], t["result"], t["error"], t["dependencies"])
        for idx, t in state["tasks"].items()
    }


@pytest.mark.parametrize("token_delay", [0.0, 0.005])
async def test_results_are_identical_with_eager_dispatch_on_or_off(token_delay: float) -> None:
    outcomes = []
    for eager in (True, False):
        log = ToolLog()
        model = scripted(PLAN, FINISH.format(answer="same"), token_delay=token_delay)
        state = await build(model, [log.search_tool(latency=0.01), explode], eager=eager).ainvoke(question())
        outcomes.append(
            (comparable(state), state["messages"][-1].content, last_text(model, 1), sorted(log.names()))
        )
    assert outcomes[0] == outcomes[1]
    tasks = outcomes[0][0]
    query = "compare result for Everest and result for K2"
    assert tasks[3] == ("search", "done", {"query": query}, f"result for {query}", None, [1, 2])
    assert tasks[4][1] == tasks[6][1] == "error"
    assert tasks[5][1] == tasks[7][1] == "skipped"


@pytest.mark.parametrize("checkpointer", [False, True])
async def test_eager_replan_reuses_earlier_results_and_skips_on_earlier_failures(
    log: ToolLog, checkpointer: bool
) -> None:
    model = scripted(
        '1. search("a")\n2. explode()\n3. join()<END_OF_PLAN>',
        "Thought: more.\nAction: Replan(combine)",
        '3. search("$1 again")\n4. search("$2 again")\n5. join()<END_OF_PLAN>',
        FINISH.format(answer="ok"),
        token_delay=0.005,
    )
    graph = graph_for(model, [log.search_tool(), explode], checkpointer=checkpointer)
    state = await graph.ainvoke(question(), thread())
    assert state["tasks"][3]["resolved_args"] == {"query": "result for a again"}
    assert state["tasks"][4]["status"] == "skipped"
    assert [a["query"] for a in log.args_of("search")] == ["a", "result for a again"]


def test_sync_invoke_also_dispatches_eagerly(log: ToolLog) -> None:
    model = scripted(PLAN, FINISH.format(answer="x"), token_delay=0.01)
    events = list(build(model, [log.search_tool(), explode]).stream(question(), stream_mode="custom"))
    kinds = [(e["type"], e.get("idx")) for e in events]
    assert kinds.index(("task_started", 1)) < kinds.index(("plan_finished", None))


class FailingMidStream(ScriptedChatModel):
    """Streams the first plan line, then the connection 'drops'."""

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        self._take(messages)
        for token in ['1. hang("x")\n', '2. search("y")']:
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))
            await asyncio.sleep(0.05)
        raise ConnectionError("stream dropped")


@pytest.mark.parametrize("checkpointer", [False, True])
async def test_planner_failure_cancels_the_tasks_it_already_started(log: ToolLog, checkpointer: bool) -> None:
    hang, cancelled = hanging_tool()
    graph = graph_for(
        FailingMidStream(responses=["unused"]), [hang, log.search_tool()], checkpointer=checkpointer
    )
    with pytest.raises(ConnectionError, match="stream dropped"):
        await graph.ainvoke(question(), thread())
    await asyncio.wait_for(cancelled.wait(), timeout=2)


@pytest.mark.parametrize(("eager", "checkpointer"), [(True, False), (False, False), (True, True)])
async def test_a_tools_own_model_call_streams_as_the_task_nodes_not_the_planners(
    eager: bool, checkpointer: bool
) -> None:
    from llmcompiler_graph.tools import make_math_tool

    model = scripted(
        '1. math("how much is two and two")\n2. join()<END_OF_PLAN>',
        "Expression: 2 + 2",
        FINISH,
        token_delay=0.001,
    )
    graph = (
        durable(model, [make_math_tool(model)])
        if checkpointer
        else build(model, [make_math_tool(model)], eager=eager, stream_protocol=True)
    )
    nodes_by_text: dict[str, set[str]] = {}
    async for chunk, metadata in graph.astream(question(), thread(), stream_mode="messages"):
        nodes_by_text.setdefault(str(chunk.content), set()).add(metadata["langgraph_node"])
    streamed_by_planner = "".join(t for t, nodes in nodes_by_text.items() if "planner" in nodes)
    assert "Expression" not in streamed_by_planner
    assert "math" in streamed_by_planner
    assert nodes_by_text['math("how'] == {"planner"}
    assert nodes_by_text["Expression:"] == {"execute_task"}


async def test_with_a_checkpointer_eager_tasks_still_start_while_the_plan_streams(log: ToolLog) -> None:
    model = scripted(PLAN, FINISH.format(answer="x"), token_delay=0.01)
    graph = durable(model, [log.search_tool(), explode])
    events, saved_by = [], set()
    async for mode, item in graph.astream(question(), thread(), stream_mode=["custom", "updates"]):
        if mode == "custom":
            events.append(item)
        else:
            saved_by |= set(item)
    kinds = [(e["type"], e.get("idx")) for e in events]
    assert kinds.index(("task_started", 1)) < kinds.index(("plan_finished", None))
    assert kinds.index(("task_finished", 1)) < kinds.index(("plan_finished", None))
    assert {"plan_stream", "execute_task", "planner"} <= saved_by  # saved as LangGraph tasks of the step


@pytest.mark.parametrize("token_delay", [0.0, 0.005])
async def test_with_a_checkpointer_eager_results_are_those_of_a_run_without_one(token_delay: float) -> None:
    outcomes = []
    for checkpointer in (True, False):
        log = ToolLog()
        model = scripted(PLAN, FINISH.format(answer="same"), token_delay=token_delay)
        graph = graph_for(model, [log.search_tool(latency=0.01), explode], checkpointer=checkpointer)
        state = await graph.ainvoke(question(), thread())
        outcomes.append((comparable(state), state["messages"][-1].content, sorted(log.names()), model.calls))
    assert outcomes[0] == outcomes[1]


def test_sync_invoke_with_a_checkpointer_starts_tasks_after_the_plan_so_each_is_saved(log: ToolLog) -> None:
    model = scripted(PLAN, FINISH.format(answer="x"), token_delay=0.01)
    graph = durable(model, [log.search_tool(), explode])
    saved_by: list[str] = []
    for mode, item in graph.stream(question(), thread(), stream_mode=["custom", "updates"]):
        if mode == "updates":
            saved_by.extend(item)
            if "execute_task" in item:
                assert len(item["execute_task"]["tasks"]) == 1  # each outcome saved by its own write
        elif item["type"] == "task_started":
            assert "planner" in saved_by  # the plan was saved before any tool ran
    values = graph.get_state(thread()).values
    ran = [t for t in values["tasks"].values() if t["started_at"] is not None]
    assert saved_by.count("execute_task") >= len(ran) >= 3
    assert values["messages"][-1].content == "x"


def test_the_saved_tasks_are_named_as_studio_shows_them() -> None:
    from llmcompiler_graph.durability.saved_tasks import execute_task, plan_stream
    from llmcompiler_graph.nodes import EXECUTE_TASK_NODE, PLAN_STREAM_TASK

    assert (plan_stream.__name__, execute_task.__name__) == (PLAN_STREAM_TASK, EXECUTE_TASK_NODE)
