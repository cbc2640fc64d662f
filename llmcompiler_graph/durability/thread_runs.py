"""One run at a time per thread: a second run started on a busy thread is refused, not lost.

A graph built by :func:`~llmcompiler_graph.create_llmcompiler` (or `create_agent`)
compiles to :class:`CompiledLLMCompiler`, which holds a run's thread for as long as the
run lasts (see :mod:`llmcompiler_graph.durability.thread_locks`): a run (also a resume) on a thread
that another run holds, in this process or in another process on the same SQLite file or
PostgreSQL database (or the store of the `thread_lock=` given), raises
:class:`ThreadBusyError` before anything runs. Nested calls (the graph as a subgraph, or
called from inside another graph's node) are not checked: their parent run owns the thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from llmcompiler_graph.durability.run_context import RunContext
from llmcompiler_graph.durability.thread_locks import (
    StoreLock,
    ThreadBusyError,
    ThreadRuns,
    astore_lock,
    store_lock,
)

__all__ = ["STEP_THREADS", "CompiledLLMCompiler", "LLMCompilerGraph", "ThreadBusyError", "ThreadRuns"]


STEP_THREADS = 1024
"""`max_concurrency` of sync runs that set none (see :meth:`CompiledLLMCompiler.stream`)."""


class CompiledLLMCompiler(CompiledStateGraph[Any, Any, Any, Any]):
    """A compiled LLMCompiler graph: a `CompiledStateGraph` that runs one run per thread at a time."""

    def _holder(self, config: RunnableConfig | None) -> tuple[LLMCompilerGraph, str] | None:
        """The builder that keeps this graph's runs, and the thread a run with `config` holds."""
        builder, thread = self.builder, RunContext.of(config).root_thread
        if not isinstance(builder, LLMCompilerGraph) or self.checkpointer in (None, False) or thread is None:
            return None
        return builder, thread

    @contextlib.contextmanager
    def _hold_thread(self, config: RunnableConfig | None) -> Iterator[None]:
        holder = self._holder(config)
        if holder is None:
            yield
            return
        builder, thread = holder
        with builder.thread_runs.claim(thread):
            lock = builder.thread_lock if builder.thread_lock is not None else store_lock(self.checkpointer)
            with lock.hold(thread) if lock else contextlib.nullcontext():
                yield

    @contextlib.asynccontextmanager
    async def _ahold_thread(self, config: RunnableConfig | None) -> AsyncIterator[None]:
        holder = self._holder(config)
        if holder is None:
            yield
            return
        builder, thread = holder
        with builder.thread_runs.claim(thread):
            lock = (
                builder.thread_lock
                if builder.thread_lock is not None
                else await astore_lock(self.checkpointer)
            )
            async with lock.ahold(thread) if lock else contextlib.nullcontext():
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
    """The uncompiled LLMCompiler graph: a `StateGraph` compiling to :class:`CompiledLLMCompiler`.

    Attributes:
        thread_runs: The threads its compiled graphs' runs hold in this process.
        thread_lock: The lock every process sees: `None` chooses it from the checkpointer
            (a registered saver type, see :data:`~llmcompiler_graph.durability.thread_locks.SAVER_KINDS`),
            `False` takes none (the in-process check only), a :class:`StoreLock` is used as given.
    """

    def __init__(
        self, *args: Any, thread_lock: StoreLock | Literal[False] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.thread_runs = ThreadRuns()
        self.thread_lock = thread_lock

    def compile(self, *args: Any, **kwargs: Any) -> CompiledLLMCompiler:
        """`StateGraph.compile`, returning :class:`CompiledLLMCompiler`."""
        compiled = super().compile(*args, **kwargs)
        # Built from the compiled graph's own fields, as `Pregel.copy` builds its copies.
        return CompiledLLMCompiler(**{k: v for k, v in vars(compiled).items() if k != "__orig_class__"})
