"""Property tests: any text parses into plan items or declared errors, never an exception."""

from __future__ import annotations

import contextlib

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llmcompiler_graph.plan.parser import (
    ParsedCall,
    PlanEnd,
    PlanLineError,
    PlanStrayCall,
    PlanSyntaxError,
    PlanThought,
    StreamingPlanParser,
    find_references,
    parse_call_arguments,
    parse_joiner_output,
    parse_plan,
    substitute_references,
)

PLAN_ALPHABET = st.sampled_from(
    [*list("0123456789.()[]{},\"'$ \n\\=:#-_abcjoinsearch"), "<END_OF_PLAN>", "join()"]
)
plan_like = st.lists(PLAN_ALPHABET, max_size=200).map("".join)
any_text = st.text(max_size=300)


@settings(max_examples=400, deadline=500)
@given(st.one_of(plan_like, any_text))
def test_any_text_yields_only_plan_items(text: str) -> None:
    for item in parse_plan(text):
        assert isinstance(item, ParsedCall | PlanLineError | PlanThought | PlanStrayCall | PlanEnd)


@settings(max_examples=200, deadline=None)
@given(st.one_of(plan_like, any_text), st.lists(st.integers(1, 7), min_size=1, max_size=20))
def test_chunking_never_changes_the_parsed_plan(text: str, cuts: list[int]) -> None:
    parser = StreamingPlanParser()
    items: list[object] = []
    position = 0
    for size in cuts * 50:
        if position >= len(text):
            break
        items += parser.feed(text[position : position + size])
        position += size
    items += parser.feed(text[position:]) + parser.finish()
    assert items == parse_plan(text)


@settings(max_examples=300, deadline=500)
@given(st.one_of(plan_like, any_text))
def test_argument_parsing_returns_or_raises_plan_syntax_error(text: str) -> None:
    try:
        args, kwargs = parse_call_arguments(text)
    except PlanSyntaxError:
        return
    assert isinstance(args, tuple)
    assert isinstance(kwargs, dict)


def test_deeply_nested_arguments_are_a_declared_error() -> None:
    for text in ("[" * 5000 + "]" * 5000, "(" * 5000 + ")" * 5000, "-" * 100_000 + "1"):
        with contextlib.suppress(PlanSyntaxError):
            parse_call_arguments(text)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_joiner_parsing_always_decides(text: str) -> None:
    decision = parse_joiner_output(text)
    assert decision.action in ("finish", "replan")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="ab $1{}2", max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.dictionaries(st.integers(1, 3), json_values, max_size=3))
def test_substitution_leaves_no_reference_to_a_known_result(
    value: object, results: dict[int, object]
) -> None:
    assume("$$" not in str(value))  # the escape $$N is meant to leave the literal text $N
    substituted = substitute_references(value, results)
    plain_results = {k: v for k, v in results.items() if not find_references(v)}
    if len(plain_results) == len(results):
        assert not (find_references(substituted) & set(results))
