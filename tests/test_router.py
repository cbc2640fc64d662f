"""The routers and the auto agent that combines direct answers, Skeleton-of-Thought and LLMCompiler."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from llmcompiler_bench.router_training import (
    choose_thresholds,
    cross_validate,
    decision_figures,
    held_out_probabilities,
    labelled_questions,
    train_classifier,
    training_data,
)
from llmcompiler_graph.sot.auto import MODE_NODES, create_auto_agent
from llmcompiler_graph.sot.router import (
    needs_tools,
    parse_route,
    prompted_route,
    question_form,
    skeleton_probability,
    skeleton_verdict,
    suitable_for_skeleton,
    trained_route,
)
from llmcompiler_graph.testing import ScriptedChatModel
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool

SHIPPED = json.loads(files("llmcompiler_graph").joinpath("data/router_weights.json").read_text())
VALIDATION = SHIPPED["validation"]["skeleton"]["schemes"]


@pytest.mark.parametrize("name", ["skeleton", "tools"])
def test_the_shipped_classifiers_are_what_training_on_the_labelled_data_produces(name: str) -> None:
    texts, labels = training_data()[name]
    retrained = train_classifier(texts, labels, l2=1.0 if name == "skeleton" else 0.1)
    shipped = SHIPPED["classifiers"][name]
    assert retrained.bias == pytest.approx(shipped["bias"], abs=1e-5)
    assert retrained.weights.keys() == shipped["weights"].keys()
    assert all(retrained.weights[k] == pytest.approx(w, abs=1e-5) for k, w in shipped["weights"].items())


def test_the_labelled_questions_are_distinct_and_cover_many_kinds_and_styles() -> None:
    questions = labelled_questions()
    own = [q for q in questions if q.source != "vicuna"]
    assert len(own) == 471 and sum(q.suitable for q in own) == 160
    assert len({q.question.lower() for q in questions}) == len(questions)  # no duplicates, no Vicuna copies
    assert len({q.category for q in own}) >= 12 and len({q.source for q in own}) >= 6
    never_suitable = {"coding", "math", "factual", "creative", "writing", "transform", "conversation"}
    assert not any(q.suitable for q in own if q.category in never_suitable)


def test_the_shipped_held_out_figures_beat_the_majority_baseline_with_useful_recall() -> None:
    for scheme in ("leave-one-source-out", "leave-one-category-out", "vicuna-80 (trained without it)"):
        figures = VALIDATION[scheme]["shipped_at_base_rate"]
        assert figures["majority_accuracy"] == 0.73
        assert figures["accuracy"] >= 0.8 and figures["recall"] >= 0.5, scheme
        assert figures["precision"] >= 0.85, scheme
    thresholds = SHIPPED["thresholds"]["skeleton"]
    assert thresholds["direct_at"] <= 0.5 <= thresholds["skeleton_at"]


def test_the_old_vicuna_only_router_fails_on_the_projects_questions_as_the_issue_reports() -> None:
    """The reproduction of issue #17: trained on Vicuna-80 alone, worse than always saying no."""
    questions = labelled_questions()
    vicuna = [q for q in questions if q.source == "vicuna"]
    own = [q for q in questions if q.source != "vicuna"]
    old = train_classifier([q.question for q in vicuna], [q.suitable for q in vicuna])
    figures = decision_figures([old.probability(q.question) for q in own], [q.suitable for q in own])
    assert figures["accuracy"] < figures["majority_accuracy"]


def test_held_out_probabilities_never_see_their_own_group() -> None:
    texts = ["list tips a", "list tips b", "write code a", "write code b", "odd words c"]
    labels = [True, True, False, False, True]
    seen: list[list[str]] = []

    def train(train_texts: Sequence[str], train_labels: Sequence[bool]) -> Any:
        seen.append(list(train_texts))
        return lambda text: 1.0 if text in train_texts else 0.0

    probabilities = held_out_probabilities(texts, labels, ["a", "b", "a", "b", "c"], train)
    assert probabilities == [0.0] * 5
    assert sorted(len(s) for s in seen) == [3, 3, 4]


