"""Replanning: context for the replanner, numbering, no re-runs, the replan budget."""

from __future__ import annotations

import pytest

from llmcompiler_graph.plan.prompts import JOINER_FINISH_ONLY_PROMPT, JOINER_SYSTEM_PROMPT
from tests.conftest import FINISH, ToolLog, build, last_text, question, scripted

REPLAN = "Thought: K2 is missing.\nAction: Replan(also look up K2 (the mountain))"


async def test_replanner_sees_plan_observations_and_feedback_and_reuses_earlier_results(log: ToolLog) -> None:
    model = scripted(
        '1. search("Everest")\n2. join()<END_OF_PLAN>',
        REPLAN,
        '3. search("K2")\n4. search("compare $1 with $3")\n5. join()<END_OF_PLAN>',
        FINISH.format(answer="Everest"),
    )
    state = await build(model, [log.search_tool()]).ainvoke(question("Which is taller?"))
    replan_prompt = last_text(model, 2)
    assert "1. search(query='Everest')\nObservation: result for Everest" in replan_prompt
    assert "also look up K2 (the mountain)" in replan_prompt
    assert "starting from 2" in replan_prompt
    assert state["messages"][-1].content == "Everest"
    assert [a["query"] for a in log.args_of("search")] == [
        "Everest",
        "K2",
        "compare result for Everest with result for K2",
    ]
    assert [t["plan_round"] for t in state["tasks"].values()] == [0, 1, 1]
    assert state["replans"] == 1


async def test_replan_that_reuses_a_finished_id_does_not_rerun_it(log: ToolLog) -> None:
    model = scripted(
        '1. search("Everest")\n2. join()<END_OF_PLAN>',
        REPLAN,
        '1. search("Everest")\n3. search("K2")\n4. join()<END_OF_PLAN>',
        FINISH.format(answer="done"),
    )
    state = await build(model, [log.search_tool()]).ainvoke(question())
    assert [a["query"] for a in log.args_of("search")] == ["Everest", "K2"]
    assert state["tasks"][2]["same_as"] == 1  # renumbered, and answered from the earlier call
    assert any("action 1 was renumbered 2" in n for n in state["plan_notes"])


async def test_calls_alternate_plan_join_and_budget_forces_a_finish(log: ToolLog) -> None:
    model = scripted(
        '1. search("a")\n2. join()<END_OF_PLAN>',
        REPLAN,
        '3. search("b")\n4. join()<END_OF_PLAN>',
        REPLAN,
        '5. search("c")\n6. join()<END_OF_PLAN>',
        "Thought: still unsure.\nAction: Finish(best guess: Everest)",
    )
    state = await build(model, [log.search_tool()], max_replans=2).ainvoke(question())
    assert model.calls == 6
    system_prompts = [str(p[0].content) for p in model.prompts]
    assert system_prompts[1] == system_prompts[3] == JOINER_SYSTEM_PROMPT
    assert system_prompts[5] == JOINER_FINISH_ONLY_PROMPT
    assert state["messages"][-1].content == "best guess: Everest"
    assert state["replans"] == 2


async def test_joiner_that_insists_on_replanning_after_the_budget_still_ends_with_an_answer(
    log: ToolLog,
) -> None:
    model = scripted('1. search("a")\n2. join()<END_OF_PLAN>', REPLAN)
    state = await build(model, [log.search_tool()], max_replans=0).ainvoke(question())
    assert model.calls == 2
    answer = state["messages"][-1].content
    assert "could not find a complete answer" in answer
    assert "also look up K2" in answer


@pytest.mark.parametrize("max_replans", [1, 3])
async def test_replans_are_bounded_by_max_replans(log: ToolLog, max_replans: int) -> None:
    responses: list[str] = []
    for round_ in range(max_replans + 1):
        responses += [f'{round_ + 1}. search("r{round_}")\n{round_ + 10}. join()<END_OF_PLAN>', REPLAN]
    model = scripted(*responses)
    state = await build(model, [log.search_tool()], max_replans=max_replans).ainvoke(question())
    assert model.calls == 2 * (max_replans + 1)
    assert len(log.calls) == max_replans + 1
    assert state["messages"][-1].type == "ai"
