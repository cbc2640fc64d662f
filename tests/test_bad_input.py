"""Bad plans and failing tools become observations; every run still ends with an answer."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.tools import tool

from llmcompiler_graph.state import Task
from tests.conftest import FINISH, ToolLog, build, hanging_tool, last_text, question, scripted

ANSWER = FINISH.format(answer="best effort")


async def run_plan(
    plan: str, tools: list[object], **kwargs: object
) -> tuple[dict[int, Task], list[str], str]:
    """Run one plan; return its tasks, its plan issues and the joiner's prompt."""
    model = scripted(plan, ANSWER)
    state = await build(model, tools, **kwargs).ainvoke(question())
    assert state["messages"][-1].content == "best effort"
    return state["tasks"], state.get("plan_issues", []), last_text(model, 1)


@pytest.mark.parametrize(
    ("bad_lines", "bad_idx", "message", "also_ran"),
    [
        ('1. search("unterminated', 1, "not closed", []),
        ('1. fly("to the moon")', 1, "unknown tool 'fly'; available tools: search", []),
        ('1. search("a", "b")', 1, "search(query) takes 1 argument(s) but 2 were given", []),
        ('1. search(q="a")', 1, "search(query) has no parameter 'q'", []),
        ('1. search("a", query="b")', 1, "got 'query' both by position and by name", []),
    ],
    ids=[
        "malformed-line",
        "unknown-tool",
        "too-many-arguments",
        "unknown-keyword",
        "argument-twice",
    ],
)
async def test_bad_task_becomes_an_error_observation_and_the_rest_still_runs(
    log: ToolLog, bad_lines: str, bad_idx: int, message: str, also_ran: list[str]
) -> None:
    plan = f'{bad_lines}\n8. search("unaffected")\n9. join()'
    tasks, _, joiner_prompt = await run_plan(plan, [log.search_tool()])
    assert tasks[bad_idx]["status"] == "error"
    assert message in (tasks[bad_idx]["error"] or "")
    assert message in joiner_prompt
    assert sorted(a["query"] for a in log.args_of("search")) == sorted([*also_ran, "unaffected"])
    assert tasks[8]["status"] == "done"


@pytest.mark.parametrize(
    ("lines", "queries"),
    [
        ('1. search("$7")', ["$7"]),
        ('1. search("$2")\n2. search("x")', ["$2", "x"]),
        ('1. search("$1")', ["$1"]),
        ('1. search("$2")\n2. search("$1")', ["$2", "result for $2"]),
    ],
    ids=["missing-reference", "forward-reference", "self-reference", "would-be-cycle"],
)
async def test_a_reference_to_no_earlier_task_is_text_so_no_cycle_can_form(
    log: ToolLog, lines: str, queries: list[str]
) -> None:
    tasks, _, _ = await run_plan(f'{lines}\n8. search("unaffected")\n9. join()', [log.search_tool()])
    assert sorted(a["query"] for a in log.args_of("search")) == sorted([*queries, "unaffected"])
    assert all(t["status"] == "done" for t in tasks.values())
    assert tasks[1]["dependencies"] == []


async def test_task_depending_on_a_failed_task_is_skipped_with_the_reason(log: ToolLog) -> None:
    plan = '1. fly("moon")\n2. search("after $1")\n3. search("independent")\n4. join()'
    tasks, _, joiner_prompt = await run_plan(plan, [log.search_tool()])
    assert tasks[2]["status"] == "skipped"
    assert "not run because $1 did not succeed" in (tasks[2]["error"] or "")
    assert [a["query"] for a in log.args_of("search")] == ["independent"]
    assert "ERROR: not run because $1 did not succeed" in joiner_prompt


async def test_missing_join_runs_the_tasks_and_tells_the_joiner(log: ToolLog) -> None:
    tasks, issues, joiner_prompt = await run_plan('1. search("a")\n2. search("b")', [log.search_tool()])
    assert [t["status"] for t in tasks.values()] == ["done", "done"]
    assert any("did not end with join()" in i for i in issues)
    assert "did not end with join()" in joiner_prompt


async def test_duplicate_id_keeps_the_first_task_and_reports_the_second(log: ToolLog) -> None:
    _, issues, joiner_prompt = await run_plan(
        '1. search("first")\n1. search("second")\n2. join()', [log.search_tool()]
    )
    assert [a["query"] for a in log.args_of("search")] == ["first"]
    assert any("reuses an id already used by this plan" in i for i in issues)
    assert "reuses an id" in joiner_prompt


@pytest.mark.parametrize("plan", ["", "I cannot help with that.", "1. join()<END_OF_PLAN>"])
async def test_empty_plan_goes_to_the_joiner_with_a_note(log: ToolLog, plan: str) -> None:
    tasks, issues, joiner_prompt = await run_plan(plan, [log.search_tool()])
    assert tasks == {}
    assert log.calls == []
    assert any("no actions" in i for i in issues)
    assert "(no tasks were executed)" in joiner_prompt


async def test_tool_that_raises_becomes_an_observation(log: ToolLog) -> None:
    @tool
    def explode(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(f"boom: {reason}")

    tasks, _, joiner_prompt = await run_plan(
        '1. explode("gas")\n2. search("ok")\n3. join()', [explode, log.search_tool()]
    )
    assert tasks[1]["status"] == "error"
    assert tasks[1]["error"] == "explode raised RuntimeError: boom: gas"
    assert tasks[2]["status"] == "done"
    assert "ERROR: explode raised RuntimeError: boom: gas" in joiner_prompt


async def test_arguments_the_schema_rejects_become_an_observation() -> None:
    @tool
    def repeat(times: int) -> str:
        """Repeat."""
        return "x" * times

    tasks, _, _ = await run_plan('1. repeat("many")\n2. join()', [repeat])
    assert tasks[1]["status"] == "error"
    assert "invalid arguments for repeat: times:" in (tasks[1]["error"] or "")


async def test_tool_that_never_returns_times_out_and_the_run_finishes() -> None:
    hang, cancelled = hanging_tool()
    tasks, _, joiner_prompt = await run_plan('1. hang("x")\n2. join()', [hang], task_timeout=0.2)
    assert tasks[1]["status"] == "error"
    assert "hang did not return within 0.2 s" in (tasks[1]["error"] or "")
    assert "did not return within" in joiner_prompt
    assert cancelled.is_set()


async def test_text_after_end_of_plan_is_never_run(log: ToolLog) -> None:
    tasks, _, _ = await run_plan(
        '1. search("a")\n2. join()<END_OF_PLAN>\n3. search("b")', [log.search_tool()]
    )
    assert list(tasks) == [1]
    assert [a["query"] for a in log.args_of("search")] == ["a"]


async def test_task_whose_dependency_fails_in_the_same_batch_is_skipped_not_run(log: ToolLog) -> None:
    @tool
    async def explode(reason: str) -> str:
        """Fails after a moment, while its dependant is already waiting for it."""
        await asyncio.sleep(0.05)
        raise ValueError(reason)

    tasks, _, joiner_prompt = await run_plan(
        '1. explode("no data")\n2. search("use $1")\n3. search("use $2")\n4. join()',
        [explode, log.search_tool()],
    )
    assert tasks[1]["status"] == "error"
    assert tasks[2]["status"] == tasks[3]["status"] == "skipped"
    assert "not run because $1 did not succeed (explode raised ValueError: no data)" in (
        tasks[2]["error"] or ""
    )
    assert "not run because $2 did not succeed" in (tasks[3]["error"] or "")
    assert log.calls == []
    assert "ERROR: not run because $1 did not succeed" in joiner_prompt
