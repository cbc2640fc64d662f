"""Skeleton-of-Thought: parallel point expansion, order, fallbacks, failures, eager expansion."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from llmcompiler_graph.sot.graph import (
    ASSEMBLE_NODE,
    DIRECT_NODE,
    EXPAND_NODE,
    SKELETON_NODE,
    create_skeleton_of_thought,
)
from llmcompiler_graph.testing import ScriptedChatModel

SKELETON = "1. Fixed schedule\n2. Limit screens\n3. Dark room"
EXPANSIONS = {1: "Sleep at the same hour.", 2: "Stop phones an hour before bed.", 3: "Use thick curtains."}


def by_role(
    skeleton: str = SKELETON, *, fail_point: int | None = None, direct: str = "A direct answer."
) -> Any:
    """Answers a skeleton prompt, an expansion prompt (by its point) or a direct question."""

    def respond(messages: Sequence[BaseMessage]) -> str:
        prompt = str(messages[-1].content)
        point = re.search(r"Point (\d+): [^\n]*\nExpansion:$", prompt)
        if point is not None:
            index = int(point.group(1))
            if index == fail_point:
                raise RuntimeError("the model timed out")
            return EXPANSIONS[index]
        if prompt.endswith("Skeleton:\n"):
            return skeleton
        return direct

    return respond


def model(skeleton: str = SKELETON, token_delay: float = 0.0, **kwargs: Any) -> ScriptedChatModel:
    return ScriptedChatModel(responses=[by_role(skeleton, **kwargs)] * 8, token_delay=token_delay)


def ask(text: str = "How can I sleep better?") -> dict[str, Any]:
    return {"messages": [("user", text)]}


async def test_every_point_is_expanded_and_the_answer_keeps_skeleton_order() -> None:
    graph = create_skeleton_of_thought(model()).compile()
    state = await graph.ainvoke(ask())
    assert state["mode"] == "skeleton"
    assert state["points"] == ["Fixed schedule", "Limit screens", "Dark room"]
    assert state["messages"][-1].content == (
        "1. Fixed schedule: Sleep at the same hour.\n"
        "2. Limit screens: Stop phones an hour before bed.\n"
        "3. Dark room: Use thick curtains."
    )


async def test_expansions_run_in_parallel_not_one_after_another() -> None:
    # the three expansions stream 9, 11 and 5 tokens at 0.05 s each: ~1.0 s in sequence
    graph = create_skeleton_of_thought(model(token_delay=0.05)).compile()
    finished: dict[int, float] = {}
    durations: list[float] = []
    async for event in graph.astream(ask(), stream_mode="custom"):
        if event["type"] == "skeleton_finished":
            skeleton_done = time.perf_counter()
        if event["type"] == "point_expanded":
            finished[event["index"]] = time.perf_counter()
            durations.append(event["duration"])
    assert sorted(finished) == [1, 2, 3]
    expansion_phase = max(finished.values()) - skeleton_done
    assert expansion_phase < 0.7 * sum(durations)


@pytest.mark.parametrize("eager", [False, True])
async def test_each_expansion_streams_tokens_tagged_with_its_point(eager: bool) -> None:
    graph = create_skeleton_of_thought(model(), eager_expansion=eager).compile()
    text_by_point: dict[int, str] = {}
    async for chunk, metadata in graph.astream(ask(), stream_mode="messages"):
        if metadata["langgraph_node"] == EXPAND_NODE:
            point = metadata["sot_point"]
            text_by_point[point] = text_by_point.get(point, "") + str(chunk.content)
    assert text_by_point == EXPANSIONS


@pytest.mark.parametrize("skeleton", ["1. Just one point", "I would simply say: sleep more.", ""])
async def test_a_skeleton_with_fewer_than_two_points_falls_back_to_a_direct_answer(skeleton: str) -> None:
    scripted = model(skeleton)
    state = await create_skeleton_of_thought(scripted).compile().ainvoke(ask())
    assert state["mode"] == "direct"
    assert state["messages"][-1].content == "A direct answer."
    assert scripted.calls == 2  # the skeleton, then the direct answer; no expansion


async def test_a_point_that_fails_keeps_its_title_and_the_other_points_are_answered() -> None:
    state = await create_skeleton_of_thought(model(fail_point=2)).compile().ainvoke(ask())
    assert state["messages"][-1].content == (
        "1. Fixed schedule: Sleep at the same hour.\n2. Limit screens\n3. Dark room: Use thick curtains."
    )
    assert state["point_errors"] == {2: "RuntimeError: the model timed out"}


async def test_eager_expansion_starts_before_the_skeleton_finishes_and_sees_the_skeleton_so_far() -> None:
    scripted = model(token_delay=0.03)
    graph = create_skeleton_of_thought(scripted, eager_expansion=True).compile()
    state = await graph.ainvoke(ask())
    skeleton_call = next(
        i for i, p in enumerate(scripted.prompts) if str(p[-1].content).endswith("Skeleton:\n")
    )
    skeleton_end = max(t for call, t in scripted.token_times if call == skeleton_call)
    first_expansion_token = min(t for call, t in scripted.token_times if call != skeleton_call)
    assert first_expansion_token < skeleton_end
    first_point_prompt = next(
        str(p[-1].content)
        for p in scripted.prompts
        if str(p[-1].content).endswith("Point 1: Fixed schedule\nExpansion:")
    )
    assert "2. Limit screens" not in first_point_prompt.split("Question: How can I sleep better?")[1]
    assert state["messages"][-1].content.startswith("1. Fixed schedule: Sleep at the same hour.")


async def test_with_eager_expansion_the_skeleton_records_the_expansions_it_started() -> None:
    graph = create_skeleton_of_thought(model(token_delay=0.01), eager_expansion=True).compile()
    nodes = [node async for update in graph.astream(ask(), stream_mode="updates") for node in update]
    assert nodes == [SKELETON_NODE, ASSEMBLE_NODE]  # no point was left for an expand_point node
    state = await graph.ainvoke(ask())
    assert state["expansions"] == EXPANSIONS
    assert state["messages"][-1].content.count("\n") == 2


async def test_eager_expansions_are_stopped_when_the_skeleton_falls_back_to_a_direct_answer() -> None:
    scripted = model("1. Just one point\nThat is all I would say here.", token_delay=0.02)
    state = await create_skeleton_of_thought(scripted, eager_expansion=True).compile().ainvoke(ask())
    assert state["mode"] == "direct"
    assert scripted.calls == 3  # the skeleton, the started expansion, the direct answer
    tokens = len(scripted.token_times)
    await asyncio.sleep(0.3)
    assert len(scripted.token_times) == tokens  # nothing is left running


async def test_cancelling_a_run_stops_the_expansions_its_skeleton_started() -> None:
    scripted = model(token_delay=0.02)
    graph = create_skeleton_of_thought(scripted, eager_expansion=True).compile()
    run = asyncio.ensure_future(graph.ainvoke(ask()))
    while scripted.calls < 2:  # the first point's expansion has started
        await asyncio.sleep(0.005)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    tokens = len(scripted.token_times)
    await asyncio.sleep(0.3)
    assert len(scripted.token_times) == tokens


async def test_a_point_is_sent_with_its_question_skeleton_and_index_only() -> None:
    graph = create_skeleton_of_thought(model()).compile()
    sent = [
        task["input"]
        async for task in graph.astream(ask(), stream_mode="tasks")
        if task["name"] == EXPAND_NODE and "input" in task
    ]
    points = ["Fixed schedule", "Limit screens", "Dark room"]
    assert sorted(sent, key=lambda payload: payload["index"]) == [
        {"index": index, "points": points, "question": "How can I sleep better?"} for index in (1, 2, 3)
    ]


async def test_without_eager_expansion_every_point_sees_the_whole_skeleton() -> None:
    scripted = model()
    await create_skeleton_of_thought(scripted).compile().ainvoke(ask())
    expansion_prompts = [str(p[-1].content) for p in scripted.prompts if "Expansion:" in str(p[-1].content)]
    assert len(expansion_prompts) == 3
    assert all(prompt.count("3. Dark room") == 1 for prompt in expansion_prompts)


async def test_a_second_question_on_a_thread_gets_a_fresh_skeleton() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    graph = create_skeleton_of_thought(model()).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke(ask(), config)
    state = await graph.ainvoke(ask("Any other tips?"), config)
    assert len(state["expansions"]) == 3
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]


def test_the_graph_shows_its_nodes_and_refuses_impossible_point_limits() -> None:
    nodes = set(create_skeleton_of_thought(model()).compile().get_graph().nodes)
    assert {SKELETON_NODE, EXPAND_NODE, ASSEMBLE_NODE, DIRECT_NODE} <= nodes
    with pytest.raises(ValueError, match="min_points"):
        create_skeleton_of_thought(model(), min_points=5, max_points=3)


def test_sync_invoke_works_too() -> None:
    state = create_skeleton_of_thought(model()).compile().invoke(ask())
    assert state["messages"][-1].content.count("\n") == 2
