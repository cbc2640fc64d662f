"""The local completion-style chat model: prompt rendering, and a real run when llama.cpp is installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llmcompiler_graph.local.model import LocalCompletionChatModel, render_prompt
from llmcompiler_graph.nodes import ModelCall, model_call_metadata
from llmcompiler_graph.plan.prompts import JOINER_SYSTEM_PROMPT
from llmcompiler_graph.tools.math_tool import MATH_SYSTEM_PROMPT


def test_chat_is_rendered_as_question_turns_and_the_joiner_is_primed_with_thought() -> None:
    prompt, prefix = render_prompt(
        [
            SystemMessage(JOINER_SYSTEM_PROMPT),
            HumanMessage("Hi"),
            AIMessage("Hello"),
            HumanMessage("Question: K2?"),
        ],
        ModelCall.JOINER,
    )
    assert prefix == "Thought:"
    assert prompt.endswith("Question: Hi\nAnswer: Hello\nQuestion: K2?\nThought:")


def test_messages_made_of_content_blocks_are_rendered_as_their_text() -> None:
    def blocks(text: str) -> list[str | dict[str, Any]]:
        return [{"type": "text", "text": text}]

    prompt, prefix = render_prompt(
        [SystemMessage(blocks(JOINER_SYSTEM_PROMPT)), HumanMessage(blocks("Hi")), AIMessage(blocks("Hello"))],
        ModelCall.JOINER,
    )
    assert prefix == "Thought:"
    assert prompt.endswith("Question: Hi\nAnswer: Hello\nThought:")


requires_local_model = pytest.mark.skipif(
    not __import__("llmcompiler_graph.local.model", fromlist=["x"]).local_model_available(),
    reason="the local model (llama-cpp-python and the Gemma 3 270M package) is not installed",
)


@pytest.mark.integration
@pytest.mark.slow
@requires_local_model
async def test_the_readme_example_answers_238_m_on_the_embedded_model() -> None:
    """The README's example, as `llmcompiler-graph ask` runs it: greedy, so every time."""
    from llmcompiler_bench.scoring import is_correct
    from llmcompiler_graph import create_llmcompiler
    from llmcompiler_graph.local.model import load_local_model
    from llmcompiler_graph.tools import build_tools

    model = load_local_model()
    graph = create_llmcompiler(model, build_tools("local", None, model)).compile()
    for _ in range(2):
        state = await graph.ainvoke({"messages": [("user", "How much taller is Mount Everest than K2?")]})
        answer = state["messages"][-1].content
        assert is_correct(answer, 238), answer
        assert state.get("replans", 0) == 0
        calls = [(task["tool"], task["status"]) for task in state["tasks"].values()]
        assert calls == [("search", "done"), ("search", "done"), ("math", "done")]


@pytest.mark.integration
@pytest.mark.slow
@requires_local_model
async def test_the_local_model_says_plainly_when_it_could_not_find_something() -> None:
    from langchain_core.tools import tool

    from llmcompiler_graph import create_llmcompiler
    from llmcompiler_graph.local.model import load_local_model
    from llmcompiler_graph.tools import make_math_tool

    @tool
    def search(query: str) -> str:
        """Look an entity up."""
        return f"Could not find [{query}]. Similar: []"

    model = load_local_model()
    graph = create_llmcompiler(model, [search, make_math_tool(model)], max_replans=0).compile()
    state = await graph.ainvoke({"messages": [("user", "How much taller is Mount Foo than Mount Bar?")]})
    assert state["messages"][-1].content.startswith("I could not find"), state["messages"][-1].content


@pytest.mark.integration
@requires_local_model
def test_the_fixed_prefix_is_evaluated_once_and_restored_afterwards() -> None:
    from llmcompiler_graph.local.model import load_local_model
    from llmcompiler_graph.tools.math_tool import MATH_SYSTEM_PROMPT as MATH

    model = load_local_model()
    math = {"metadata": model_call_metadata(ModelCall.MATH)}
    first = model.invoke([SystemMessage(MATH), HumanMessage("Problem: sum\nContext:\n- 3 m\n- 4 m")], math)
    model.invoke("What is the capital of France?")  # another prompt in between
    second = model.invoke([SystemMessage(MATH), HumanMessage("Problem: sum\nContext:\n- 5 m\n- 6 m")], math)
    assert first.content == "Expression: 3 + 4" and second.content == "Expression: 5 + 6"
    meta = second.response_metadata["local"]
    assert meta["kind"] == "math" and meta["cached_tokens"] > 500
    assert meta["evaluated_tokens"] < 100  # only what follows the cached prefix


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
    model = LocalCompletionChatModel(model_path="unused.gguf", use_grammars=False, protocol=False)
    model._llm = _ScriptedLlama(pieces)
    return model


def test_the_joiners_reply_ends_with_its_action_line_even_when_the_model_rambles_on() -> None:
    model = scripted_local_model([" Both", " known.\nAc", "tion: Finish(Eve", "rest)\n4. math(", "...)"])
    reply = model.invoke(
        [SystemMessage(JOINER_SYSTEM_PROMPT), HumanMessage("Question: Which is higher?")],
        {"metadata": model_call_metadata(ModelCall.JOINER, can_replan=True)},
    )
    assert reply.content == "Thought: Both known.\nAction: Finish(Everest)"


def test_the_math_translation_is_primed_and_cut_after_its_expression_line() -> None:
    model = scripted_local_model([" 8849 - 8611", "\nExpression: 1"])
    reply = model.invoke(
        [SystemMessage(MATH_SYSTEM_PROMPT), HumanMessage("Problem: difference")],
        {"metadata": model_call_metadata(ModelCall.MATH)},
    )
    assert reply.content == "Expression: 8849 - 8611"


def test_a_plain_question_is_neither_primed_nor_cut() -> None:
    model = scripted_local_model(["Paris", "\nQuestion: next"])
    assert model.invoke("Capital of France?").content == "Paris\nQuestion: next"


def test_loading_chatter_on_native_and_python_stderr_is_captured_not_shown(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import os
    import sys

    from llmcompiler_graph.local.model import _native_stderr_captured

    with _native_stderr_captured() as captured:
        os.write(2, b"native: using full-size SWA cache\n")
        print("python: log callback", file=sys.stderr)
        text = captured()
    assert "native: using full-size SWA cache" in text
    assert "python: log callback" in text
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "after\n"
