"""Default prompts: readable copies stay in sync; the builder renders tools from their schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.tools import tool

from llmcompiler_graph.plan import prompts

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@pytest.mark.parametrize(
    ("filename", "constant"),
    [
        ("planner_system.txt", "PLANNER_SYSTEM_PROMPT"),
        ("planner_examples.txt", "PLANNER_EXAMPLES"),
        ("replan.txt", "REPLAN_PROMPT"),
        ("joiner_system.txt", "JOINER_SYSTEM_PROMPT"),
        ("joiner_finish_only.txt", "JOINER_FINISH_ONLY_PROMPT"),
        ("joiner_user.txt", "JOINER_USER_PROMPT"),
    ],
)
def test_each_default_prompt_is_its_file_in_prompts(filename: str, constant: str) -> None:
    assert (PROMPTS_DIR / filename).read_text() == getattr(prompts, constant)
    assert f'load_prompt("{filename}")' in Path(prompts.__file__).read_text()  # loaded, not a copy


def test_planner_prompt_renders_each_tool_signature_description_and_join_number() -> None:
    @tool
    def search(query: str, limit: int = 3) -> str:
        """Search an encyclopedia.
        Returns a short summary."""
        return query

    @tool
    def math(problem: str, context: list[str] | None = None) -> str:
        """Solve {braced} math."""
        return problem

    text = prompts.build_planner_prompt([search, math])
    assert "following 3 types" in text
    assert (
        "1. search(query: str, limit: int = 3)\n - Search an encyclopedia.\n - Returns a short summary."
        in text
    )
    assert "2. math(problem: str, context: list[str] | None = None)\n - Solve {braced} math." in text
    assert "3. join()" in text
    assert "{" + "tool_descriptions}" not in text


@pytest.mark.parametrize("dataset", ["hotpotqa", "movie", "parallelqa"])
def test_dataset_example_files_equal_their_constants(dataset: str) -> None:
    from llmcompiler_bench.dataset_prompts import DATASET_EXAMPLES

    planner, joiner = DATASET_EXAMPLES[dataset]
    assert (PROMPTS_DIR / "datasets" / f"{dataset}_planner_examples.txt").read_text() == planner
    assert (PROMPTS_DIR / "datasets" / f"{dataset}_joiner_examples.txt").read_text() == joiner


@pytest.mark.parametrize("dataset", ["hotpotqa", "movie", "parallelqa"])
def test_dataset_plans_parse_and_the_joiner_prompt_keeps_the_format_and_drops_the_generic_examples(
    dataset: str,
) -> None:
    from llmcompiler_bench.dataset_prompts import dataset_prompt_kwargs
    from llmcompiler_graph.plan.parser import ParsedCall, parse_plan

    kwargs = dataset_prompt_kwargs(dataset)
    for example in kwargs["planner_examples"].split("###")[:-1]:
        items = parse_plan(example)  # the question's lines are read as thoughts
        calls = [item for item in items if isinstance(item, ParsedCall)]
        assert calls and calls[-1].tool == "join"
    assert "Action: <action to take>" in kwargs["joiner_prompt"]
    assert "Mont Blanc" not in kwargs["joiner_prompt"]


@pytest.mark.parametrize(
    ("filename", "constant"),
    [
        ("sot_skeleton.txt", "SKELETON_PROMPT"),
        ("sot_expand.txt", "EXPAND_PROMPT"),
        ("sot_direct_answer.txt", "DIRECT_ANSWER_PROMPT"),
        ("sot_router.txt", "ROUTER_PROMPT"),
    ],
)
def test_each_skeleton_of_thought_prompt_is_its_file_in_prompts(filename: str, constant: str) -> None:
    from llmcompiler_graph.sot import prompts as sot_prompts

    assert (PROMPTS_DIR / filename).read_text() == getattr(sot_prompts, constant)
    assert f'load_prompt("{filename}")' in Path(sot_prompts.__file__).read_text()


def test_skeleton_prompt_examples_parse_into_their_points() -> None:
    from llmcompiler_graph.sot.parser import parse_skeleton
    from llmcompiler_graph.sot.prompts import SKELETON_PROMPT

    examples = SKELETON_PROMPT.split("Example:\n")[1:]
    assert [len(parse_skeleton(e.split("Skeleton:\n")[1])) for e in examples] == [4, 4]
