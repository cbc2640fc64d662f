"""What a run is, read once from the config LangGraph hands a node or a run: the one place that knows.

A run's thread, its checkpoint namespace (empty at the top level, set inside a subgraph or
a graph called from a node), and whether it saves checkpoints (LangGraph puts the run's
checkpointer in the config, also when the LangGraph server brings its own). Everything
else asks a :class:`RunContext`: the thread lock (which thread a top-level run holds), the
scheduler (the key of its step's task fetching unit; whether tool calls can be saved as
they finish), approvals (which need a checkpointer).

Example:
    >>> run = RunContext.of({"configurable": {"thread_id": "t1"}})
    >>> run.root_thread, run.checkpointed, run.step_key
    ('t1', False, 't1|')
    >>> RunContext.of({"configurable": {"thread_id": "t1", "checkpoint_ns": "agent:1"}}).root_thread is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

__all__ = ["RunContext"]

# Where LangGraph keeps a run's checkpointer and a node's task id in the config (read only).
_CHECKPOINTER_KEY = "__pregel_checkpointer"
_TASK_ID_KEY = "__pregel_task_id"


@dataclass(frozen=True)
class RunContext:
    """A run (or one node's step of it), as its config describes it.

    Attributes:
        thread_id: The run's `thread_id`, as text; `None` when it has none.
        checkpoint_ns: The checkpoint namespace of the step; empty for the top-level graph.
        checkpointed: Whether the run saves checkpoints.
        nested: Whether this graph runs inside another run (as a subgraph, or called from a
            node): the parent run owns the thread.
    """

    thread_id: str | None
    checkpoint_ns: str
    checkpointed: bool
    nested: bool

    @classmethod
    def of(cls, config: RunnableConfig | None) -> RunContext:
        """Read the context of the run `config` belongs to."""
        config = config or {}
        configurable: dict[str, Any] = dict(config.get("configurable") or {})
        metadata = config.get("metadata") or {}
        namespace = configurable.get("checkpoint_ns") or metadata.get("checkpoint_ns", "")
        thread = configurable.get("thread_id")
        return cls(
            thread_id=None if thread is None else str(thread),
            checkpoint_ns=str(namespace or ""),
            checkpointed=configurable.get(_CHECKPOINTER_KEY) is not None,
            nested=bool(configurable.get("checkpoint_ns") or configurable.get(_TASK_ID_KEY)),
        )

    @property
    def root_thread(self) -> str | None:
        """The thread a top-level run holds; `None` for nested calls and thread-less runs."""
        return None if self.nested else self.thread_id

    @property
    def step_key(self) -> str:
        """LangGraph's own id of the current step (thread and namespace), the same after a resume."""
        return f"{self.thread_id or ''}|{self.checkpoint_ns}"
