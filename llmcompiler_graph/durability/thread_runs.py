"""One run at a time per thread: a second run started on a busy thread is refused, not lost.

A graph built by :func:`~llmcompiler_graph.create_llmcompiler` (or `create_agent`)
compiles to :class:`CompiledLLMCompiler`, which holds a run's thread for as long as the
run lasts (see :mod:`llmcompiler_graph.durability.thread_locks`): a run (also a resume) on a thread
that another run holds, in this process or in another process on the same SQLite file or
PostgreSQL database, raises :class:`ThreadBusyError` before anything runs. Nested calls
(the graph as a subgraph, or called from inside another graph's node) are not checked:
their parent run owns the thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from llmcompiler_graph.durability.thread_locks import (
    ThreadBusyError,
    ThreadRuns,
    astore_lock,
    root_thread,
    store_lock,
)

__all__ = ["STEP_THREADS", "CompiledLLMCompiler", "LLMCompilerGraph", "ThreadBusyError", "ThreadRuns"]


STEP_THREADS = 1024
"""`max_concurrency` of sync runs that set none (see :meth:`CompiledLLMCompiler.stream`)."""


class CompiledLLMCompiler(CompiledStateGraph[Any, Any, Any, Any]):
    """A compiled LLMCompiler graph: a `CompiledStateGraph` that runs one run per thread at a time."""

    def _thread_runs(self) -> ThreadRuns | None:
        runs = getattr(self.builder, "thread_runs", None)
        return runs if isinstance(runs, ThreadRuns) and self.checkpointer not in (None, False) else None

    @contextlib.contextmanager
    def _hold_thread(self, config: RunnableConfig | None) -> Iterator[None]:
        runs, thread = self._thread_runs(), root_thread(config)
        if runs is None or thread is None:
            yield
            return
        with runs.claim(thread):
            lock = store_lock(self.checkpointer)
            with lock.hold(thread) if lock is not None else contextlib.nullcontext():
                yield

    @contextlib.asynccontextmanager
    async def _ahold_thread(self, config: RunnableConfig | None) -> AsyncIterator[None]:
        runs, thread = self._thread_runs(), root_thread(config)
        if runs is None or thread is None:
            yield
            return
        with runs.claim(thread):
            lock = await astore_lock(self.checkpointer)
            async with lock.ahold(thread) if lock is not None else contextlib.nullcontext():
                yield

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
        with self._hold_thread(config):
            yield from super().stream(input, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """`CompiledStateGraph.astream`, refusing a second run on a busy thread (:class:`ThreadBusyError`)."""
        async with self._ahold_thread(config):
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
