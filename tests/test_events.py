"""Live events on stream_mode="custom" and token streaming on stream_mode="messages"."""

from __future__ import annotations

from typing import Any

from tests.conftest import FINISH, ToolLog, build, question, scripted

PLAN = 'Thought: two lookups.\n1. search("a")\n2. search("b $1")\n3. fly("x")\n4. join()<END_OF_PLAN>'


async def collect(graph: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return [event async for event in graph.astream(question(), stream_mode="custom", **kwargs)]


async def test_each_task_is_parsed_then_started_then_finished_and_the_joiner_decides_last(
    log: ToolLog,
) -> None:
    model = scripted(PLAN, FINISH.format(answer="done"))
    events = await collect(build(model, [log.search_tool(latency=0.01)]))
    kinds = [(e["type"], e.get("idx")) for e in events]
    for idx in (1, 2):
        assert kinds.index(("task_parsed", idx)) < kinds.index(("task_started", idx))
        assert kinds.index(("task_started", idx)) < kinds.index(("task_finished", idx))
    assert kinds.index(("task_finished", 1)) < kinds.index(("task_started", 2))
    parsed_unknown = next(e for e in events if e["type"] == "task_parsed" and e["idx"] == 3)
    assert "unknown tool 'fly'" in parsed_unknown["error"]
    assert ("task_started", 3) not in kinds
    finished = {e["idx"]: e for e in events if e["type"] == "task_finished"}
    assert finished[1]["status"] == "done"
    assert finished[1]["result"] == "result for a"
    assert finished[1]["duration"] >= 0
    started_2 = next(e for e in events if e["type"] == "task_started" and e["idx"] == 2)
    assert started_2["args"] == {"query": "b result for a"}
    plan_done = next(e for e in events if e["type"] == "plan_finished")
    assert plan_done["num_tasks"] == 3
    assert events[-1]["type"] == "joiner_decision"
    assert events[-1]["action"] == "finish"
    assert events[-1]["content"] == "done"
    assert events[-1]["thought"] == "I have what I need."


async def test_tasks_are_published_while_the_planner_is_still_streaming(log: ToolLog) -> None:
    model = scripted(PLAN, FINISH.format(answer="done"), token_delay=0.01)
    events = await collect(build(model, [log.search_tool()]))
    plan_tokens = [t for call, t in model.token_times if call == 0]
    first_parsed = next(e for e in events if e["type"] == "task_parsed" and e["idx"] == 1)
    assert first_parsed["time"] < plan_tokens[-1]
    tokens_before = sum(1 for t in plan_tokens if t <= first_parsed["time"])
    assert tokens_before < len(plan_tokens) - 5


async def test_replan_decision_event_counts_replans(log: ToolLog) -> None:
    model = scripted(
        '1. search("a")\n2. join()',
        "Thought: more.\nAction: Replan(need b)",
        '2. search("b")\n3. join()',
        FINISH.format(answer="ok"),
    )
    events = await collect(build(model, [log.search_tool()]))
    decisions = [e for e in events if e["type"] == "joiner_decision"]
    assert [(d["action"], d["replans"], d["content"]) for d in decisions] == [
        ("replan", 1, "need b"),
        ("finish", 1, "ok"),
    ]
    assert [e["plan_round"] for e in events if e["type"] == "task_parsed"] == [0, 1]


async def test_with_stream_protocol_planner_and_joiner_tokens_stream_on_messages_mode(log: ToolLog) -> None:
    plan = '1. search("a")\n2. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="done"))
    graph = build(model, [log.search_tool()], stream_protocol=True)
    by_node: dict[str, str] = {}
    async for chunk, metadata in graph.astream(question(), stream_mode="messages"):
        node = metadata["langgraph_node"]
        by_node[node] = by_node.get(node, "") + str(chunk.content)
    assert by_node["planner"] == plan.removesuffix("<END_OF_PLAN>")  # a provider stops at the marker
    assert "Action: Finish(done)" in by_node["joiner"]


def test_sync_stream_delivers_custom_events(log: ToolLog) -> None:
    model = scripted('1. search("a")\n2. join()', FINISH.format(answer="done"))
    events = list(build(model, [log.search_tool()], eager=False).stream(question(), stream_mode="custom"))
    assert [e["type"] for e in events] == [
        "task_parsed",
        "plan_finished",
        "task_started",
        "task_finished",
        "joiner_decision",
    ]
