"""The demo question set and the text ReAct baseline (for models without tool calling)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.messages import BaseMessage

from llmcompiler_bench.datasets import load_dataset
from llmcompiler_bench.text_react import run_text_react
from llmcompiler_graph.testing import ScriptedChatModel
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool


def test_the_demo_question_set_has_fifty_distinct_questions_starting_with_the_readme_example() -> None:
    questions = load_dataset("demo")
    assert len(questions) == 50
    assert (questions[0].question, questions[0].label) == ("How much taller is Mount Everest than K2?", 238)
    assert len({q.question for q in questions}) == 50


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


async def test_text_react_reads_replies_made_of_content_blocks() -> None:
    model = ScriptedChatModel(
        responses=['Thought: compute.\nAction: math("2 + 2")', "Thought: done.\nAction: Finish(4)"],
        content_blocks=True,
    )
    result = await run_text_react(model, [make_math_tool()], "What is 2 + 2?")
    assert (result.finished, result.tool_calls, result.answer) == (True, ["math"], "4")
