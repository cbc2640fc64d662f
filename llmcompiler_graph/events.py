"""Typed live events, emitted on `stream_mode="custom"`.

Every event is a dict with a `type` key naming one of the TypedDicts below, so a
consumer can dispatch on it:

```python
async for event in graph.astream(inputs, stream_mode="custom"):
    if event["type"] == "task_finished":
        print(event["idx"], event["status"], event["duration"])
```
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.config import get_stream_writer
from typing_extensions import TypedDict

from llmcompiler_graph.state import TaskStatus

__all__ = [
    "JoinerDecisionEvent",
    "LLMCompilerEvent",
    "PlanFinishedEvent",
    "PointExpandedEvent",
    "RouteChosenEvent",
    "SkeletonFinishedEvent",
    "SkeletonPointEvent",
    "TaskFinishedEvent",
    "TaskParsedEvent",
    "TaskStartedEvent",
    "emit",
]


class TaskParsedEvent(TypedDict):
    """A plan line was parsed while the planner was still streaming."""

    type: Literal["task_parsed"]
    idx: int
    planned_idx: int
    """The id as the planner wrote it; differs from `idx` when a replan was renumbered."""
    tool: str
    args: dict[str, Any]
    dependencies: list[int]
    plan_round: int
    error: str | None
    """Set when the line named an unknown tool, referenced a missing task, and so on."""
    time: float
    """Epoch seconds."""


class PlanFinishedEvent(TypedDict):
    """The planner finished streaming a plan."""

    type: Literal["plan_finished"]
    plan_round: int
    num_tasks: int
    issues: list[str]
    notes: list[str]
    """How lines were read liberally: unquoted text, ignored trailing text, a `$N` kept as
    text, renumbered ids."""
    renumbered: dict[int, int]
    """Written id -> id used, for a replan that reused earlier ids (empty otherwise)."""
    time: float


class TaskStartedEvent(TypedDict):
    """A task's dependencies were ready and its tool call started."""

    type: Literal["task_started"]
    idx: int
    tool: str
    args: dict[str, Any]
    """Arguments after reference substitution."""
    time: float


class TaskFinishedEvent(TypedDict):
    """A task ended: the tool returned, failed, timed out, or the task was skipped."""

    type: Literal["task_finished"]
    idx: int
    tool: str
    status: TaskStatus
    result: Any
    error: str | None
    duration: float | None
    """Seconds the tool call took; `None` for a task that never started."""
    time: float


class JoinerDecisionEvent(TypedDict):
    """The joiner decided to finish with an answer or to replan."""

    type: Literal["joiner_decision"]
    action: Literal["finish", "replan"]
    thought: str | None
    content: str
    """The answer (finish) or the feedback for the planner (replan)."""
    replans: int
    """Replans so far for this question, including this one."""
    forced: bool
    """True when the replan budget was spent and the joiner had to finish."""
    time: float


class SkeletonPointEvent(TypedDict):
    """Skeleton-of-Thought: a point of the skeleton was parsed while the skeleton streamed."""

    type: Literal["skeleton_point"]
    index: int
    """1-based position of the point."""
    point: str
    time: float


class SkeletonFinishedEvent(TypedDict):
    """Skeleton-of-Thought: the skeleton finished streaming."""

    type: Literal["skeleton_finished"]
    points: list[str]
    fallback: bool
    """True when the skeleton had too few points and a direct answer is given instead."""
    time: float


class PointExpandedEvent(TypedDict):
    """Skeleton-of-Thought: one point's expansion ended (or failed)."""

    type: Literal["point_expanded"]
    index: int
    error: str | None
    duration: float
    time: float


class RouteChosenEvent(TypedDict):
    """The auto agent's router chose how to answer the question."""

    type: Literal["route_chosen"]
    mode: Literal["direct", "skeleton", "tools"]
    router: str
    """Which router decided: `"prompted"` (the model) or `"trained"` (offline classifier)."""
    time: float


LLMCompilerEvent = (
    TaskParsedEvent
    | PlanFinishedEvent
    | TaskStartedEvent
    | TaskFinishedEvent
    | JoinerDecisionEvent
    | SkeletonPointEvent
    | SkeletonFinishedEvent
    | PointExpandedEvent
    | RouteChosenEvent
)


def emit(event: LLMCompilerEvent) -> None:
    """Send an event to `stream_mode="custom"` consumers; a no-op outside a graph run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # called outside a runnable context
        return
    writer(event)
