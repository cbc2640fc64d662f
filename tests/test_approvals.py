"""Human approval of calls with side effects: one pause, approve / reject / edit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from llmcompiler_graph import ThreadBusyError, create_llmcompiler
from llmcompiler_graph.execution.approval import SIDE_EFFECTS_METADATA_KEY
from tests.conftest import FINISH, Call, ToolLog, last_text, question, scripted

PLAN = (
    '1. search("a")\n'
    '2. send_email("team", "$1")\n'
    '3. send_email("boss", "hello")\n'
    '4. search("b")\n'
    '5. search("after $2")\n'
    "6. join()<END_OF_PLAN>"
)
THREAD = {"configurable": {"thread_id": "approvals"}}


def email_tool(log: ToolLog) -> StructuredTool:
    async def send_email(to: str, body: str) -> str:
        log.calls.append(Call("send_email", {"to": to, "body": body}, 0.0))
        return f"sent to {to}"

    return StructuredTool.from_function(coroutine=send_email, name="send_email", description="Send an email.")


def build(log: ToolLog, *responses: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("side_effect_tools", ["send_email"])
    model = scripted(PLAN, *responses)
    graph = create_llmcompiler(model, [log.search_tool(), email_tool(log)], **kwargs)
    return graph.compile(checkpointer=InMemorySaver()), model


@pytest.mark.parametrize("eager", ["auto", True])
async def test_one_pause_lists_every_side_effect_call_and_safe_tasks_run_first(
    log: ToolLog, eager: Any
) -> None:
    graph, _ = build(log, FINISH.format(answer="done"), eager=eager)
    await graph.ainvoke(question(), THREAD)
    snapshot = await graph.aget_state(THREAD)
    assert len(snapshot.interrupts) == 1
    payload = snapshot.interrupts[0].value
    assert payload["type"] == "approval_request"
    assert [(c["idx"], c["tool"], c["args"]) for c in payload["calls"]] == [
        (2, "send_email", {"to": "team", "body": "$1"}),
        (3, "send_email", {"to": "boss", "body": "hello"}),
    ]
    assert sorted(log.names()) == ["search", "search"]
    assert sorted(a["query"] for a in log.args_of("search")) == ["a", "b"]

    state = await graph.ainvoke(Command(resume="approve"), THREAD)
    assert state["messages"][-1].content == "done"
    assert sorted(a["to"] for a in log.args_of("send_email")) == ["boss", "team"]
    assert {"to": "team", "body": "result for a"} in log.args_of("send_email")
    assert "after sent to team" in [a["query"] for a in log.args_of("search")]


async def test_rejection_becomes_an_observation_and_dependents_are_skipped(log: ToolLog) -> None:
    graph, model = build(log, FINISH.format(answer="did not email"))
    await graph.ainvoke(question(), THREAD)
    state = await graph.ainvoke(Command(resume={"decision": "reject", "reason": "too risky"}), THREAD)
    assert log.args_of("send_email") == []
    tasks = state["tasks"]
    assert tasks[2]["error"] == tasks[3]["error"] == "rejected by the user: too risky"
    assert tasks[5]["status"] == "skipped"
    assert "ERROR: rejected by the user: too risky" in last_text(model, 1)
    assert state["messages"][-1].content == "did not email"


async def test_edited_arguments_are_used_and_may_reference_earlier_results(log: ToolLog) -> None:
    graph, _ = build(log, FINISH.format(answer="ok"))
    await graph.ainvoke(question(), THREAD)
    edit = {"decision": "edit", "args": {"3": {"to": "ops", "body": "see ${1}"}}}
    state = await graph.ainvoke(Command(resume=edit), THREAD)
    assert {"to": "ops", "body": "see result for a"} in log.args_of("send_email")
    assert state["tasks"][3]["dependencies"] == [1]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("yes", "resume an approval with 'approve', 'reject'"),
        ({"decision": "edit", "args": {"3": {"to": "ops", "body": "$5"}}}, "refer to [5]"),
        (
            {"decision": "edit", "args": {"3": {"to": "ops", "cc": "x"}}},
            "name ['cc'], which send_email does not take",
        ),
    ],
    ids=["not-a-decision", "reference-to-no-earlier-task", "unknown-parameter"],
)
async def test_a_bad_resume_value_is_refused_and_the_approval_stays_answerable(
    log: ToolLog, bad: Any, reason: str
) -> None:
    graph, _ = build(log, FINISH.format(answer="ok"))
    await graph.ainvoke(question(), THREAD)
    state = await graph.ainvoke(Command(resume=bad), THREAD)
    asked = graph.get_state(THREAD).interrupts
    assert len(asked) == 1 and reason in asked[0].value["error"]
    assert [c["idx"] for c in asked[0].value["calls"]] == [2, 3]
    assert log.args_of("send_email") == []  # nothing ran on the refused value
    state = await graph.ainvoke(Command(resume="approve"), THREAD)
    assert state["messages"][-1].content == "ok"
    assert sorted(a["to"] for a in log.args_of("send_email")) == ["boss", "team"]  # each once


async def test_tools_marked_in_metadata_need_approval_too(log: ToolLog) -> None:
    tool = email_tool(log)
    tool.metadata = {SIDE_EFFECTS_METADATA_KEY: True}
    model = scripted(PLAN, FINISH.format(answer="done"))
    graph = create_llmcompiler(model, [log.search_tool(), tool]).compile(checkpointer=InMemorySaver())
    await graph.ainvoke(question(), THREAD)
    assert len((await graph.aget_state(THREAD)).interrupts) == 1
    assert log.args_of("send_email") == []


async def test_approval_without_a_checkpointer_fails_clearly(log: ToolLog) -> None:
    model = scripted(PLAN, FINISH.format(answer="done"))
    graph = create_llmcompiler(model, [log.search_tool(), email_tool(log)], side_effect_tools=["send_email"])
    with pytest.raises(ValueError, match="compile it with a checkpointer"):
        await graph.compile().ainvoke(question())


def test_unknown_side_effect_tool_is_a_build_error(log: ToolLog) -> None:
    with pytest.raises(ValueError, match="unknown: \\['fax'\\]"):
        create_llmcompiler(scripted(), [log.search_tool()], side_effect_tools=["fax"])


async def test_every_plan_can_be_reviewed_before_anything_runs(log: ToolLog) -> None:
    model = scripted('1. search("a")\n2. search("b")\n3. join()', FINISH.format(answer="reviewed"))
    graph = create_llmcompiler(model, [log.search_tool()]).compile(
        checkpointer=InMemorySaver(), interrupt_after=["planner"]
    )
    await graph.ainvoke(question(), THREAD)
    planned = (await graph.aget_state(THREAD)).values["tasks"]
    assert [t["args"] for t in planned.values()] == [{"query": "a"}, {"query": "b"}]
    assert log.calls == []
    state = await graph.ainvoke(None, THREAD)
    assert state["messages"][-1].content == "reviewed"
    assert sorted(a["query"] for a in log.args_of("search")) == ["a", "b"]


async def test_two_resumes_of_one_approval_arriving_together_send_each_email_once(log: ToolLog) -> None:
    graph, _ = build(log, FINISH.format(answer="ok"), FINISH.format(answer="ok"))
    await graph.ainvoke(question(), THREAD)
    first, second = await asyncio.gather(
        graph.ainvoke(Command(resume="approve"), THREAD),
        graph.ainvoke(Command(resume="approve"), THREAD),
        return_exceptions=True,
    )
    outcomes = sorted([first, second], key=lambda outcome: isinstance(outcome, Exception))
    assert outcomes[0]["messages"][-1].content == "ok"
    assert isinstance(outcomes[1], ThreadBusyError)  # the double click is refused, not run
    assert sorted(a["to"] for a in log.args_of("send_email")) == ["boss", "team"]  # not twice each
