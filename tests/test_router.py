"""The routers and the auto agent that combines direct answers, Skeleton-of-Thought and LLMCompiler."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from llmcompiler_graph.auto import MODE_NODES, create_auto_agent
from llmcompiler_graph.router import (
    cross_validate,
    needs_tools,
    parse_route,
    prompted_route,
    suitable_for_skeleton,
    train_classifier,
    trained_route,
    training_data,
)
from llmcompiler_graph.testing import ScriptedChatModel
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool

SHIPPED = json.loads(files("llmcompiler_graph").joinpath("data/router_weights.json").read_text())


@pytest.mark.parametrize("name", ["skeleton", "tools"])
def test_the_shipped_classifiers_are_what_training_on_the_labelled_data_produces(name: str) -> None:
    texts, labels = training_data()[name]
    retrained = train_classifier(texts, labels)
    shipped = SHIPPED["classifiers"][name]
    assert retrained.bias == pytest.approx(shipped["bias"], abs=1e-5)
    assert retrained.weights.keys() == shipped["weights"].keys()
    assert all(retrained.weights[k] == pytest.approx(w, abs=1e-5) for k, w in shipped["weights"].items())


def test_the_shipped_figures_beat_the_majority_class_baseline() -> None:
    figures = SHIPPED["cross_validation"]["skeleton"]
    assert figures["examples"] == 80 and figures["positives"] == 37
    assert figures["majority_accuracy"] == pytest.approx(43 / 80)
    assert figures["accuracy"] > figures["majority_accuracy"] + 0.2


def test_cross_validation_counts_held_out_predictions_and_the_majority_baseline() -> None:
    texts = [f"list tips number {i}" for i in range(12)] + [f"write code number {i}" for i in range(8)]
    labels = [True] * 12 + [False] * 8
    figures = cross_validate(texts, labels, folds=4, repeats=1)
    assert figures["accuracy"] == 1.0 and figures["precision"] == 1.0 and figures["recall"] == 1.0
    assert figures["majority_accuracy"] == 0.6
    noise = cross_validate([f"same words {i % 2}" for i in range(20)], [i < 10 for i in range(20)], folds=4)
    assert noise["accuracy"] < 0.8  # labels unrelated to the text cannot be learned


@pytest.mark.parametrize(
    ("question", "mode"),
    [
        ("What is the combined population of France and Germany?", "tools"),
        ("Were Scott Derrickson and Ed Wood of the same nationality?", "tools"),
        ("What are some tips for staying productive while working from home?", "skeleton"),
        ("Write a C++ program to find the nth Fibonacci number using recursion.", "direct"),
    ],
)
def test_the_trained_router_sends_clear_cases_to_the_right_mode(question: str, mode: str) -> None:
    assert trained_route(question) == mode


def test_without_tools_the_trained_router_never_chooses_tools() -> None:
    assert needs_tools("How much taller is Mount Everest than K2?")
    assert trained_route("How much taller is Mount Everest than K2?", tools_available=False) != "tools"
    assert suitable_for_skeleton("How can I improve my time management skills?")


@pytest.mark.parametrize(
    ("reply", "tools_available", "mode"),
    [
        ("skeleton", True, "skeleton"),
        ("Tools.", True, "tools"),
        ("tools", False, "direct"),
        ("I think", True, "direct"),
    ],
)
def test_the_prompted_routers_reply_is_read_leniently(reply: str, tools_available: bool, mode: str) -> None:
    assert parse_route(reply, tools_available=tools_available) == mode


async def test_the_prompted_router_asks_the_model_with_the_question() -> None:
    model = ScriptedChatModel(responses=[" skeleton"])
    assert await prompted_route(model, "Why do people enjoy horror films?") == "skeleton"
    assert str(model.prompts[0][-1].content).endswith("Question: Why do people enjoy horror films? ->")


def by_role(messages: Sequence[BaseMessage]) -> str:
    """Plays every role of the auto agent's model from the prompt it gets."""
    prompt = "\n".join(str(m.content) for m in messages)
    if prompt.rstrip().endswith("->"):
        return {"Everest": "tools", "tips": "skeleton"}.get(
            next((k for k in ("Everest", "tips") if k in prompt.splitlines()[-1]), ""), "direct"
        )
    if prompt.endswith("Skeleton:\n"):
        return "1. Plan the day\n2. Take breaks"
    if prompt.endswith("Expansion:"):
        last_point = prompt.splitlines()[-2]
        return "Write a list each morning." if last_point.startswith("Point 1:") else "Stand up every hour."
    if prompt.startswith("Given a user query"):
        return '1. search("Mount Everest")\n2. search("K2")\n3. join()<END_OF_PLAN>'
    if "Thought: <reason" in prompt:
        return "Thought: both known.\nAction: Finish(Everest, by 238 m)"
    return "Hello! How can I help?"


def agent_model() -> ScriptedChatModel:
    return ScriptedChatModel(responses=[by_role] * 10)


@pytest.mark.parametrize("router", ["trained", "prompted"])
@pytest.mark.parametrize(
    ("question", "mode", "answer"),
    [
        ("How much taller is Mount Everest than K2?", "tools", "Everest, by 238 m"),
        ("What are your best tips for a productive day at work?", "skeleton",
         "1. Plan the day: Write a list each morning.\n2. Take breaks: Stand up every hour."),
        ("Write a haiku about the sea.", "direct", "Hello! How can I help?"),
    ],
)  # fmt: skip
async def test_the_auto_agent_answers_each_question_in_the_chosen_mode(
    router: str, question: str, mode: str, answer: str
) -> None:
    tools = [LocalSearchIndex.demo().as_tool(sentences=1), make_math_tool()]
    agent = create_auto_agent(agent_model(), tools, router=router).compile()
    routes: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    async for mode_name, item in agent.astream(
        {"messages": [("user", question)]}, stream_mode=["custom", "values"]
    ):
        if mode_name == "custom" and item["type"] == "route_chosen":
            routes.append(item)
        elif mode_name == "values":
            final = item
    assert [(r["mode"], r["router"]) for r in routes] == [(mode, router)]
    assert final["mode"] == mode
    assert final["messages"][-1].content == answer


async def test_the_auto_agent_shows_its_modes_as_nodes_and_its_subgraphs_events() -> None:
    tools = [LocalSearchIndex.demo().as_tool(sentences=1)]
    agent = create_auto_agent(agent_model(), tools).compile()
    assert set(MODE_NODES.values()) | {"route"} <= set(agent.get_graph().nodes)
    kinds = set()
    async for _, event in agent.astream(
        {"messages": [("user", "How much taller is Mount Everest than K2?")]},
        stream_mode="custom",
        subgraphs=True,
    ):
        kinds.add(event["type"])
    assert {"route_chosen", "task_started", "task_finished", "joiner_decision"} <= kinds


def test_an_unknown_router_is_refused() -> None:
    with pytest.raises(ValueError, match="router must be"):
        create_auto_agent(agent_model(), router="random")
