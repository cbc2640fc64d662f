"""The names of every node (and saved task) of the graphs this package builds, in one place.

They are what LangGraph Studio draws, what `interrupt_before` / `interrupt_after` take,
what `stream_mode="updates"` keys its chunks by, and what `metadata["langgraph_node"]`
says on streamed tokens.

Example:
    >>> from llmcompiler_graph.nodes import PLANNER_NODE, EXECUTE_TASK_NODE
    >>> (PLANNER_NODE, EXECUTE_TASK_NODE)
    ('planner', 'execute_task')
"""

from __future__ import annotations

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
