"""What a round of tool calls leaves in `messages`, and how earlier turns read in a prompt.

Each round (a plan and its results) lands in the conversation as `create_agent` would leave
it: one `AIMessage` whose `tool_calls` are the plan's tasks, then one `ToolMessage` per task
(ids matching). Follow-up turns and parent graphs see them. The planner and joiner models
read earlier turns with those exchanges rendered as text, so any chat model (also one that
was never given tool schemas) accepts the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolCall, ToolMessage
from langchain_core.messages.ai import UsageMetadata, add_usage

from llmcompiler_graph.plan.references import to_text
from llmcompiler_graph.state import Task, tool_call_id

__all__ = [
    "answer_message",
    "current_question",
    "prompt_history",
    "round_messages",
    "round_tasks",
    "total_usage",
]


def current_question(messages: Sequence[AnyMessage]) -> tuple[int, AnyMessage | None]:
    """Position and message of the latest human message (the question being answered).

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> current_question([HumanMessage("a"), AIMessage("b"), HumanMessage("c")])[0]
        2
    """
    for position in range(len(messages) - 1, -1, -1):
        if messages[position].type == "human":
            return position, messages[position]
    return len(messages), None


def round_tasks(tasks: Mapping[int, Task]) -> list[Task]:
    """The tasks of the latest plan round, in id order."""
    if not tasks:
        return []
    latest = max(t["plan_round"] for t in tasks.values())
    return [tasks[i] for i in sorted(tasks) if tasks[i]["plan_round"] == latest]


def round_messages(
    tasks: Sequence[Task], name: str | None = None, recorded: Sequence[AnyMessage] = ()
) -> list[AnyMessage]:
    """One `AIMessage` with the round's calls as `tool_calls`, then a `ToolMessage` per call.

    When `recorded` (the conversation so far) already holds the model's own message making
    these calls (native plans), only the `ToolMessage`s are added.

    Example:
        >>> task = {"idx": 1, "tool": "search", "args": {"query": "x"}, "status": "done",
        ...         "result": "y", "error": None, "tool_call_id": "call_1"}
        >>> [m.type for m in round_messages([task])]
        ['ai', 'tool']
    """
    if not tasks:
        return []
    calls = [ToolCall(name=t["tool"], args=dict(t["args"]), id=_call_id(t), type="tool_call") for t in tasks]
    made = {c["id"] for m in recorded if isinstance(m, AIMessage) for c in m.tool_calls}
    messages: list[AnyMessage] = []
    if not {c["id"] for c in calls} <= made:
        messages.append(AIMessage(content="", tool_calls=calls, name=name))
    messages.extend(_tool_message(t) for t in tasks)
    return messages


def _call_id(task: Task) -> str:
    return task.get("tool_call_id") or tool_call_id(None, task["idx"])


def _tool_message(task: Task) -> ToolMessage:
    if task["status"] == "done":
        content = task["result"] if isinstance(task["result"], str | list) else to_text(task["result"])
        return ToolMessage(
            content=content, tool_call_id=_call_id(task), name=task["tool"], artifact=task.get("artifact")
        )
    error = task["error"] or task["status"]
    return ToolMessage(
        content=f"ERROR: {error}", tool_call_id=_call_id(task), name=task["tool"], status="error"
    )


def prompt_history(messages: Iterable[AnyMessage]) -> list[BaseMessage]:
    """Earlier turns for a model prompt: tool exchanges become one AI message of text.

    Example:
        >>> task = {"idx": 1, "tool": "search", "args": {"query": "x"}, "status": "done",
        ...         "result": "y", "error": None, "tool_call_id": "call_1"}
        >>> print(prompt_history(round_messages([task]))[0].content)
        I called search({"query": "x"}) -> y
    """
    history: list[BaseMessage] = []
    pending: list[str] = []
    calls: dict[str, str] = {}
    for message in messages:
        if isinstance(message, AIMessage) and message.tool_calls:
            calls.update({c["id"] or "": f"{c['name']}({to_text(c['args'])})" for c in message.tool_calls})
            if message.text:
                history.append(AIMessage(content=message.text))
        elif isinstance(message, ToolMessage):
            pending.append(f"I called {calls.get(message.tool_call_id, message.name)} -> {message.text}")
        else:
            if pending:
                history.append(AIMessage(content="\n".join(pending)))
                pending = []
            history.append(message)
    if pending:
        history.append(AIMessage(content="\n".join(pending)))
    return history


def answer_message(
    content: str, *, name: str | None, usage: UsageMetadata | None, message_id: str | None = None
) -> AIMessage:
    """The final answer as the conversation records it: named, with the question's usage."""
    return AIMessage(content=content, name=name, usage_metadata=usage, id=message_id)


def total_usage(*usages: Any) -> UsageMetadata | None:
    """Sum of the usage records given (`None`s skipped); `None` when there are none."""
    total: UsageMetadata | None = None
    for usage in usages:
        if usage:
            total = add_usage(total, usage)
    return total
