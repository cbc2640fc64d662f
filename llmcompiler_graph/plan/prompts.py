"""Default prompts and the functions that render them.

The constants are the single source of truth; `prompts/*.txt` in the repository hold
readable copies that a test keeps identical. Placeholders are `{name}` and are filled by
plain string replacement, so tool descriptions may contain braces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "render_scratchpad",
]

PLANNER_SYSTEM_PROMPT = """\
Given a user query, create a plan to solve it with the utmost parallelizability. \
Each plan should comprise an action from the following {num_actions} types:
{tool_descriptions}
{join_number}. join()
 - Collects and combines results from prior actions.
 - An LLM agent is called upon invoking join() to either finalize the user query or wait until the plans are executed.
 - join should always be the last action in the plan, and will be called in two scenarios:
   (a) if the answer can be determined by gathering the outputs from tasks to generate the final response.
   (b) if the answer cannot be determined in the planning phase before you execute the plans.

Guidelines:
 - Each action described above contains input types and a description. You must strictly adhere to them.
 - Each action in the plan should strictly be one of the above types. Follow the Python conventions for each action.
 - Each action MUST have a unique ID, which is strictly increasing.
 - Inputs for actions can either be constants or outputs from preceding actions. In the latter case, use the format $id to denote the ID of the previous action whose output will be the input.
 - An action may only refer to actions that come before it.
 - Always call join as the last action in the plan. Say '<END_OF_PLAN>' after you call join.
 - Ensure the plan maximizes parallelizability.
 - Only use the provided action types. If a query cannot be addressed using these, invoke the join action for the next steps.
 - Never introduce new actions other than the ones provided.
 - Write one action per line, optionally preceded by a line starting with "Thought:". Write nothing else.
{examples}"""

PLANNER_EXAMPLES = """\
Here is an example of the format, using hypothetical actions search and math that may not be available to you:
Question: What is the combined population of France and Germany, in millions?
1. search("population of France")
2. search("population of Germany")
Thought: Both numbers are needed before adding them.
3. math("add the two populations, in millions", ["$1", "$2"])
4. join()<END_OF_PLAN>
"""

REPLAN_PROMPT = """\
The previous plan(s) for this question were executed with these results:
{scratchpad}
The plan must be revised. Reason given: {feedback}

Write a new plan that obtains what is still missing. Number its actions starting from {next_idx}. \
Do not repeat actions that already succeeded; refer to their results as $id instead. \
End with join()<END_OF_PLAN>."""

JOINER_SYSTEM_PROMPT = """\
Solve a question answering task. Here are some guidelines:
 - You will be given the results of a plan that was executed to answer the user's question.
 - Thought needs to reason about the question based on the Observations in 1-2 sentences.
 - Ignore irrelevant action results.
 - If the required information is present, give a concise but complete and helpful answer to the user's question.
 - If you are unable to give a satisfactory finishing answer, replan to get the required information.

Respond in the following format:

Thought: <reason about the task results and whether you have sufficient information to answer the question>
Action: <action to take>

Available actions:
 (1) Finish(the final answer to return to the user): returns the answer and finishes the task.
 (2) Replan(the reasoning and other information that will help you plan again. Can be a line of any length): instructs why we must replan.
Examples:
Question: Which mountain is higher, Mont Blanc or Ben Nevis?
1. search(query='Mont Blanc')
Observation: Mont Blanc is 4,806 m high.
2. search(query='Ben Nevis')
Observation: Ben Nevis is 1,345 m high.
Thought: Mont Blanc is 4,806 m high and Ben Nevis 1,345 m, so Mont Blanc is higher.
Action: Finish(Mont Blanc)

Question: How old was the author of Dune when it was published?
1. search(query='Dune novel')
Observation: Dune is a 1965 novel by Frank Herbert.
Thought: Dune was published in 1965, but Frank Herbert's birth year is missing.
Action: Replan(find Frank Herbert's birth year, then subtract it from 1965)
"""

JOINER_FINISH_ONLY_PROMPT = """\
Solve a question answering task. Here are some guidelines:
 - You will be given the results of a plan that was executed to answer the user's question.
 - Thought needs to reason about the question based on the Observations in 1-2 sentences.
 - Ignore irrelevant action results.
 - Planning again is no longer possible: give the best answer the results allow, and say what is uncertain or missing.

Respond in the following format:

Thought: <reason about the task results>
Action: Finish(<the final answer to return to the user>)
Example:
Question: Which mountain is higher, Mont Blanc or Ben Nevis?
1. search(query='Mont Blanc')
Observation: Mont Blanc is 4,806 m high.
2. search(query='Ben Nevis')
Observation: ERROR: search did not return within 60 s and was abandoned
Thought: Mont Blanc is 4,806 m high; the height of Ben Nevis is missing.
Action: Finish(Probably Mont Blanc (4,806 m); the height of Ben Nevis could not be found)
"""

JOINER_USER_PROMPT = """\
Question: {question}

{scratchpad}"""


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
