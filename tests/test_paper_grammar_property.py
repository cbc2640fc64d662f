"""Every plan in the paper's grammar that the authors' parser accepts, ours reads into the same calls.

`authors_calls` restates, for comparison only, how the LLMCompiler authors' plan parser
reads a plan (its regular expression, `ast.literal_eval` with the raw text as a fallback,
dependencies on earlier ids named by `$N` / `${N}`). The generator writes plans the way
their prompts do: numbered actions from 1, optional `Thought:` lines, quoted strings that
may hold `$N` references and other punctuation, lists of references, unquoted titles for
one-argument tools, `$N` amounts that name no earlier action, and `N. join()<END_OF_PLAN>`.
Both readings are bound to the same tools and compared call by call.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.tools import BaseTool, StructuredTool

from llmcompiler_graph.plan.builder import PlanBuilder
from llmcompiler_graph.plan.parser import ParsedCall, parse_plan

_AUTHORS_ACTION = re.compile(r"(?:Thought: ([^\n]*)\n)?\n*(\d+)\. (\w+)\((.*)\)(\s*#\w+\n)?")
_AUTHORS_ID = re.compile(r"\$\{?(\d+)\}?")


def authors_calls(plan: str) -> list[tuple[int, str, tuple[Any, ...], list[int]]]:
    """(id, tool, positional args, dependencies) as the authors' parser reads `plan`."""
    calls = []
    for _thought, idx_text, tool, raw, _comment in _AUTHORS_ACTION.findall(plan):
        idx = int(idx_text)
        if tool == "join":
            break
        referenced = {int(n) for n in _AUTHORS_ID.findall(raw)}
        try:
            args: Any = ast.literal_eval(raw) if raw else ()
        except Exception:
            args = raw
        if not isinstance(args, list | tuple):
            args = (args,)
        calls.append((idx, tool, tuple(args), [i for i in range(1, idx) if i in referenced]))
    return calls


def _tool(name: str, params: list[str]) -> BaseTool:
    def run(**kwargs: Any) -> str:
        return ""

    fields = ", ".join(f'"{p}": {{"type": "string"}}' for p in params)
    schema = f'{{"type": "object", "properties": {{{fields}}}, "required": ["{params[0]}"]}}'
    return StructuredTool.from_function(
        func=run, name=name, description=name, args_schema=__import__("json").loads(schema)
    )


TOOLS = {"search": _tool("search", ["query"]), "math": _tool("math", ["problem", "context"])}
PARAMS = {"search": ["query"], "math": ["problem", "context"]}

_WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8
)
_PUNCT = st.sampled_from([" ", " ", ", ", ". ", "? ", ": ", " - ", " (", ") ", "'", "% ", " + ", " * "])


@st.composite
def quoted_text(draw: st.DrawFn, idx: int) -> str:
    """Text for a double-quoted argument: words, punctuation, and `$N` references."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 5))
        if choice == 0 and idx > 1:
            ref = draw(st.integers(1, idx - 1))
            parts.append(draw(st.sampled_from([f"${ref}", f"${{{ref}}}"])) + " ")
        elif choice == 1:
            parts.append(f"${draw(st.integers(idx, idx + 20))} ")  # an amount: names no earlier action
        else:
            parts.append(draw(_WORD) + draw(_PUNCT))
    return "".join(parts).strip() or "x"


@st.composite
def unquoted_title(draw: st.DrawFn, idx: int) -> str:
    """An unquoted title as in the paper's Movie prompt: words, maybe an apostrophe or a reference."""
    words = draw(st.lists(_WORD, min_size=1, max_size=6))
    if draw(st.booleans()):
        words[0] += "'s"
    if idx > 1 and draw(st.booleans()):
        words.append(f"${draw(st.integers(1, idx - 1))}")
    title = " ".join(words)
    try:  # a title that happens to be a Python literal (`1997`) is that literal for both parsers
        ast.literal_eval(title)
    except Exception:
        return title
    return title + " film"


@st.composite
def action(draw: st.DrawFn, idx: int) -> str:
    kind = draw(st.sampled_from(["search", "search-unquoted", "math", "math-context"]))
    if kind == "search":
        call = f'search("{draw(quoted_text(idx))}")'
    elif kind == "search-unquoted":
        call = f"search({draw(unquoted_title(idx))})"
    elif kind == "math":
        call = f'math("{draw(quoted_text(idx))}")'
    else:
        refs = draw(st.lists(st.integers(1, max(1, idx - 1)), min_size=1, max_size=3)) if idx > 1 else []
        context = ", ".join(f'"${r}"' for r in refs)
        call = f'math("{draw(quoted_text(idx))}", [{context}])'
    thought = f"Thought: {draw(_WORD)} {draw(_WORD)}\n" if draw(st.booleans()) else ""
    return f"{thought}{idx}. {call}"


@st.composite
def paper_plan(draw: st.DrawFn) -> str:
    size = draw(st.integers(1, 6))
    lines = [draw(action(idx)) for idx in range(1, size + 1)]
    return "\n".join([*lines, f"{size + 1}. join()<END_OF_PLAN>"])


def our_calls(plan: str) -> list[tuple[int, str, tuple[Any, ...], list[int]]]:
    builder = PlanBuilder(TOOLS, {}, 0)
    for item in parse_plan(plan):
        builder.add(item)
    assert builder.joined and builder.issues == []
    calls = []
    for task in builder.tasks.values():
        assert task["error"] is None, task
        names = PARAMS[task["tool"]]
        args = tuple(task["args"][name] for name in names if name in task["args"])
        calls.append((task["idx"], task["tool"], args, task["dependencies"]))
    return calls


@settings(max_examples=300, deadline=None)
@given(paper_plan())
def test_plans_in_the_paper_grammar_read_the_same_as_the_authors_parser(plan: str) -> None:
    expected = authors_calls(plan)
    assert len(expected) == plan.count("\n") - plan.count("Thought:")  # the generator's plan is well-formed
    assert our_calls(plan) == expected


def test_the_comparison_can_fail() -> None:
    # A plan the authors read differently (a bare list of references): the check notices.
    plan = '1. search("a")\n2. math(["$1"])\n3. join()<END_OF_PLAN>'
    assert isinstance(parse_plan(plan)[1], ParsedCall)
    assert our_calls(plan) != authors_calls(plan)
