"""Plans and joiner replies as real models and the paper's own prompts write them."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool

from llmcompiler_graph.plan.parser import (
    ParsedCall,
    PlanLineError,
    PlanStrayCall,
    PlanSyntaxError,
    PlanThought,
    StreamingPlanParser,
    parse_call_arguments,
    parse_joiner_output,
    parse_plan,
    parse_plan_line,
)
from llmcompiler_graph.plan.references import substitute_references
from tests.conftest import FINISH, ToolLog, build, last_text, question, scripted

# --------------------------------------------------------------------------- plan lines


@pytest.mark.parametrize(
    ("line", "args"),
    [
        # The paper's Movie prompt writes titles without quotes.
        (
            "5. search(Austin Powers International Man of Mystery)",
            ("Austin Powers International Man of Mystery",),
        ),
        ("1. search(Arthur's Magazine)", ("Arthur's Magazine",)),
        ("1. search(Mount Everest (Nepal))", ("Mount Everest (Nepal)",)),
        ("2. search(height of $1)", ("height of $1",)),
        ('3. math(abs($1 - $2), ["$1", "$2"])', ("abs($1 - $2)", ["$1", "$2"])),
    ],
)
def test_unquoted_arguments_are_read_as_text_with_a_note(line: str, args: tuple[Any, ...]) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, ParsedCall)
    assert item.args == args
    assert item.unquoted and any("unquoted" in note for note in item.notes)


def test_unquoted_arguments_that_parse_as_several_keep_each_as_text() -> None:
    item = parse_plan_line("1. lookup(Titanic, 1997)")
    assert isinstance(item, ParsedCall)
    assert (item.args, item.arguments, item.unquoted) == (("Titanic", 1997), "Titanic, 1997", True)


def test_an_unquoted_keyword_value_is_that_keyword_as_text() -> None:
    item = parse_plan_line("1. search(query=Austin Powers)")
    assert isinstance(item, ParsedCall)
    assert (item.args, dict(item.kwargs)) == ((), {"query": "Austin Powers"})


@pytest.mark.parametrize(
    ("line", "kwargs", "note"),
    [
        # LangGraph's LLMCompiler tutorial (hub prompt) format line, verbatim.
        (
            '1. tool_1(arg1="arg1", arg2=3.5, ...)',
            {"arg1": "arg1", "arg2": 3.5},
            "ignored the last argument '...'",
        ),
        # The paper's Movie style (unquoted titles) with keywords.
        ("1. search(query=Star Wars, limit=3)", {"query": "Star Wars", "limit": 3}, "read as keywords"),
        (
            '1. search(query=height of $1, lang="en")',
            {"query": "height of $1", "lang": "en"},
            "read as keywords",
        ),
        ("1. f(a=x, b=[1, 2], c=$1, ...)", {"a": "x", "b": [1, 2], "c": "$1"}, "ignored the last argument"),
    ],
)
def test_several_keywords_not_in_python_are_each_read(line: str, kwargs: dict[str, Any], note: str) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, ParsedCall)
    assert (item.args, dict(item.kwargs)) == ((), kwargs)
    assert any(note in n for n in item.notes)


@pytest.mark.parametrize(
    ("line", "kwargs"),
    [
        ("1. search(query=Star Wars, the movie)", {"query": "Star Wars, the movie"}),  # one keyword
        ("1. search(query=a, query=b)", {"query": "a, query=b"}),  # repeated: not split
    ],
)
def test_text_that_is_not_all_keywords_stays_the_first_keywords_value(
    line: str, kwargs: dict[str, Any]
) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, ParsedCall)
    assert dict(item.kwargs) == kwargs


async def test_the_tutorial_format_line_calls_the_tool_with_each_keyword() -> None:
    seen: list[dict[str, Any]] = []

    @tool
    def tool_1(arg1: str, arg2: float = 0.0) -> str:
        """Tool one."""
        seen.append({"arg1": arg1, "arg2": arg2})
        return "r1"

    plan = '1. tool_1(arg1="arg1", arg2=3.5, ...)\n2. join()<END_OF_PLAN>'
    await build(scripted(plan, FINISH.format(answer="done")), [tool_1]).ainvoke(question())
    assert seen == [{"arg1": "arg1", "arg2": 3.5}]


@pytest.mark.parametrize(
    ("line", "args", "kwargs"),
    [
        ('1. search("Austin Powers")', ("Austin Powers",), {}),
        ('1. search(query="x", k=3)', (), {"query": "x", "k": 3}),
        ('2. math("$1 * 2", ["$1"])', ("$1 * 2", ["$1"]), {}),
        ("1. f(true, null, 2.5)", (True, None, 2.5), {}),
    ],
)
def test_quoted_keyword_and_list_forms_keep_their_meaning(
    line: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, ParsedCall)
    assert (item.args, dict(item.kwargs), item.notes, item.unquoted) == (args, kwargs, (), False)


@pytest.mark.parametrize(
    "line",
    [
        '1. search("x")\'',
        '1. search("x").',
        '1. search("x"),',
        '1. search("x") -- the first one',
        "1. search('x')`",
    ],
)
def test_text_after_the_call_is_ignored_with_a_note(line: str) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, ParsedCall)
    assert item.args == ("x",)
    assert any("ignored the text after the call" in note for note in item.notes)


def test_a_comment_after_the_call_is_still_silent() -> None:
    item = parse_plan_line('1. search("x")  # the first one')
    assert isinstance(item, ParsedCall)
    assert item.notes == ()


def test_a_call_that_never_closes_is_still_an_error() -> None:
    item = parse_plan_line('1. search("unterminated')
    assert isinstance(item, PlanLineError)
    assert "not closed" in item.message


# SqueezeAILab/LLMCompiler configs/parallelqa/gpt_prompts.py (and llama_prompts.py): the
# paper's own few-shot plan leaves out the call's final `)` on lines 2, 4 and 6.
PARALLELQA_PLAN = (
    '1. search("cheetah")\n'
    '2. math("cheetah max speed in km/h if 1.3 times slower?", ["$1"]\n'
    '3. search("greyhound")\n'
    '4. math("greyhound max speed in km/h if 1.5 times faster?", ["$3"]\n'
    '5. search("falcon")\n'
    '6. math("falcon max speed in km/h if 2.3 times slower?", ["$5"]\n'
    '7. math("max($2, $4, $6) / min($2, $4, $6)")\n'
    "Thought: I can answer the question now.\n"
    "8. join()<END_OF_PLAN>\n"
)


def test_the_paper_parallelqa_lines_missing_their_final_paren_are_complete_calls() -> None:
    calls = [item for item in parse_plan(PARALLELQA_PLAN) if isinstance(item, ParsedCall)]
    assert [(c.idx, c.tool, c.args, c.dependencies) for c in calls if c.idx in (2, 4, 6)] == [
        (2, "math", ("cheetah max speed in km/h if 1.3 times slower?", ["$1"]), (1,)),
        (4, "math", ("greyhound max speed in km/h if 1.5 times faster?", ["$3"]), (3,)),
        (6, "math", ("falcon max speed in km/h if 2.3 times slower?", ["$5"]), (5,)),
    ]
    assert all(any("closing parenthesis was missing" in n for n in c.notes) for c in calls[1:6:2])
    assert [c.idx for c in calls] == [1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    "plan",
    [
        '1. search("unterminated\n2. join()',  # an open quote is not a missing `)`
        "1. search(Arthur's Magazine\n2. join()",
        '1. math("x", ["$1"]',  # cut off by the end of the stream: maybe more was coming
    ],
)
def test_a_call_left_open_otherwise_is_still_refused(plan: str) -> None:
    item = parse_plan(plan)[0]
    assert isinstance(item, PlanLineError)
    assert "not closed" in item.message


def test_a_missing_paren_before_the_end_marker_is_read_as_closed() -> None:
    items = parse_plan('1. search("a")\n2. math("x", ["$1"]<END_OF_PLAN>')
    assert isinstance(items[1], ParsedCall)
    assert (items[1].args, items[1].end_of_plan) == (("x", ["$1"]), True)


async def test_the_paper_parallelqa_plan_runs_every_action(log: ToolLog) -> None:
    @tool
    def math(problem: str, context: list[str] | None = None) -> str:
        """Solve a math problem."""
        return "42"

    model = scripted(PARALLELQA_PLAN, FINISH.format(answer="1.71"))
    state = await build(model, [log.search_tool(), math]).ainvoke(question())
    assert [t["status"] for t in state["tasks"].values()] == ["done"] * 7
    assert state.get("plan_issues", []) == []


@pytest.mark.parametrize(
    ("line", "numbering"),
    [
        # Audit corpus: small models answering the LLMCompiler planner prompt.
        ('2: search("K2")', "2:"),
        ('Step 2: search("K2")', "Step 2:"),
        ('**2.** search("K2")', "**2.**"),
        ('(2) search("K2")', "(2)"),
        ('Action 2: search("K2")', "Action 2:"),
        # The LLMCompiler paper, Figure 2.
        ('$2 = search("K2")', "$2 ="),
    ],
)
def test_other_numberings_are_actions_with_a_note(line: str, numbering: str) -> None:
    item = parse_plan_line(line)
    assert isinstance(item, ParsedCall)
    assert (item.idx, item.tool, item.args) == (2, "search", ("K2",))
    assert item.notes == (f"the numbering {numbering!r} was read as action 2",)


@pytest.mark.parametrize("line", ["2: the heights differ", "Step 2: compare them", "(2) both are tall"])
def test_other_numberings_without_a_call_stay_thoughts(line: str) -> None:
    assert isinstance(parse_plan_line(line), PlanThought)


# The LLMCompiler paper, Figure 2 (also quoted in a port's design doc): `$N = ...` and an
# unnumbered join().
FIGURE_2_PLAN = (
    '$1 = search("Microsoft Market Cap")\n$2 = search("Apple Market Cap")\n$3 = search("$1 / $2")\n'
    "join()<END_OF_PLAN>\n"
)


async def test_the_paper_figure_2_plan_runs_and_joins(log: ToolLog) -> None:
    state = await build(scripted(FIGURE_2_PLAN, FINISH.format(answer="done")), [log.search_tool()]).ainvoke(
        question()
    )
    assert [(t["idx"], t["dependencies"], t["status"]) for t in state["tasks"].values()] == [
        (1, [], "done"),
        (2, [], "done"),
        (3, [1, 2], "done"),
    ]
    assert state.get("plan_issues", []) == []
    assert "plan 1: join: a join() without an id was read as the plan's join()" in state["plan_notes"]


@pytest.mark.parametrize(
    "line",
    ['search("K2")', 'Then: search("K2") for the second height', '#2 search("K2")', "- [ ] search(K2)"],
)
def test_a_call_of_a_tool_on_a_line_that_is_no_action_is_a_plan_issue(line: str) -> None:
    items = parse_plan(f'1. search("Everest")\n{line}\n3. join()')
    assert isinstance(items[1], PlanStrayCall)
    assert items[1].names[0] == "search"


async def test_an_unreadable_action_reaches_the_joiner_as_a_plan_issue(log: ToolLog) -> None:
    plan = '1. search("Everest")\n#2 search("K2")\n3. join()<END_OF_PLAN>'
    model = scripted(plan, FINISH.format(answer="done"))
    state = await build(model, [log.search_tool()]).ainvoke(question())
    assert [a["query"] for a in log.args_of("search")] == ["Everest"]
    assert any("calls search but is not a numbered action" in i for i in state["plan_issues"])
    assert "calls search but is not a numbered action" in last_text(model, 1)


@pytest.mark.parametrize(
    "line",
    [
        "Thought: I will search(K2) next",
        "I need to search for K2 and then use math.",
        "the result (in m)",
        "f(x) = 2",
    ],
)
async def test_prose_naming_a_tool_without_a_call_is_no_issue(log: ToolLog, line: str) -> None:
    plan = f'1. search("Everest")\n{line}\n2. join()<END_OF_PLAN>'
    state = await build(scripted(plan, FINISH.format(answer="done")), [log.search_tool()]).ainvoke(question())
    assert state.get("plan_issues", []) == []


# Audit corpus: models that format a call's arguments like code, one per line.
MULTI_LINE_PLAN = '1. search(\n    "Everest"\n)\n2. compose("$1", """Hi,\nsee you""")\n3. join()<END_OF_PLAN>'


def test_a_call_whose_arguments_span_lines_is_one_action_with_a_note() -> None:
    items = parse_plan(MULTI_LINE_PLAN)
    calls = [(i.idx, i.tool, i.args, i.notes) for i in items if isinstance(i, ParsedCall)]
    assert calls == [
        (1, "search", ("Everest",), ("the call spans 3 lines",)),
        (2, "compose", ("$1", "Hi,\nsee you"), ("the call spans 2 lines",)),
        (3, "join", (), ()),
    ]


def test_a_multi_line_call_streams_once_its_closing_line_is_complete() -> None:
    parser = StreamingPlanParser()
    assert parser.feed('1. search(\n    "Everest"\n') == []
    assert parser.feed(")") == []  # the line is not complete yet
    [item] = parser.feed("\n")
    assert isinstance(item, ParsedCall) and item.args == ("Everest",)


@pytest.mark.parametrize(
    ("plan", "after"),
    [
        ('1. search(\n2. search("b")\n3. join()', 2),  # the next action ends the open one
        ("1. search(\nThought: no.\n2. join()", 2),  # so does a thought
        ('1. search(\n    "Everest"', None),  # and the end of the stream
    ],
)
def test_a_call_left_open_over_lines_is_still_refused(plan: str, after: int | None) -> None:
    items = parse_plan(plan)
    assert isinstance(items[0], PlanLineError)
    assert (items[0].idx, "not closed" in items[0].message) == (1, True)
    assert after is None or (isinstance(items[1], ParsedCall) and items[1].idx == after)


def test_a_line_missing_only_its_paren_is_not_held_for_the_next_line() -> None:
    parser = StreamingPlanParser()
    [item] = parser.feed('2. math("cheetah max speed in km/h if 1.3 times slower?", ["$1"]\n')
    assert isinstance(item, ParsedCall) and item.args[1] == ["$1"]


def test_a_repeated_keyword_is_an_error_not_the_last_value() -> None:
    with pytest.raises(PlanSyntaxError, match="given twice"):
        parse_call_arguments('query="a", query="b"')


def test_carriage_return_line_ends_split_lines() -> None:
    items = parse_plan('1. search("a")\r2. search("b")\r\n3. join()')
    assert [(i.idx, i.tool) for i in items if isinstance(i, ParsedCall)] == [
        (1, "search"),
        (2, "search"),
        (3, "join"),
    ]


# --------------------------------------------------------------------------- references


def test_an_escaped_reference_is_literal_text_and_no_dependency() -> None:
    item = parse_plan_line('2. search("a $$1 coupon, not $1")')
    assert isinstance(item, ParsedCall)
    assert item.dependencies == (1,)
    assert substitute_references(item.args, {1: "X"}) == ("a $1 coupon, not X",)


# --------------------------------------------------------------------------- joiner replies


@pytest.mark.parametrize(
    ("reply", "action", "content"),
    [
        ("Thought: known.\nAction: Finish(Arthur's Magazine)", "finish", "Arthur's Magazine"),
        ("Thought: known.\nAction: Finish[Arthur's Magazine]", "finish", "Arthur's Magazine"),
        ("Thought: known.\nAction: Finish[a [nested] list]", "finish", "a [nested] list"),
        ("Thought: need K2.\nAction: Replan[look up K2]", "replan", "look up K2"),
        ("Thought: need K2.\nAction: Replan(look up K2)", "replan", "look up K2"),
        ("Thought: need K2.\nAction: Replan: look up K2", "replan", "look up K2"),
        ("Thought: need more.\nAction: Replan", "replan", ""),
        ("Thought: ok.\nAction: Finish(Great :) thanks)", "finish", "Great :) thanks"),
        ("Thought: ok.\nAction: Finish(Mount Everest (Nepal)).", "finish", "Mount Everest (Nepal)"),
        ("Thought: ok.\nAction: Finish(Paris) because it is the capital", "finish", "Paris"),
        ('Thought: ok.\nAction: Finish(He said "hi (there)")', "finish", 'He said "hi (there)"'),
        ("Thought: ok.\nAction: Finish(line one\nline two)", "finish", "line one\nline two"),
        ("Thought: ok.\nAction: Finish: 238 m", "finish", "238 m"),
        ("Thought: ok.\nFinish[238 m]", "finish", "238 m"),
    ],
)
def test_joiner_actions_in_paren_bracket_and_colon_forms(reply: str, action: str, content: str) -> None:
    decision = parse_joiner_output(reply)
    assert (decision.action, decision.content, decision.well_formed) == (action, content, True)


# SqueezeAILab/LLMCompiler configs/parallelqa/llama_prompts.py: each joiner example ends with
# <END_OF_RESPONSE> (the authors' stop sequence); a model that goes on writes the next example.
END_OF_RESPONSE_REPLY = (
    "Thought: The ratio is 1.71.\nAction: Finish(1.71)<END_OF_RESPONSE>\n###\n\n"
    "Question: If Mount Halla's height were halved ...\nThought: Difference in their height is 7345.57.\n"
    "Action: Finish(7345.57)<END_OF_RESPONSE>\n"
)


def test_text_after_end_of_response_is_not_part_of_the_reply() -> None:
    decision = parse_joiner_output(END_OF_RESPONSE_REPLY)
    assert (decision.action, decision.thought, decision.content) == ("finish", "The ratio is 1.71.", "1.71")
    [note] = decision.notes
    assert note.startswith('ignored the text after <END_OF_RESPONSE>: "###')


def test_a_reply_ending_in_end_of_response_alone_has_no_note() -> None:
    decision = parse_joiner_output("Thought: ok.\nAction: Finish(1.71)<END_OF_RESPONSE>\n")
    assert (decision.content, decision.notes) == ("1.71", ())


@pytest.mark.parametrize(
    ("reply", "content"),
    [
        # Audit corpus: replies of small models to the TinyAgent / LangGraph joiner prompts.
        ('Thought: The answer is Paris.\nAction: finish("Paris")', "Paris"),
        ('Thought: ok\nAction: finish(answer="Tokyo is 18°C and rainy.")', "Tokyo is 18°C and rainy."),
        ("Thought: ok\nAction: Finish(result='42')", "42"),
        ('Thought: ok\nAction: Finish("a" and "b")', '"a" and "b"'),
        ('Thought: ok\nAction: Finish(answer="a", source="b")', 'answer="a", source="b"'),
        ("Thought: ok\nAction: Finish(x = 2)", "x = 2"),
    ],
)
def test_a_finish_answer_that_is_one_quoted_string_is_that_string(reply: str, content: str) -> None:
    assert parse_joiner_output(reply).content == content


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        (END_OF_RESPONSE_REPLY, "1.71"),
        ("Thought: ok\nAction: Finish: 1.71<END_OF_RESPONSE>\nAction: Finish: 9", "1.71"),
        ('Thought: ok\nAction: finish("Paris")', "Paris"),
        ('Thought: ok\nAction: finish(answer="Tokyo is 18°C and rainy.")', "Tokyo is 18°C and rainy."),
    ],
)
async def test_the_streamed_and_recorded_answer_leave_out_the_marker_and_quotes(
    log: ToolLog, reply: str, answer: str
) -> None:
    model = scripted('1. search("gorilla")\n2. join()<END_OF_PLAN>', reply)
    graph = build(model, [log.search_tool()])
    streamed = [
        chunk.content
        async for chunk, meta in graph.astream(question(), stream_mode="messages")
        if "llmcompiler:answer" in meta.get("tags", [])
    ]
    state = await build(
        scripted('1. search("gorilla")\n2. join()<END_OF_PLAN>', reply), [log.search_tool()]
    ).ainvoke(question())
    assert state["messages"][-1].content == answer
    assert "".join(streamed) == answer
    assert any(note.startswith("joiner: ") for note in state["plan_notes"])


def test_a_reply_without_an_action_stays_the_answer() -> None:
    decision = parse_joiner_output("Everest is taller; we should finish here.")
    assert (decision.action, decision.content, decision.well_formed) == (
        "finish",
        "Everest is taller; we should finish here.",
        False,
    )


# --------------------------------------------------------------------------- whole runs


async def test_the_paper_movie_plan_without_quotes_runs_every_search(log: ToolLog) -> None:
    plan = (
        "Thought: I need to look up each movie.\n"
        "1. search(Austin Powers International Man of Mystery)\n"
        "2. search(Star Wars Episode IV - A New Hope)\n"
        "3. search(Arthur's Magazine)\n"
        "4. join()<END_OF_PLAN>"
    )
    state = await build(scripted(plan, FINISH.format(answer="done")), [log.search_tool()]).ainvoke(question())
    assert [a["query"] for a in log.args_of("search")] == [
        "Austin Powers International Man of Mystery",
        "Star Wars Episode IV - A New Hope",
        "Arthur's Magazine",
    ]
    assert all(t["status"] == "done" for t in state["tasks"].values())
    assert any("unquoted" in note for note in state["plan_notes"])
    assert state.get("plan_issues", []) == []


async def test_a_dollar_amount_that_names_no_task_is_literal_and_the_task_runs(log: ToolLog) -> None:
    plan = (
        '1. search("companies with a market cap over $2 trillion")\n'
        '2. search("revenue of $1")\n'
        '3. search("a $$1 coupon")\n'
        "4. join()<END_OF_PLAN>"
    )
    state = await build(scripted(plan, FINISH.format(answer="done")), [log.search_tool()]).ainvoke(question())
    assert sorted(a["query"] for a in log.args_of("search")) == [
        "a $1 coupon",
        "companies with a market cap over $2 trillion",
        "revenue of result for companies with a market cap over $2 trillion",
    ]
    assert state["tasks"][1]["dependencies"] == []
    assert any("$2 names no earlier action" in note for note in state["plan_notes"])


async def test_a_forward_reference_is_kept_as_text_and_does_not_wait(log: ToolLog) -> None:
    plan = '1. search("$2")\n2. search("$1")\n3. join()'
    await build(scripted(plan, FINISH.format(answer="done")), [log.search_tool()]).ainvoke(question())
    assert [a["query"] for a in log.args_of("search")] == ["$2", "result for $2"]


async def test_a_one_parameter_tool_gets_all_unquoted_text_as_one_string(log: ToolLog) -> None:
    plan = "1. search(Titanic, 1997)\n2. search(query=Star Wars)\n3. join()"
    await build(scripted(plan, FINISH.format(answer="done")), [log.search_tool()]).ainvoke(question())
    assert [a["query"] for a in log.args_of("search")] == ["Titanic, 1997", "Star Wars"]


async def test_an_unquoted_call_to_a_two_parameter_tool_fails_with_what_is_missing(log: ToolLog) -> None:
    @tool
    def lookup(title: str, year: int) -> str:
        """Look a film up by title and year."""
        return f"{title} ({year})"

    plan = "1. lookup(Titanic by Cameron)\n2. join()"
    state = await build(scripted(plan, FINISH.format(answer="done")), [lookup]).ainvoke(question())
    assert state["tasks"][1]["status"] == "error"
    assert "year" in (state["tasks"][1]["error"] or "")
    assert any("action 1: unquoted arguments taken as one string" in n for n in state["plan_notes"])


REPLAN = "Thought: the subtraction lacked its inputs.\nAction: Replan(use the heights found)"


async def test_a_replan_numbered_from_one_is_renumbered_and_runs(log: ToolLog) -> None:
    heights = {"Everest": "8849", "K2": "8611"}
    search = log.search_tool(answer=lambda q: heights.get(q, f"result for {q}"))
    model = scripted(
        '1. search("Everest")\n2. search("K2")\n3. search("Everest minus K2")\n4. join()<END_OF_PLAN>',
        REPLAN,
        # Numbered from 1 again: $1 is this plan's own first line, $2 the earlier search for K2.
        '1. search("compare $2")\n2. search("$1 versus ${2}")\n3. join()<END_OF_PLAN>',
        FINISH.format(answer="238 m"),
    )
    state = await build(model, [search]).ainvoke(question())
    assert state["messages"][-1].content == "238 m"
    assert [a["query"] for a in log.args_of("search")][3:] == [
        "compare 8611",
        "result for compare 8611 versus 8611",
    ]
    tasks = state["tasks"]
    assert (tasks[4]["dependencies"], tasks[5]["dependencies"]) == ([2], [2, 4])
    assert tasks[5]["args"] == {"query": "$4 versus ${2}"}
    assert any("action 1 was renumbered 4" in note for note in state["plan_notes"])
    assert "4. search(query='compare $2')" in last_text(model, 3)


async def test_renumbering_is_visible_in_the_event_stream(log: ToolLog) -> None:
    model = scripted(
        '1. search("a")\n2. join()<END_OF_PLAN>',
        REPLAN,
        '1. search("b")\n2. join()<END_OF_PLAN>',
        FINISH.format(answer="done"),
    )
    events = [e async for e in build(model, [log.search_tool()]).astream(question(), stream_mode="custom")]
    parsed = [(e["idx"], e["planned_idx"]) for e in events if e["type"] == "task_parsed"]
    assert parsed == [(1, 1), (2, 1)]
    finished = [e["renumbered"] for e in events if e["type"] == "plan_finished"]
    assert finished == [{}, {1: 2}]


async def test_joiner_replan_in_brackets_replans(log: ToolLog) -> None:
    model = scripted(
        '1. search("a")\n2. join()<END_OF_PLAN>',
        "Thought: need b.\nAction: Replan[look up b]",
        '3. search("b")\n4. join()<END_OF_PLAN>',
        "Thought: done.\nAction: Finish[a and b]",
    )
    state = await build(model, [log.search_tool()]).ainvoke(question())
    assert state["messages"][-1].content == "a and b"
    assert [a["query"] for a in log.args_of("search")] == ["a", "b"]
    assert state["replans"] == 1
    assert "look up b" in last_text(model, 2)
