"""Turning parsed plan lines into tasks: ids, references and tool bindings checked (no I/O)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool

from llmcompiler_graph.plan.parser import ParsedCall, PlanEnd, PlanItem, PlanLineError, PlanStrayCall
from llmcompiler_graph.plan.references import find_references, renumber_references
from llmcompiler_graph.plan.tool_schemas import bind_arguments, tool_parameters
from llmcompiler_graph.state import Task, tool_call_id

__all__ = ["PlanBuilder"]


@dataclass
class PlanBuilder:
    """Validates parsed plan items against the tools and earlier tasks, producing tasks.

    Pure bookkeeping: no I/O. Each :meth:`add` returns the task it created (or `None`),
    so a caller can publish tasks while the plan is still streaming.

    A replan that numbers its actions from 1 again (the paper's own code does, and so do
    small models) is renumbered after the last id used: from the first action whose id
    an earlier plan used, every action of the plan gets the next free id, its references
    to its own earlier actions follow, and references to ids that exist only in earlier
    plans keep pointing there. :attr:`renumbered` maps written ids to the ids used, and a
    note says so.
    """

    tools: Mapping[str, BaseTool]
    earlier_tasks: Mapping[int, Task]
    plan_round: int
    max_tasks: int | None = None
    tasks: dict[int, Task] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    renumbered: dict[int, int] = field(default_factory=dict)
    joined: bool = False
    question_id: str | None = None

    @property
    def full(self) -> bool:
        """Whether the plan reached `max_tasks` (later actions are dropped)."""
        return self.max_tasks is not None and len(self.tasks) >= self.max_tasks

    def add(self, item: PlanItem) -> Task | None:
        """Turn one plan item into a task, or record why it could not become one."""
        if isinstance(item, PlanStrayCall):
            self._report_stray(item)
            return None
        if isinstance(item, PlanEnd) or not isinstance(item, PlanLineError | ParsedCall):
            return None
        if isinstance(item, ParsedCall) and item.is_join:
            self.joined = True
            self.notes.extend(f"join: {note}" for note in item.notes)
            return None
        if self.full:
            self.note_truncated()
            return None
        idx = self._assign_id(item.idx, item.line) if item.idx is not None else None
        if isinstance(item, PlanLineError):
            if idx is None:
                self.issues.append(f"could not parse line {item.line[:200]!r}: {item.message}")
                return None
            return self._record(
                idx, "?", {}, [], None, f"could not parse {item.line[:200]!r}: {item.message}"
            )
        if idx is None:
            return None
        self.notes.extend(f"action {idx}: {note}" for note in item.notes)
        return self._task_for(idx, item)

    def _report_stray(self, item: PlanStrayCall) -> None:
        """An issue for a line that calls a tool but is not an action the parser could read."""
        known = [name for name in item.names if name in self.tools]
        if known:
            self.issues.append(
                f"the line {item.line[:200]!r} calls {known[0]} but is not a numbered action "
                f"(write it as `N. {known[0]}(...)`), so it was not run"
            )

    def _task_for(self, idx: int, item: ParsedCall) -> Task:
        """The task for a call at id `idx`: bound to its tool, or an error the joiner reads."""
        own_earlier = {old: new for old, new in self.renumbered.items() if new != idx}
        args = renumber_references(item.args, own_earlier)
        kwargs = renumber_references(item.kwargs, own_earlier)
        dependencies = sorted(ref for ref in find_references([args, kwargs]) if self._taken(ref))
        literal = sorted(find_references([args, kwargs]) - set(dependencies))
        if literal:
            refs = ", ".join(f"${ref}" for ref in literal)
            self.notes.append(
                f"action {idx}: {refs} names no earlier action, so it was kept as text "
                "(write $$N for a literal $N)"
            )
        tool = self.tools.get(item.tool)
        if tool is None:
            message = f"unknown tool {item.tool!r}; available tools: {', '.join(self.tools)}"
            return self._invalid(idx, item, args, kwargs, dependencies, message)
        if item.unquoted and not kwargs and len(tool_parameters(tool)) == 1:
            args = (renumber_references(item.arguments.strip(), own_earlier),)
        try:
            bound = bind_arguments(tool, args, kwargs)
        except ValueError as exc:
            message = f"{exc}; {item.notes[0]}" if item.unquoted else str(exc)
            return self._invalid(idx, item, args, kwargs, dependencies, message)
        return self._record(idx, item.tool, bound, dependencies, item.thought, None, item.call_id)

    def _assign_id(self, written: int, line: str) -> int | None:
        """The id an action gets: as written, or the next free one in a renumbered replan."""
        if written in self.renumbered:
            self.issues.append(f"action {written} ({line[:120]}) repeats an id of this plan; it was ignored")
            return None
        if not self.renumbered and written not in self.earlier_tasks:
            if written in self.tasks:
                self.issues.append(
                    f"action {written} ({line[:120]}) reuses an id already used by this plan; it was ignored"
                )
                return None
            return written
        new = 1 + max([*self.earlier_tasks, *self.tasks], default=0)
        self.renumbered[written] = new
        self.notes.append(f"action {written} was renumbered {new}: earlier plans already used id {written}")
        return new

    def _invalid(
        self,
        idx: int,
        item: ParsedCall,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        dependencies: list[int],
        message: str,
    ) -> Task:
        """A task that cannot run, keeping what the planner wrote for the joiner to read."""
        kept: dict[str, Any] = {f"arg{i}": value for i, value in enumerate(args)}
        kept.update(kwargs)
        return self._record(idx, item.tool, kept, dependencies, item.thought, message, item.call_id)

    def note_truncated(self) -> None:
        """Record (once) that actions beyond `max_tasks` were dropped."""
        message = f"the plan reached max_tasks_per_plan={self.max_tasks}; later actions were not run"
        if message not in self.issues:
            self.issues.append(message)

    def close(self) -> list[str]:
        """Record plan-level problems once the stream has ended; returns all issues."""
        if not self.tasks:
            self.issues.append("the plan contained no actions")
        elif not self.joined:
            self.issues.append("the plan did not end with join(); the actions it listed were run")
        return self.issues

    def _taken(self, idx: int) -> bool:
        return idx in self.tasks or idx in self.earlier_tasks

    def _record(
        self,
        idx: int,
        tool: str,
        args: dict[str, Any],
        dependencies: list[int],
        thought: str | None,
        error: str | None,
        call_id: str | None = None,
    ) -> Task:
        now = time.time()
        task: Task = {
            "idx": idx,
            "tool": tool,
            "args": args,
            "dependencies": dependencies,
            "thought": thought,
            "plan_round": self.plan_round,
            "status": "pending" if error is None else "error",
            "resolved_args": None,
            "result": None,
            "error": error,
            "started_at": None,
            "finished_at": now if error is not None else None,
            "tool_call_id": call_id or tool_call_id(self.question_id, idx),
        }
        self.tasks[idx] = task
        return task
