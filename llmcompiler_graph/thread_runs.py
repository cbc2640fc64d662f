"""One run at a time per thread: a second run started on a busy thread is refused, not lost.

Two runs on one `thread_id` at once both read the thread's latest checkpoint and write
over each other; the thread keeps only one of the questions, without an error. A graph
built by :func:`~llmcompiler_graph.create_llmcompiler` (or `create_agent`) compiles to
:class:`CompiledLLMCompiler`, which refuses a run (also a resume) on a thread that already
has one in progress in this process with :class:`ThreadBusyError`. Nested calls (the graph
as a subgraph, or called from inside another graph's node) are not checked: their parent
run owns the thread. Across processes, the LangGraph server serialises runs per thread
itself (`multitask_strategy`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

__all__ = ["STEP_THREADS", "CompiledLLMCompiler", "LLMCompilerGraph", "ThreadBusyError", "ThreadRuns"]


STEP_THREADS = 1024
"""`max_concurrency` of sync runs that set none (see :meth:`CompiledLLMCompiler.stream`)."""


class ThreadBusyError(RuntimeError):
    """A run was started on a thread that already has a run in progress."""


def _root_thread(config: RunnableConfig | None) -> str | None:
    """The thread of a top-level run with a thread id; `None` for nested calls and thread-less runs."""
    configurable = (config or {}).get("configurable") or {}
    if configurable.get("checkpoint_ns") or configurable.get("__pregel_task_id"):
        return None  # a subgraph, or a graph called from a node: the parent run owns the thread
    thread = configurable.get("thread_id")
    return None if thread is None else str(thread)


class ThreadRuns:
    """The threads with a top-level run in progress, shared by every copy of one compiled graph."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, float] = {}

    @contextlib.contextmanager
    def claim(self, config: RunnableConfig | None) -> Iterator[None]:
        """Hold the run's thread for the duration of the block.

        Raises:
            ThreadBusyError: Another run holds the thread.
        """
        thread = _root_thread(config)
        if thread is not None:
            with self._lock:
                since = self._busy.get(thread)
                if since is not None:
                    msg = (
                        f"thread {thread!r} already has a run in progress (for {time.time() - since:.1f} s): "
                        "two runs at once would overwrite each other's messages. Wait for it to finish, "
                        "or use another thread_id (the LangGraph server queues or rejects such runs "
                        "with multitask_strategy)."
                    )
                    raise ThreadBusyError(msg)
                self._busy[thread] = time.time()
        try:
            yield
        finally:
            if thread is not None:
                with self._lock:
                    self._busy.pop(thread, None)


class CompiledLLMCompiler(CompiledStateGraph[Any, Any, Any, Any]):
    """A compiled LLMCompiler graph: a `CompiledStateGraph` that runs one run per thread at a time."""

    def _thread_runs(self) -> ThreadRuns | None:
        runs = getattr(self.builder, "thread_runs", None)
        return runs if isinstance(runs, ThreadRuns) and self.checkpointer not in (None, False) else None

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """`CompiledStateGraph.stream`, refusing a second run on a busy thread (:class:`ThreadBusyError`).

        Unless the run's config sets `max_concurrency`, it is :data:`STEP_THREADS` here:
        LangGraph's sync runner otherwise runs one step's nodes on `min(32, cores + 4)`
        threads and queues each finished node's checkpoint write behind the nodes still
        waiting, so with more `Send`s than threads a finished tool call went unsaved until
        every node of the step had started (and a node waiting on a later one could wait
        for good).
        """
        config = merge_configs({"max_concurrency": STEP_THREADS}, config)
        runs = self._thread_runs()
        with runs.claim(config) if runs is not None else contextlib.nullcontext():
            yield from super().stream(input, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """`CompiledStateGraph.astream`, refusing a second run on a busy thread (:class:`ThreadBusyError`)."""
        runs = self._thread_runs()
        with runs.claim(config) if runs is not None else contextlib.nullcontext():
            async for part in super().astream(input, config, **kwargs):
                yield part


class LLMCompilerGraph(StateGraph[Any, Any, Any, Any]):
    """The uncompiled LLMCompiler graph: a `StateGraph` compiling to :class:`CompiledLLMCompiler`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.thread_runs = ThreadRuns()

    def compile(self, *args: Any, **kwargs: Any) -> CompiledLLMCompiler:
        """`StateGraph.compile`, returning :class:`CompiledLLMCompiler`."""
        compiled = super().compile(*args, **kwargs)
        compiled.__class__ = CompiledLLMCompiler  # adds methods only, no state of its own
        return compiled  # type: ignore[return-value]
