"""The bundled tools: safe math, Wikipedia search (mocked, never the network), offline search."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from llmcompiler_graph.testing import ScriptedChatModel
from llmcompiler_graph.tools import (
    LocalSearchIndex,
    MathError,
    evaluate,
    make_math_tool,
    make_wikipedia_search,
)
from tests.conftest import FINISH, build, question, scripted


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("8849 - 8611", 238),
        ("abs(10935 * 0.8 - 8376 * 1.2)", pytest.approx(1303.2)),
        ("round(avg(68, 84), 1)", 76.0),
        ("max(1, min(5, 3)) ** 2", 9),
        ("2 ^ 10", 1024),
        ("sqrt(16) + pi - pi", 4.0),
    ],
)
def test_safe_math_computes_arithmetic(expression: str, value: Any) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('x')", "not allowed"),
        ("(1).__class__", "not allowed"),
        ("open('f')", "not allowed"),
        ("x + 1", "not allowed"),
        ("1 / 0", "division by zero"),
        ("10 ** 100000", "too large"),
        ("[1, 2]", "a list is not a number"),
        ("1 +", "not an arithmetic expression"),
    ],
)
def test_safe_math_rejects_everything_else(expression: str, message: str) -> None:
    with pytest.raises(MathError, match=message):
        evaluate(expression)


async def test_math_tool_computes_expressions_without_a_model() -> None:
    assert await make_math_tool().ainvoke({"problem": "(8849 - 8611) / 2"}) == "119"


async def test_math_tool_has_the_model_translate_word_problems_with_units() -> None:
    model = scripted("Thought: subtract the heights.\nExpression: 8849 - 8611")
    tool = make_math_tool(model)
    result = await tool.ainvoke(
        {"problem": "how much taller is $1 than $2", "context": ["8,849 m", "8,611 m"]}
    )
    assert result == "238"
    sent = "\n".join(str(m.content) for m in model.prompts[0])
    assert "- 8,849 m" in sent
    assert "how much taller" in sent


async def test_math_tool_reads_a_translation_made_of_content_blocks() -> None:
    model = ScriptedChatModel(responses=["Expression: 8849 - 8611"], content_blocks=True)
    result = await make_math_tool(model).ainvoke({"problem": "how much taller is $1 than $2"})
    assert result == "238"


async def test_bad_expression_from_the_model_is_an_observation_in_a_run() -> None:
    math_model = scripted("Expression: import os")
    plan = '1. math("how tall is it")\n2. join()'
    state = await build(scripted(plan, FINISH.format(answer="x")), [make_math_tool(math_model)]).ainvoke(
        question()
    )
    assert state["tasks"][1]["status"] == "error"
    assert "could not compute 'import os'" in (state["tasks"][1]["error"] or "")


class FakeWikipedia:
    """Stands in for the `wikipedia` module's functions (tests never touch the network)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import wikipedia

        self.module = wikipedia
        monkeypatch.setattr(wikipedia, "summary", self.summary)
        monkeypatch.setattr(wikipedia, "search", self.search)

    def summary(self, title: str, sentences: int = 5, auto_suggest: bool = True) -> str:
        if title == "Mercury":
            raise self.module.DisambiguationError("Mercury", ["Mercury (planet)", "Mercury (element)"])
        if title == "Mercury (planet)":
            return "Mercury is the first planet from the Sun."
        if title == "Atlantis":
            raise self.module.PageError("Atlantis")
        if title == "offline":
            raise ConnectionError("Name or service not known")
        if title == "slow":
            time.sleep(0.5)
        return f"{title} is a thing. ({sentences} sentences)"

    def search(self, query: str, results: int = 10) -> list[str]:
        return ["Atlantis (novel)", "Atlantis: The Lost Empire"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Mount Everest", "Mount Everest is a thing. (3 sentences)"),
        ("Atlantis", "Could not find [Atlantis]. Similar: ['Atlantis (novel)', 'Atlantis: The Lost Empire']"),
        (
            "Mercury",
            "Mercury is the first planet from the Sun.\n(Other pages named 'Mercury': Mercury (element))",
        ),
        ("offline", "Search for 'offline' failed (ConnectionError: Name or service not known)"),
        ("slow", "Search for 'slow' timed out after 0.1 s"),
    ],
)
async def test_wikipedia_search_turns_every_outcome_into_an_observation(
    monkeypatch: pytest.MonkeyPatch, query: str, expected: str
) -> None:
    FakeWikipedia(monkeypatch)
    result = await make_wikipedia_search(sentences=3, timeout=0.1).ainvoke({"query": query})
    assert result.startswith(expected)


def test_offline_index_ranks_titles_and_bodies_with_bm25(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Lhotse\nLhotse is 8,516 m tall.")
    (tmp_path / "notes.txt").write_text("Makalu is the fifth-highest mountain, 8,485 m.")
    index = LocalSearchIndex.from_folder(tmp_path)
    assert index.search("Lhotse")[0].title == "Lhotse"
    assert index.search("fifth highest mountain")[0].title == "notes"
    assert index.lookup("Atlantis") == "Could not find [Atlantis]. Similar: []"
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text('{"title": "Cho Oyu", "text": "Cho Oyu is 8,188 m tall. It is in Nepal."}\n')
    assert (
        LocalSearchIndex.from_jsonl(jsonl).lookup("Cho Oyu", sentences=1)
        == "Cho Oyu: Cho Oyu is 8,188 m tall."
    )


async def test_demo_corpus_answers_the_readme_question_end_to_end() -> None:
    search = LocalSearchIndex.demo().as_tool(sentences=2)
    math_model = scripted("Expression: 8849 - 8611")
    plan = (
        '1. search("Mount Everest")\n2. search("K2")\n'
        '3. math("how much taller is $1 than $2", ["$1", "$2"])\n4. join()'
    )
    model = scripted(plan, FINISH.format(answer="238 m"))
    state = await build(model, [search, make_math_tool(math_model)]).ainvoke(question())
    assert "8,849 m" in state["tasks"][1]["result"]
    assert "8,611 m" in state["tasks"][2]["result"]
    assert state["tasks"][3]["result"] == "238"
