"""Limits, de-duplication of identical calls, and cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.tools import StructuredTool

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.execution.runner import DEDUPLICATE_METADATA_KEY
from llmcompiler_graph.plan.prompts import JOINER_FINISH_ONLY_PROMPT
from tests.conftest import FINISH, ToolLog, build, last_text, question, scripted

SIX = "\n".join(f'{i}. search("q{i}")' for i in range(1, 7)) + "\n7. join()<END_OF_PLAN>"


@pytest.mark.parametrize("eager", [True, False])
async def test_max_tasks_per_plan_runs_the_first_tasks_and_stops_reading(log: ToolLog, eager: bool) -> None:
    model = scripted(SIX, FINISH.format(answer="x"))
    state = await build(model, [log.search_tool()], max_tasks_per_plan=3, eager=eager).ainvoke(question())
    assert sorted(a["query"] for a in log.args_of("search")) == ["q1", "q2", "q3"]
    assert any("max_tasks_per_plan=3" in issue for issue in state["plan_issues"])
    assert "max_tasks_per_plan=3" in last_text(model, 1)
    plan_tokens = [t for call, t in model.token_times if call == 0]
    assert len(plan_tokens) < len(SIX.split())


async def test_max_plan_tokens_cuts_the_plan_and_runs_what_was_parsed(log: ToolLog) -> None:
    model = scripted(SIX, FINISH.format(answer="x"))
    state = await build(model, [log.search_tool()], max_plan_tokens=9).ainvoke(question())
    assert [a["query"] for a in log.args_of("search")] == ["q1", "q2"]
    assert any("max_plan_tokens=9" in issue for issue in state["plan_issues"])


async def test_run_timeout_abandons_slow_tools_and_forces_an_answer(log: ToolLog) -> None:
    plan = '1. search("slow")\n2. search("after $1")\n3. search("quick")\n4. join()'
    model = scripted(plan, "Thought: not enough.\nAction: Replan(try again)")
    slow = log.search_tool(latency=lambda q: 30.0 if q == "slow" else 0.0)
    state = await build(model, [slow], run_timeout=0.3, task_timeout=60).ainvoke(question())
    tasks = state["tasks"]
    assert "stopped at the run deadline" in (tasks[1]["error"] or "")
    assert tasks[2]["status"] == "skipped"
    assert tasks[3]["status"] == "done"
    assert model.calls == 2
    assert str(model.prompts[1][0].content) == JOINER_FINISH_ONLY_PROMPT
    assert "ran out of time" in state["messages"][-1].content


async def test_run_timeout_stops_a_plan_that_streams_too_long(log: ToolLog) -> None:
    # The joiner answers within the one run_timeout it has after the deadline.
    model = scripted(SIX, "Action: Finish(x)", token_delay=0.05)
    state = await build(model, [log.search_tool()], run_timeout=0.5).ainvoke(question())  # plan: ~1.4 s
    assert any("deadline" in issue and "streamed" in issue for issue in state["plan_issues"])
    assert len(log.calls) < 6
    assert state["messages"][-1].content == "x"


async def test_identical_calls_run_once_within_a_plan_and_across_replans(log: ToolLog) -> None:
    model = scripted(
        '1. search("x")\n2. search("x")\n3. search("y")\n4. join()',
        "Thought: again.\nAction: Replan(more)",
        '5. search("x")\n6. search("z")\n7. join()',
        FINISH.format(answer="done"),
    )
    state = await build(model, [log.search_tool(latency=0.05)]).ainvoke(question())
    assert sorted(a["query"] for a in log.args_of("search")) == ["x", "y", "z"]
    tasks = state["tasks"]
    assert tasks[2]["result"] == tasks[5]["result"] == tasks[1]["result"] == "result for x"
    assert {tasks[2].get("same_as"), tasks[5].get("same_as")} == {1}
    assert tasks[1].get("same_as") is None


async def test_a_tool_can_opt_out_of_deduplication(log: ToolLog) -> None:
    tool = log.search_tool()
    tool.metadata = {DEDUPLICATE_METADATA_KEY: False}
    model = scripted('1. search("x")\n2. search("x")\n3. join()', FINISH.format(answer="done"))
    await build(model, [tool]).ainvoke(question())
    assert [a["query"] for a in log.args_of("search")] == ["x", "x"]


@pytest.mark.parametrize("eager", [True, False])
async def test_cancelling_a_run_cancels_its_tools_and_nothing_keeps_running(eager: bool) -> None:
    started, cancelled, completed = asyncio.Event(), asyncio.Event(), []

    async def slow(topic: str) -> str:
        started.set()
        try:
            await asyncio.sleep(2)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        completed.append(topic)
        return topic

    tool = StructuredTool.from_function(coroutine=slow, name="slow", description="Slow.")
    model = scripted('1. slow("a")\n2. slow("b")\n3. join()', FINISH.format(answer="x"))
    run = asyncio.create_task(build(model, [tool], eager=eager).ainvoke(question()))
    await asyncio.wait_for(started.wait(), 5)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.wait_for(cancelled.wait(), 5)
    await asyncio.sleep(2.2)
    assert completed == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tasks_per_plan": 0}, "max_tasks_per_plan must be an integer >= 1"),
        ({"max_plan_tokens": -5}, "max_plan_tokens must be an integer >= 1"),
        ({"run_timeout": 0}, "run_timeout must be a positive number"),
        ({"eager": "sometimes"}, "eager must be True, False or 'auto'"),
    ],
)
def test_bad_limits_fail_at_build_time(kwargs: dict[str, Any], message: str) -> None:
    def search(query: str) -> str:
        """Search."""
        return query

    with pytest.raises(ValueError, match=message):
        create_llmcompiler(scripted(), [search], **kwargs)
