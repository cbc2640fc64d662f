"""Human approval of tool calls with side effects, through LangGraph's `interrupt`.

Before the first task whose tool has side effects runs, the graph pauses once with every
such call of the plan. Tasks without side effects (and not depending on one) run in the
meantime. Resume with `Command(resume=decision)`:

- `"approve"` (or `True`): run them as planned;
- `"reject"` (or `False`, or `{"decision": "reject", "reason": "..."}`): do not run them;
  the joiner reads the rejection as their observation and may replan;
- `{"decision": "edit", "args": {3: {"to": "ops@example.com"}}}`: run them, with the
  arguments of the listed tasks replaced (references like `$1` allowed).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any, Literal, NotRequired

from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from typing_extensions import TypedDict

from llmcompiler_graph.durability.run_context import RunContext
from llmcompiler_graph.execution.records import finished
from llmcompiler_graph.nodes import APPROVE_NODE
from llmcompiler_graph.plan.parser import find_references
from llmcompiler_graph.state import Task

__all__ = [
    "APPROVE_NODE",
    "SIDE_EFFECTS_METADATA_KEY",
    "ApprovalRequest",
    "ApprovalRequestPayload",
    "apply_decision",
    "make_approval_node",
]


SIDE_EFFECTS_METADATA_KEY = "llmcompiler_side_effects"
"""Set `tool.metadata[SIDE_EFFECTS_METADATA_KEY] = True` to require approval of its calls."""

Approval = Literal["approved", "rejected"]


class ApprovalRequest(TypedDict):
    """What the scheduler sends to the approval node (a `Send` payload)."""

    tasks: list[Task]
    known_ids: list[int]


class ApprovalRequestPayload(TypedDict):
    """The value of the interrupt a caller sees (`state.interrupts[0].value`)."""

    type: Literal["approval_request"]
    calls: list[dict[str, Any]]
    """Each planned call with side effects: `idx`, `tool`, `args`, `dependencies`, `thought`."""
    instructions: str
    error: NotRequired[str]
    """Why the previous resume value was refused (the same calls are asked about again)."""


def apply_decision(
    decision: Any,
    tasks: list[Task],
    known_ids: Collection[int],
    parameters: Mapping[str, Collection[str]] | None = None,
) -> tuple[dict[int, Approval], dict[int, Task]]:
    """Turn a resume value into approvals and updated task records.

    `parameters` maps tool names to their parameter names, to refuse edits that name a
    parameter the tool does not have.

    Raises:
        ValueError: The decision is not one of the documented forms, or an edit names
            a task that was not in the request, a parameter its tool does not have, or
            refers to a task that is not earlier.
    """
    if decision is True or decision == "approve":
        decision = {"decision": "approve"}
    elif decision is False or decision == "reject":
        decision = {"decision": "reject"}
    if not isinstance(decision, Mapping) or decision.get("decision") not in ("approve", "reject", "edit"):
        msg = (
            "resume an approval with 'approve', 'reject', {'decision': 'reject', 'reason': ...} or "
            f"{{'decision': 'edit', 'args': {{task_id: {{...}}}}}}; got {decision!r}"
        )
        raise ValueError(msg)
    by_idx = {t["idx"]: t for t in tasks}
    if decision["decision"] == "reject":
        reason = str(decision.get("reason") or "no reason given")
        rejected = {
            idx: finished(t, status="error", error=f"rejected by the user: {reason}", finished_at=time.time())
            for idx, t in by_idx.items()
        }
        return dict.fromkeys(by_idx, "rejected"), rejected
    edits: dict[int, Task] = {}
    for key, args in (decision.get("args") or {}).items():
        idx = int(key)
        if idx not in by_idx:
            msg = f"edit names task {idx}, which was not awaiting approval ({sorted(by_idx)})"
            raise ValueError(msg)
        if not isinstance(args, Mapping):
            msg = f"edited arguments of task {idx} must be a dict of parameter names, got {args!r}"
            raise ValueError(msg)
        known_parameters = (parameters or {}).get(by_idx[idx]["tool"])
        unknown = sorted(set(args) - set(known_parameters)) if known_parameters is not None else []
        if unknown:
            msg = f"edited arguments of task {idx} name {unknown}, which {by_idx[idx]['tool']} does not take"
            raise ValueError(msg)
        dependencies = sorted(find_references(dict(args)))
        bad = [d for d in dependencies if d >= idx or d not in known_ids]
        if bad:
            msg = f"edited arguments of task {idx} refer to {bad}, which are not earlier tasks"
            raise ValueError(msg)
        edits[idx] = {**by_idx[idx], "args": dict(args), "dependencies": dependencies}
    return dict.fromkeys(by_idx, "approved"), edits


def make_approval_node(parameters: Mapping[str, Collection[str]] | None = None) -> Any:
    """Build the node that asks for approval of the calls in its request, in one interrupt.

    A resume value that is not a valid decision is not applied: the node asks again, with
    the reason in the new interrupt's `error`, so the thread stays answerable.
    """

    async def approve(request: ApprovalRequest, config: RunnableConfig) -> dict[str, Any]:
        if not RunContext.of(config).checkpointed:
            msg = (
                "tools with side effects need approval, which pauses the graph: compile it with a "
                "checkpointer (for example InMemorySaver or SqliteSaver) and run it with a thread_id"
            )
            raise ValueError(msg)
        payload: ApprovalRequestPayload = {
            "type": "approval_request",
            "calls": [
                {k: t[k] for k in ("idx", "tool", "args", "dependencies", "thought")}
                for t in request["tasks"]
            ],
            "instructions": (
                "Resume with Command(resume='approve' | 'reject' | {'decision': 'edit', 'args': {...}})"
            ),
        }
        question: ApprovalRequestPayload = payload
        while True:  # each interrupt() call here has its own resume value
            decision = interrupt(question)
            try:
                approvals, updates = apply_decision(
                    decision, request["tasks"], request["known_ids"], parameters
                )
            except ValueError as exc:
                question = {**payload, "error": f"the resume value was not applied: {exc}"}
                continue
            return {"approvals": approvals, "tasks": updates}

    return approve
