"""Default prompts and the functions that render them.

The prompt texts live once, in the repository's `prompts/*.txt` (shipped in the wheel as
`llmcompiler_graph/prompts/`), and are loaded here. Placeholders are `{name}` and are
filled by plain string replacement, so tool descriptions may contain braces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from langchain_core.tools import BaseTool

from llmcompiler_graph.plan.parser import render_call, to_text
from llmcompiler_graph.plan.tool_schemas import describe_tool
from llmcompiler_graph.state import Task

__all__ = [
    "JOINER_FINISH_ONLY_PROMPT",
    "JOINER_SYSTEM_PROMPT",
    "PLANNER_EXAMPLES",
    "PLANNER_SYSTEM_PROMPT",
    "REPLAN_PROMPT",
    "build_joiner_prompt",
    "build_planner_prompt",
    "build_replan_prompt",
    "load_prompt",
    "render_scratchpad",
]


def load_prompt(name: str) -> str:
    """The text of the prompt file `name` (`prompts/<name>` in the repository, shipped in the wheel).

    Example:
        >>> load_prompt("replan.txt").startswith("The previous plan")
        True
    """
    return files("llmcompiler_graph").joinpath("prompts", name).read_text(encoding="utf-8")


PLANNER_SYSTEM_PROMPT = load_prompt("planner_system.txt")
"""The planner's system prompt (`{num_actions}`, `{tool_descriptions}`, `{join_number}`, `{examples}`)."""
PLANNER_EXAMPLES = load_prompt("planner_examples.txt")
"""Few-shot plans for the planner prompt."""
REPLAN_PROMPT = load_prompt("replan.txt")
"""What ran and why the planner must replan (`{scratchpad}`, `{feedback}`, `{next_idx}`)."""
JOINER_SYSTEM_PROMPT = load_prompt("joiner_system.txt")
"""The joiner's system prompt while replanning is allowed."""
JOINER_FINISH_ONLY_PROMPT = load_prompt("joiner_finish_only.txt")
"""The joiner's system prompt once replans are spent."""
JOINER_USER_PROMPT = load_prompt("joiner_user.txt")
"""The joiner's input (`{question}`, `{scratchpad}`)."""


def _fill(template: str, values: Mapping[str, Any]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def build_planner_prompt(
    tools: Sequence[BaseTool],
    *,
    template: str = PLANNER_SYSTEM_PROMPT,
    examples: str = PLANNER_EXAMPLES,
) -> str:
    """Render the planner's system prompt for the given tools.

    Args:
        tools: The tools the planner may call, described from their names,
            descriptions and argument schemas.
        template: A prompt with `{num_actions}`, `{tool_descriptions}`,
            `{join_number}` and `{examples}` placeholders.
        examples: Few-shot plans shown after the guidelines; use ones written with
            your own tools for best results.

    Example:
        >>> from langchain_core.tools import tool
        >>> @tool
        ... def search(query: str) -> str:
        ...     '''Look it up.'''
        ...     return ""
        >>> "1. search(query: str)" in build_planner_prompt([search])
        True
    """
    return _fill(
        template,
        {
            "num_actions": len(tools) + 1,
            "tool_descriptions": "\n".join(describe_tool(t, i) for i, t in enumerate(tools, 1)),
            "join_number": len(tools) + 1,
            "examples": examples,
        },
    )


def _observation(task: Task) -> str:
    if task["status"] == "done":
        return to_text(task["result"])
    if task["status"] == "pending":
        return "(not executed)"
    return f"ERROR: {task['error']}"


def render_scratchpad(tasks: Mapping[int, Task], plan_issues: Sequence[str] = ()) -> str:
    """Render executed tasks as numbered actions, each followed by its observation.

    Example:
        >>> task = {"idx": 1, "tool": "search", "args": {"query": "x"}, "thought": None,
        ...         "status": "done", "result": "y", "plan_round": 0}
        >>> print(render_scratchpad({1: task}))
        1. search(query='x')
        Observation: y
    """
    lines: list[str] = []
    current_round: int | None = None
    rounds = {t["plan_round"] for t in tasks.values()}
    for task in sorted(tasks.values(), key=lambda t: t["idx"]):
        if len(rounds) > 1 and task["plan_round"] != current_round:
            current_round = task["plan_round"]
            lines.append(f"Plan {current_round + 1}:")
        if task.get("thought"):
            lines.append(f"Thought: {task['thought']}")
        lines.append(f"{task['idx']}. {render_call(task['tool'], (), task['args'])}")
        lines.append(f"Observation: {_observation(task)}")
    if not tasks:
        lines.append("(no tasks were executed)")
    if plan_issues:
        lines.append("Problems with the plan:")
        lines.extend(f" - {issue}" for issue in plan_issues)
    return "\n".join(lines)


def build_replan_prompt(
    tasks: Mapping[int, Task],
    plan_issues: Sequence[str],
    feedback: str,
    next_idx: int,
    *,
    template: str = REPLAN_PROMPT,
) -> str:
    """Render the message that tells the planner what ran before and why it must replan."""
    return _fill(
        template,
        {
            "scratchpad": render_scratchpad(tasks, plan_issues),
            "feedback": feedback or "(none given)",
            "next_idx": next_idx,
        },
    )


def build_joiner_prompt(
    question: str,
    tasks: Mapping[int, Task],
    plan_issues: Sequence[str],
    *,
    template: str = JOINER_USER_PROMPT,
) -> str:
    """Render the joiner's input: the question and every task with its observation."""
    return _fill(template, {"question": question, "scratchpad": render_scratchpad(tasks, plan_issues)})
