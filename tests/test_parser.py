"""Plan and joiner parsing, and reference substitution (pure functions)."""

from __future__ import annotations

import pytest

from llmcompiler_graph.plan.parser import (
    ParsedCall,
    PlanEnd,
    PlanLineError,
    PlanSyntaxError,
    StreamingPlanParser,
    find_references,
    parse_call_arguments,
    parse_joiner_output,
    parse_plan,
    parse_plan_line,
    substitute_references,
)

PAPER_PLAN = """Thought: I need both heights.
1. search("Mount Everest height")
2. search("K2 height")
3. math("abs($1 - $2)", ["$1", "$2"])
4. join()<END_OF_PLAN>"""


def calls(items: list[object]) -> list[ParsedCall]:
    return [i for i in items if isinstance(i, ParsedCall)]


def test_paper_plan_parses_into_tasks_dependencies_and_a_join() -> None:
    items = parse_plan(PAPER_PLAN)
    parsed = calls(items)
    assert [(c.idx, c.tool) for c in parsed] == [(1, "search"), (2, "search"), (3, "math"), (4, "join")]
    assert parsed[0].thought == "I need both heights."
    assert parsed[1].thought is None
    assert parsed[2].args == ("abs($1 - $2)", ["$1", "$2"])
    assert parsed[2].dependencies == (1, 2)
    assert isinstance(items[-1], PlanEnd)


@pytest.mark.parametrize(
    ("line", "args", "kwargs", "deps"),
    [
        ('1. f("a", 2)', ("a", 2), {}, ()),
        ("1. f(query='a', k=3)", (), {"query": "a", "k": 3}, ()),
        ("1. f($1)", ("$1",), {}, (1,)),
        ("1. f(${12})", ("${12}",), {}, (12,)),
        ('1. f("${1}+${2}")', ("${1}+${2}",), {}, (1, 2)),
        ("1. f([$1, '$2'], {'k': $3})", (["$1", "$2"], {"k": "$3"}), {}, (1, 2, 3)),
        ("1. f(x=true, y=null, z=[1.5, False])", (), {"x": True, "y": None, "z": [1.5, False]}, ()),
        ('1. f("costs $5 today")', ("costs $5 today",), {}, (5,)),
        ('1. f("a, (b)")', ("a, (b)",), {}, ()),
        ("1. f()", (), {}, ()),
    ],
)
def test_arguments_positional_keyword_and_references_in_every_position(
    line: str, args: tuple[object, ...], kwargs: dict[str, object], deps: tuple[int, ...]
) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, ParsedCall)
    assert item.args == args
    assert dict(item.kwargs) == kwargs
    assert item.dependencies == deps


@pytest.mark.parametrize(
    "text",
    [
        '__import__("os").system("echo hi")',
        "1 + 1",
        "open('x')",
        "*xs",
        "**kw",
        "[x for x in y]",
        "lambda: 1",
    ],
)
def test_arguments_are_literals_only_never_evaluated(text: str) -> None:
    with pytest.raises(PlanSyntaxError):
        parse_call_arguments(text)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('2. search("unterminated', "not closed"),
        ("2. not a call at all", "expected an action"),
    ],
)
def test_malformed_numbered_line_is_a_declared_error_with_its_id(line: str, fragment: str) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, PlanLineError)
    assert item.idx == 2
    assert fragment in item.message


def test_free_text_and_code_fences_are_not_tasks() -> None:
    items = parse_plan("```\nHere is my plan:\n1. search('a')\n```\n2. join()")
    assert [c.idx for c in calls(items)] == [1, 2]
    assert calls(items)[0].thought == "Here is my plan:"


def test_streaming_parser_emits_each_task_exactly_when_its_line_completes() -> None:
    parser = StreamingPlanParser()
    text = '1. search("a")\n2. search("b")\n3. join()<END_OF_PLAN>'
    emitted_at: dict[int, int] = {}
    for position, char in enumerate(text):
        for item in parser.feed(char):
            if isinstance(item, ParsedCall):
                emitted_at[item.idx] = position
    assert emitted_at[1] == text.index("\n")
    assert emitted_at[2] == text.index("\n", text.index("\n") + 1)
    assert emitted_at[3] == len(text) - 1
    assert parser.done


def test_streaming_parser_ignores_everything_after_end_of_plan() -> None:
    parser = StreamingPlanParser()
    items = parser.feed("1. a()\n2. join()<END_OF_PLAN>\n3. b()\n") + parser.finish()
    assert [c.idx for c in calls(items)] == [1, 2]


def test_streaming_parser_parses_a_last_line_without_newline_on_finish() -> None:
    parser = StreamingPlanParser()
    assert parser.feed('1. search("a")') == []
    assert [c.idx for c in calls(parser.finish())] == [1]


def test_references_found_in_nested_structures() -> None:
    assert find_references({"a": ["$1", ("${2}",)], "$3": "x $4y"}) == {1, 2, 3}


def test_exact_reference_receives_the_result_as_is_and_embedded_reference_its_text() -> None:
    results = {1: 8849, 2: ["a", "b"], 3: "K2"}
    assert substitute_references("$1", results) == 8849
    assert substitute_references(" ${2} ", results) == ["a", "b"]
    assert substitute_references("${1}+${1} m and $3", results) == "8849+8849 m and K2"
    assert substitute_references("list: $2", results) == 'list: ["a", "b"]'
    assert substitute_references({"q": ["$3", {"k": "$1"}]}, results) == {"q": ["K2", {"k": 8849}]}


def test_reference_to_unknown_id_is_left_as_written() -> None:
    assert substitute_references("$9 and $1", {1: "x"}) == "$9 and x"


def test_joiner_finish_keeps_nested_parentheses() -> None:
    decision = parse_joiner_output("Thought: It is in Nepal.\nAction: Finish(Mount Everest (Nepal))")
    assert decision.action == "finish"
    assert decision.content == "Mount Everest (Nepal)"
    assert decision.thought == "It is in Nepal."


def test_joiner_replan_carries_feedback() -> None:
    decision = parse_joiner_output("Thought: missing K2.\nAction: Replan(search for K2 (the mountain))")
    assert decision.action == "replan"
    assert decision.content == "search for K2 (the mountain)"


def test_joiner_multiline_answer_and_unbalanced_parentheses() -> None:
    assert parse_joiner_output("Action: Finish(line one\nline two)").content == "line one\nline two"
    assert parse_joiner_output("Action: Finish(cut off (").content == "cut off ("


def test_joiner_output_without_action_is_taken_as_the_answer() -> None:
    decision = parse_joiner_output("The answer is 42.")
    assert decision.action == "finish"
    assert decision.content == "The answer is 42."
    assert not decision.well_formed


def test_reference_in_a_dict_key_takes_the_text_form_so_keys_stay_hashable() -> None:
    assert substitute_references({"$1": "$1"}, {1: ["a"]}) == {'["a"]': ["a"]}
