"""The local model's call programs, driven by a scripted decoder (no model needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from llmcompiler_bench.text_react import TEXT_REACT_PROMPT
from llmcompiler_graph.local.protocol import (
    LocalCall,
    finish_answers,
    math_expressions,
    number_candidates,
    parse_tool_signatures,
    plan_options,
    prepare_call,
    question_spans,
)
from llmcompiler_graph.nodes import ModelCall, model_call_metadata
from llmcompiler_graph.plan.prompts import (
    JOINER_FINISH_ONLY_PROMPT,
    JOINER_SYSTEM_PROMPT,
    build_planner_prompt,
    build_replan_prompt,
)
from llmcompiler_graph.plan.tool_schemas import describe_tool
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool
from llmcompiler_graph.tools.math_tool import MATH_SYSTEM_PROMPT

TOOLS = [LocalSearchIndex.demo().as_tool(), make_math_tool()]
PLANNER = build_planner_prompt(TOOLS)
PLAN, MATH, REACT = (model_call_metadata(part) for part in (ModelCall.PLAN, ModelCall.MATH, ModelCall.REACT))
JOIN = model_call_metadata(ModelCall.JOINER, can_replan=True)
JOIN_FINISH_ONLY = model_call_metadata(ModelCall.JOINER, can_replan=False)


class ScriptedDecoder:
    """Chooses the first option containing the first matching preference (else the first option)."""

    def __init__(self, *preferences: str) -> None:
        self.preferences = list(preferences)
        self.text = ""
        self.offered: list[list[str]] = []

    def append(self, text: str) -> None:
        self.text += text

    def choose(self, options: Sequence[str]) -> str:
        self.offered.append(list(options))
        for preference in self.preferences:
            for option in options:
                if preference in option:
                    self.text += option
                    return option
        self.text += options[0]
        return options[0]

    def generate(self, max_tokens: int, stop: Sequence[str]) -> str:
        self.text += " thinking"
        return " thinking"


def run(
    metadata: dict[str, Any], messages: list[BaseMessage], *preferences: str
) -> tuple[str, ScriptedDecoder, LocalCall]:
    call = prepare_call(messages, metadata)
    assert call is not None
    decoder = ScriptedDecoder(*preferences)
    return "".join(call.program(decoder)), decoder, call


def test_the_graphs_calls_are_served_by_their_part_and_the_fixed_part_comes_first() -> None:
    kinds = {
        "plan": (PLAN, [SystemMessage(PLANNER), HumanMessage("How tall is K2?")]),
        "join": (
            JOIN,
            [SystemMessage(JOINER_SYSTEM_PROMPT), HumanMessage("Question: How tall is K2?\n\n(none)")],
        ),
        "math": (MATH, [SystemMessage(MATH_SYSTEM_PROMPT), HumanMessage("Problem: sum\nContext:\n- 1\n- 2")]),
    }
    for kind, (metadata, messages) in kinds.items():
        call = prepare_call(messages, metadata)
        assert call is not None and call.kind == kind
        assert "K2" not in call.prefix and "Problem: sum" not in call.prefix  # the variable part follows
    assert prepare_call([SystemMessage("Be brief."), HumanMessage("Hi")]) is None
    assert prepare_call(kinds["plan"][1]) is None  # the planner's prompt, but no contract: not served


def test_prompts_made_of_content_blocks_are_read_as_their_text() -> None:
    def blocks(text: str) -> list[str | dict[str, Any]]:
        return [{"type": "text", "text": text}]

    human = HumanMessage(blocks("Problem: 2 + 2\nContext:\n(none)"))
    call = prepare_call([SystemMessage(blocks(MATH_SYSTEM_PROMPT)), human], MATH)
    assert call is not None and call.kind == "math"
    assert call.suffix == "\nProblem: 2 + 2\n"


def test_tools_are_read_from_the_planner_prompt_not_from_its_examples() -> None:
    tools = parse_tool_signatures(PLANNER)
    assert [(t.name, t.is_lookup, t.takes_results) for t in tools] == [
        ("search", True, False),
        ("math", False, True),
    ]


def test_lookups_are_spans_of_the_question_that_name_something() -> None:
    assert question_spans("Which is taller, the Statue of Unity or Christ the Redeemer?") == [
        "Statue",
        "Statue of Unity",
        "Unity",
        "Christ",
        "Christ the Redeemer",
        "Redeemer",
    ]
    assert "tallest building in the world" in question_spans("How tall is the tallest building in the world?")


def test_a_plan_looks_every_name_up_before_math_gets_the_results_and_ends_with_join() -> None:
    reply, decoder, _ = run(
        PLAN,
        [SystemMessage(PLANNER), HumanMessage("How much taller is Mount Everest than K2?")],
        "Mount Everest",
        '"K2"',
        '["$1", "$2"]',
    )
    assert reply.splitlines() == [
        '1. search("Mount Everest")',
        '2. search("K2")',
        '3. math("How much taller is Mount Everest than K2", ["$1", "$2"])',
        "4. join()<END_OF_PLAN>",
    ]
    # before K2 was looked up, neither math nor join was offered
    assert not any("math" in o or "join" in o for o in decoder.offered[1])
    # math references only earlier ids, never a later one or itself
    assert all("$3" not in o for o in decoder.offered[2])


def test_a_replan_continues_the_ids_and_never_repeats_a_call_that_ran() -> None:
    task: Any = {"idx": 1, "tool": "search", "args": {"query": "K2"}, "thought": None, "status": "done",
                 "result": "K2: 8,611 m.", "plan_round": 0}  # fmt: skip
    tasks = {1: task}
    replan = build_replan_prompt(tasks, [], "Lhotse is missing", 2)
    options = plan_options(
        parse_tool_signatures(PLANNER), "How much taller is K2 than Lhotse?", 2, [1], set()
    )
    assert options[0].startswith("2. ")
    reply, decoder, call = run(
        model_call_metadata(ModelCall.PLAN, replan_from=2),
        [SystemMessage(PLANNER), HumanMessage("How much taller is K2 than Lhotse?"), HumanMessage(replan)],
        "Lhotse",
    )
    assert reply.splitlines()[0] == '2. search("Lhotse")'
    assert all('search("K2")' not in option for options in decoder.offered for option in options)
    assert "Observation: K2: 8,611 m." in call.suffix


def test_math_takes_one_number_from_each_fact_in_the_problems_order() -> None:
    human = (
        "Problem: How many times taller is the Statue of Unity than Christ the Redeemer\nContext:\n"
        "- Christ the Redeemer: completed in 1931, it is 30 m (98 ft) tall.\n"
        "- Statue of Unity: At 182 m (597 ft) it is the tallest statue, inaugurated in 2018."
    )
    reply, decoder, _ = run(MATH, [SystemMessage(MATH_SYSTEM_PROMPT), HumanMessage(human)], "182 m", "30 m")
    assert reply == "Expression: 182 / 30"
    # one phrase per number, decided by its words; 597 ft is a conversion of 182 m: left out
    assert decoder.offered[1] == [" At 182 m it\n", " inaugurated in 2018\n"]
    assert "Operation: ratio" in decoder.text


def test_math_expressions_use_only_the_chosen_numbers() -> None:
    assert math_expressions("average", [["8849"], ["8611"], ["8586"]]) == ["(8849 + 8611 + 8586) / 3"]
    assert math_expressions("difference", [["10"], ["4"], ["3"]]) == ["10 - (4 + 3)"]
    assert number_candidates("born 1924 (1924-1978); 8,849 m (29,032 ft)") == ["1924", "1978", "8849"]


def test_the_joiner_answers_from_the_observations_or_says_it_could_not_find() -> None:
    question = "How much taller is Mount Foo than Mount Bar?"
    failed = [("1. search(query='Mount Foo')", "Could not find [Mount Foo]. Similar: []")]
    assert all(a.startswith("I could not find") for a in finish_answers(question, failed))
    scratchpad = "1. search(query='Mount Foo')\nObservation: Could not find [Mount Foo]. Similar: []"
    reply, _, _ = run(
        JOIN_FINISH_ONLY,
        [SystemMessage(JOINER_FINISH_ONLY_PROMPT), HumanMessage(f"Question: {question}\n\n{scratchpad}")],
    )
    assert reply.startswith("Action: Finish(I could not find ")
    worked = [
        ("1. search(query='Eiffel Tower')", "Eiffel Tower: The Eiffel Tower is in Paris, France, 330 m.")
    ]
    answers = finish_answers("In which city is the Eiffel Tower?", worked)
    assert "Paris" in answers and "Eiffel Tower" not in answers and "330" not in answers
    assert finish_answers("Were A and B both Swiss?", worked) == ["yes", "no"]
    elsewhere = [("1. search(query='Mount Foo')", "Mount Everest: Mount Everest is 8,849 m high.")]
    assert finish_answers("How tall is Mount Foo?", elsewhere) == ["I could not find Mount Foo"]
    computed = [*worked, ("2. math(problem='How much taller', context=['$1'])", "238")]
    assert finish_answers("How much taller is it?", computed) == ["238"]


def test_a_comparison_is_answered_with_the_thing_whose_observation_holds_the_result() -> None:
    scratchpad = (
        "1. search(query='K2')\nObservation: K2: K2 is 8,611 m high.\n"
        "2. search(query='Mount Everest')\nObservation: Mount Everest: It is 8,849 m high.\n"
        "3. math(problem='Which is taller, K2 or Mount Everest', context=['$1', '$2'])\nObservation: 8849"
    )
    reply, decoder, _ = run(
        JOIN,
        [
            SystemMessage(JOINER_SYSTEM_PROMPT),
            HumanMessage(f"Question: Which is taller, K2 or Mount Everest?\n\n{scratchpad}"),
        ],
    )
    assert reply.endswith("Action: Finish(Mount Everest)")
    assert decoder.offered[-1] == [" Mount Everest\n"]


def test_text_react_gets_the_same_rules_lookups_then_one_math_call_then_finish() -> None:
    system = TEXT_REACT_PROMPT.replace(
        "{tool_descriptions}", "\n".join(describe_tool(t, n) for n, t in enumerate(TOOLS, 1))
    )
    human = (
        'Question: How much taller is Mount Everest than K2?\nThought: x\nAction: search("K2")\n'
        'Observation: K2: K2 is 8,611 m high.\nThought: y\nAction: search("Mount Everest")\n'
        "Observation: Mount Everest: It is 8,849 m high."
    )
    reply, decoder, _ = run(REACT, [SystemMessage(system), HumanMessage(human)], "math(")
    assert reply == (
        "Thought: thinking\nAction: "
        'math("How much taller is Mount Everest than K2", ["K2: K2 is 8,611 m high.", '
        '"Mount Everest: It is 8,849 m high."])'
    )
    assert not any(o.startswith((" search", " Finish")) for o in decoder.offered[0])
    first = (
        'Question: How much taller is Mount Everest than K2?\nThought: x\nAction: search("K2")\n'
        "Observation: K2: 8,611 m."
    )
    _, decoder, _ = run(REACT, [SystemMessage(system), HumanMessage(first)])
    assert decoder.offered[0] == [' search("Mount")\n', ' search("Mount Everest")\n', ' search("Everest")\n']


def test_a_computed_result_answers_a_question_that_does_not_start_with_how_much() -> None:
    looked_up = [
        ("1. search(query='Danube')", "Danube: The Danube is 2,850 km long."),
        ("2. search(query='Rhine')", "Rhine: The Rhine is about 1,230 km long."),
        ("3. math(problem='What is the combined length', context=['$1', '$2'])", "4080"),
    ]
    assert finish_answers("What is the combined length of the Danube and the Rhine?", looked_up) == ["4080"]
