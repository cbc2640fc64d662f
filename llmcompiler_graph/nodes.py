"""The names of every node (and saved task) of the graphs this package builds, in one place.

They are what LangGraph Studio draws, what `interrupt_before` / `interrupt_after` take,
what `stream_mode="updates"` keys its chunks by, and what `metadata["langgraph_node"]`
says on streamed tokens.

Example:
    >>> from llmcompiler_graph.nodes import PLANNER_NODE, EXECUTE_TASK_NODE
    >>> (PLANNER_NODE, EXECUTE_TASK_NODE)
    ('planner', 'execute_task')

It also holds the contract that says which call of the package a model call is: every
model call the package makes carries `metadata["llmcompiler_part"]` (a :class:`ModelCall`)
in its run config, which a chat model reads from its callback manager (`run_manager.metadata`).
The embedded local model chooses how to serve a call from it, never from a prompt's words.

Example:
    >>> from llmcompiler_graph.nodes import ModelCall, model_call, model_call_metadata
    >>> model_call_metadata(ModelCall.JOINER, can_replan=False)
    {'llmcompiler_part': 'joiner', 'llmcompiler_can_replan': False}
    >>> model_call({"llmcompiler_part": "plan"}), model_call({"llmcompiler_part": "other"})
    (<ModelCall.PLAN: 'plan'>, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "APPROVE_NODE",
    "ASSEMBLE_NODE",
    "DIRECT_ANSWER_NODE",
    "DIRECT_NODE",
    "EXECUTE_TASK_NODE",
    "EXPAND_NODE",
    "JOINER_NODE",
    "LLMCOMPILER_NODE",
    "PLANNER_NODE",
    "PLAN_STREAM_TASK",
    "ROUTE_NODE",
    "SCHEDULER_NODE",
    "SKELETON_OF_THOUGHT_NODE",
    "SKELETON_NODE",
    "CAN_REPLAN_KEY",
    "MODEL_CALL_KEY",
    "REPLAN_FROM_KEY",
    "ModelCall",
    "model_call",
    "model_call_metadata",
]

# LLMCompiler (create_llmcompiler / create_agent)
PLANNER_NODE = "planner"
"""Streams the plan and starts each task as its line completes (eager dispatch)."""
SCHEDULER_NODE = "scheduler"
"""Sends each task not started yet to its own task node; holds tasks awaiting approval."""
EXECUTE_TASK_NODE = "execute_task"
"""Runs one task's tool call (a `Send` per task); also the name of the saved tool-run task."""
APPROVE_NODE = "approve"
"""Pauses once (`interrupt`) for a human's decision on every call of a side-effect tool."""
JOINER_NODE = "joiner"
"""Reads the observations and answers (`Finish`) or sends the question back (`Replan`)."""
PLAN_STREAM_TASK = "plan_stream"
"""The saved task (under the planner) that holds a streamed plan, with a checkpointer."""

# Skeleton-of-Thought (create_skeleton_of_thought)
SKELETON_NODE = "skeleton"
"""Streams the answer's skeleton (its points)."""
EXPAND_NODE = "expand_point"
"""Expands one point (a `Send` per point)."""
ASSEMBLE_NODE = "assemble"
"""Joins the expanded points into the answer."""
DIRECT_NODE = "direct"
"""Answers in one call when the skeleton is not a list of points."""

# Router (create_auto_agent)
ROUTE_NODE = "route"
"""Picks LLMCompiler, Skeleton-of-Thought or a direct answer for each question."""
DIRECT_ANSWER_NODE = "direct_answer"
"""Answers in one model call (the router's `direct`)."""
SKELETON_OF_THOUGHT_NODE = "skeleton_of_thought"
"""The Skeleton-of-Thought graph, as a subgraph (the router's `skeleton`)."""
LLMCOMPILER_NODE = "llmcompiler"
"""The LLMCompiler graph, as a subgraph (the router's `tools`)."""


# Model calls: which call of the package a chat model serves (run metadata)
MODEL_CALL_KEY = "llmcompiler_part"
"""The run metadata key every model call of the package sets: its :class:`ModelCall`."""
CAN_REPLAN_KEY = "llmcompiler_can_replan"
"""On joiner calls: whether the joiner may still answer `Replan(...)` (False on the finish-only prompt)."""
REPLAN_FROM_KEY = "llmcompiler_replan_from"
"""On planner calls that replan (only those): the id the new plan's actions start from.

The replan's prompt (what ran so far) is then the call's last human message.
"""


class ModelCall(StrEnum):
    """Which call of the package a model call is (the value of :data:`MODEL_CALL_KEY`)."""

    PLAN = "plan"
    """The planner (LLMCompiler): writes the plan; a replan also has :data:`REPLAN_FROM_KEY`."""
    JOINER = "joiner"
    """The joiner: `Finish(...)` or `Replan(...)` from the observations (with :data:`CAN_REPLAN_KEY`)."""
    ANSWER = "answer"
    """The joiner's answer as it streams (not a model: a relay of the joiner's reply)."""
    STRUCTURED = "structured"
    """Turns the final answer into the `response_format` schema."""
    MATH = "math"
    """The `math` tool: translates a word problem and its context into one expression."""
    SKELETON = "skeleton"
    """Skeleton-of-Thought: writes the answer's skeleton (its points)."""
    EXPAND = "expand"
    """Skeleton-of-Thought: expands one point."""
    DIRECT = "direct"
    """Answers in one call (Skeleton-of-Thought's `direct`, the router's `direct_answer`)."""
    ROUTE = "route"
    """The prompted router: picks LLMCompiler, Skeleton-of-Thought or a direct answer."""
    REACT = "react"
    """The benchmark's text ReAct baseline: one `Thought`/`Action` step."""


def model_call_metadata(
    part: ModelCall, *, can_replan: bool | None = None, replan_from: int | None = None
) -> dict[str, Any]:
    """The run metadata of a model call: its part, and the details given (not None)."""
    metadata: dict[str, Any] = {MODEL_CALL_KEY: part.value}
    if can_replan is not None:
        metadata[CAN_REPLAN_KEY] = can_replan
    if replan_from is not None:
        metadata[REPLAN_FROM_KEY] = replan_from
    return metadata


def model_call(metadata: Mapping[str, Any] | None) -> ModelCall | None:
    """The part a model call's run metadata names; None for a call without one (or an unknown one)."""
    value = (metadata or {}).get(MODEL_CALL_KEY)
    try:
        return ModelCall(value) if isinstance(value, str) else None
    except ValueError:
        return None
