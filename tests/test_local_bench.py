"""The local-model benchmark's machinery on a scripted model: text ReAct, both systems, the summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.messages import BaseMessage

from llmcompiler_graph.bench.local import (
    format_local_report,
    load_local_questions,
    run_local_benchmark,
    summarize,
)
from llmcompiler_graph.bench.text_react import run_text_react
from llmcompiler_graph.testing import ScriptedChatModel
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool


def test_the_local_question_set_has_fifty_answerable_questions_starting_with_the_readme_example() -> None:
    questions = load_local_questions()
    assert len(questions) == 50
    assert questions[0] == {
        "question": "How much taller is Mount Everest than K2?",
        "answer": 238,
        "kind": "difference",
        "searches": 2,
    }
    assert len({q["question"] for q in questions}) == 50


async def test_text_react_calls_one_tool_per_turn_and_feeds_back_observations_and_errors() -> None:
    prompts: list[str] = []

    def respond(reply: str) -> Callable[[Sequence[BaseMessage]], str]:
        def responder(messages: Sequence[BaseMessage]) -> str:
            prompts.append(str(messages[-1].content))
            return reply

        return responder

    model = ScriptedChatModel(
        responses=[
            respond('Thought: Everest first.\nAction: search("Mount Everest")'),
            respond("Thought: oops.\nAction: fly(1)"),
            respond('Thought: compute.\nAction: math("8849 - 8611")'),
            respond("Thought: done.\nAction: Finish(238 m (Everest is taller))"),
        ]
    )
    tools = [LocalSearchIndex.demo().as_tool(sentences=1), make_math_tool()]
    result = await run_text_react(model, tools, "How much taller is Everest than K2?")
    assert result.answer == "238 m (Everest is taller)"
    assert result.finished
    assert result.tool_calls == ["search", "fly", "math"]
    assert "Observation: Mount Everest" in prompts[1]
    assert "Observation: ERROR: there is no tool named 'fly'" in prompts[2]
    assert prompts[3].rstrip().endswith("Observation: 238")


async def test_text_react_stops_after_max_steps_with_the_last_reply_as_the_answer() -> None:
    model = ScriptedChatModel(responses=['Action: math("1 + 1")'] * 2 + ["Thought: still unsure"])
    result = await run_text_react(model, [make_math_tool()], "?", max_steps=2)
    assert (result.finished, result.tool_calls, result.answer) == (False, ["math", "math"], "still unsure")


def scripted_local_model() -> ScriptedChatModel:
    """Answers by role, as the local model would be asked: planner, joiner, math, ReAct."""

    def respond(messages: Sequence[BaseMessage]) -> str:
        system = str(messages[0].content)
        if system.startswith("Given a user query"):
            return (
                '1. search("Mount Everest")\n2. search("K2")\n3. math("8849 - 8611")\n4. join()<END_OF_PLAN>'
            )
        if "Thought: <reason" in system:
            return "Thought: known.\nAction: Finish(238)"
        if "Repeat Thought, Action and Observation" in system:
            scratchpad = str(messages[-1].content)
            if "Observation" not in scratchpad:
                return 'Thought: look up.\nAction: search("Mount Everest")'
            return "Thought: guess.\nAction: Finish(K2)"
        raise AssertionError(system[:80])

    return ScriptedChatModel(responses=[respond] * 20)


async def test_both_systems_run_each_question_and_the_summary_counts_what_happened() -> None:
    records = await run_local_benchmark(scripted_local_model(), load_local_questions(1), max_replans=1)
    assert [r["system"] for r in records] == ["llmcompiler", "react"]
    compiler, react = records
    assert (compiler["completed"], compiler["correct"], compiler["tasks_done"]) == (True, True, 3)
    assert compiler["llm_calls"] == 2  # planner and joiner; the math problem was already an expression
    assert (react["completed"], react["correct"], react["tool_calls"], react["llm_calls"]) == (
        True,
        False,
        1,
        2,
    )
    summary = summarize(records)
    assert summary["llmcompiler"]["plans_parsed"] == 1
    report = format_local_report(summary, "scripted")
    assert "| correct (paper's scoring) | 1/1 | 0/1 |" in report


async def test_a_run_that_raises_is_recorded_as_not_completed_and_the_benchmark_goes_on() -> None:
    records = await run_local_benchmark(ScriptedChatModel(responses=[]), load_local_questions(2))
    assert len(records) == 4
    assert not any(r["completed"] for r in records)
    assert all("ScriptExhaustedError" in r["error"] for r in records)