def test_decision_figures_count_abstentions_and_reweight_to_a_base_rate() -> None:
    probabilities = [0.9, 0.6, 0.5, 0.2, 0.1, 0.8]
    labels = [True, True, False, False, False, False]
    figures = decision_figures(probabilities, labels, skeleton_at=0.7, direct_at=0.3)
    assert figures["abstention"] == pytest.approx(2 / 6, abs=1e-3)  # 0.6 and 0.5
    assert figures["precision"] == 0.5 and figures["recall"] == 0.5
    assert figures["majority_accuracy"] == pytest.approx(4 / 6, abs=1e-3)
    reweighted = decision_figures(probabilities, labels, skeleton_at=0.7, direct_at=0.3, base_rate=0.5)
    assert reweighted["majority_accuracy"] == 0.5 and reweighted["recall"] == 0.5
    assert reweighted["accuracy"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.75)


def test_thresholds_err_towards_answering_directly() -> None:
    skeleton_at, direct_at = choose_thresholds([0.95, 0.9, 0.1, 0.05], [True, True, False, False])
    assert skeleton_at == 0.9 and direct_at == 0.1  # every threshold is perfect: the most cautious wins


def test_cross_validation_counts_held_out_predictions_and_the_majority_baseline() -> None:
    texts = [f"list tips number {i}" for i in range(12)] + [f"write code number {i}" for i in range(8)]
    labels = [True] * 12 + [False] * 8
    figures = cross_validate(texts, labels, folds=4, repeats=1)
    assert figures["accuracy"] == 1.0 and figures["precision"] == 1.0 and figures["recall"] == 1.0
    assert figures["majority_accuracy"] == 0.6
    noise = cross_validate([f"same words {i % 2}" for i in range(20)], [i < 10 for i in range(20)], folds=4)
    assert noise["accuracy"] < 0.8  # labels unrelated to the text cannot be learned


def test_question_form_reads_the_shape_of_the_request_not_its_topic() -> None:
    assert {"form:list_noun", "form:many"} <= question_form("What are the main causes of inflation?")
    assert "form:writing" in question_form("Write a poem about the main causes of inflation.")
    assert "form:code" in question_form("Why does `x == None` fail?")
    assert "form:short" in question_form("In one sentence, why is the sky blue?")


@pytest.mark.parametrize(
    ("question", "verdict"),
    [
        ("What are the advantages and disadvantages of nuclear energy?", "skeleton"),
        ("What are some tips for staying productive while working from home?", "skeleton"),
        ("Write a short story about a lighthouse keeper.", "direct"),
        ("What is the capital of Peru?", "direct"),
        ("Solve 3x + 4 = 19 for x.", "direct"),
        ("Translate 'good morning' into German.", "direct"),
    ],
)
def test_the_skeleton_router_is_confident_on_clear_cases(question: str, verdict: str) -> None:
    assert skeleton_verdict(question) == verdict
    assert suitable_for_skeleton(question) == (verdict == "skeleton")


def test_an_unsure_verdict_is_answered_directly() -> None:
    thresholds = SHIPPED["thresholds"]["skeleton"]
    unsure = [q.question for q in labelled_questions() if skeleton_verdict(q.question) == "unsure"]
    assert unsure  # the router does abstain on some of its own training questions
    for question in unsure[:5]:
        assert thresholds["direct_at"] < skeleton_probability(question) < thresholds["skeleton_at"]
        assert not suitable_for_skeleton(question)
        assert trained_route(question, tools_available=False) == "direct"


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


async def test_the_prompted_router_reads_a_reply_made_of_content_blocks() -> None:
    model = ScriptedChatModel(responses=[" skeleton"], content_blocks=True)  # as Anthropic's models reply
    assert await prompted_route(model, "Why do people enjoy horror films?") == "skeleton"


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


@pytest.mark.integration
def test_the_trained_router_runs_without_llama_cpp_numpy_or_the_benchmarks() -> None:
    """The shipped router is pure Python: no local model, no numpy, and no import of `bench`."""
    script = (
        "import sys\n"
        "sys.modules['llama_cpp'] = None\n"  # importing a None entry raises ImportError
        "sys.modules['numpy'] = None\n"
        "from llmcompiler_graph.sot.router import skeleton_verdict\n"
        "print(skeleton_verdict('What are the pros and cons of electric cars?'))\n"
        "print(any(name.startswith('llmcompiler_bench') for name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["skeleton", "False"]
