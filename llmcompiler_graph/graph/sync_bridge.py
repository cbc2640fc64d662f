"""Running the package's async node code from synchronous calls (`invoke`, `stream`, `batch`).

All synchronous runs share one background event loop thread, so the task nodes of one
scheduler step, each called from its own worker thread by LangGraph, still share one
:class:`~llmcompiler_graph.execution.fetching_unit.TaskFetchingUnit` on one loop. The loop survives a
tool that raises `SystemExit` or `KeyboardInterrupt` (the run that caused it gets the
exception) and is recreated if it ever stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config

__all__ = ["AsyncNode", "in_sync_run", "run_sync", "sync_node"]

T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")


_SYNC_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("llmcompiler_sync_run", default=False)


def in_sync_run() -> bool:
    """Whether the current node runs for a synchronous call (`invoke`, `stream`, `batch`)."""
    return _SYNC_RUN.get()


_THREAD_NAME = "llmcompiler-graph-sync"
_background_loop: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    global _background_loop
    with _background_lock:
        if _background_loop is None or _background_loop.is_closed() or not _background_loop.is_running():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_serve, args=(loop,), name="llmcompiler-graph-sync", daemon=True)
            running = threading.Event()
            loop.call_soon(running.set)
            thread.start()
            running.wait()  # so a dead loop is told apart from one still starting
            _background_loop = loop
        return _background_loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run the background loop for good, also after a task raised `SystemExit` / `KeyboardInterrupt`.

    asyncio lets those two out of `run_forever` (the task that raised them is already
    done, holding the exception); running the loop again delivers it to whoever awaits
    that task, so the run that caused it ends and every other run goes on.
    """
    while True:
        try:
            loop.run_forever()
        except (KeyboardInterrupt, SystemExit):
            continue
        return


class _Escaped(Exception):
    """Carries a `KeyboardInterrupt` / `SystemExit` out of the background loop to the caller.

    Raised inside an asyncio task, those two stop the event loop itself; caught as this
    instead, the loop lives on and the caller's thread re-raises the original.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


async def _guarded(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    except (KeyboardInterrupt, SystemExit) as error:
        raise _Escaped(error) from error


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a node's coroutine from synchronous code (`invoke`, `stream`, `batch`).

    All synchronous runs share one background event loop thread, so the task nodes of
    a batch, each called from its own worker thread by LangGraph, still coordinate
    through one loop. The caller's context variables (LangGraph's config, stream
    writer and callbacks) are carried over.
    """
    loop = _loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # blocking here would wait on ourselves forever
        coro.close()
        msg = "a synchronous graph call was made from inside an async node or tool; use ainvoke/astream there"
        raise RuntimeError(msg)
    context = contextvars.copy_context()
    context.run(_SYNC_RUN.set, True)
    result: concurrent.futures.Future[T] = concurrent.futures.Future()

    def start() -> None:
        task = loop.create_task(_guarded(coro), context=context)

        def done(finished: asyncio.Task[T]) -> None:
            if finished.cancelled():
                result.cancel()
            elif (error := finished.exception()) is not None:
                result.set_exception(error)
            else:
                result.set_result(finished.result())

        task.add_done_callback(done)

    loop.call_soon_threadsafe(start)
    try:
        return result.result()
    except _Escaped as escaped:
        raise escaped.error from None


class AsyncNode(Runnable[S, R]):
    """A graph node with one async implementation, callable from sync and async graph APIs.

    LangGraph already traces every node run, so this wrapper adds no callback run of its
    own (a `RunnableLambda` would, at a measurable cost per task). Sync calls run the
    coroutine on a shared background loop (:func:`run_sync`).
    """

    def __init__(self, name: str, afunc: Callable[[S, RunnableConfig], Coroutine[Any, Any, R]]) -> None:
        self.name = name
        self._afunc = afunc

    def invoke(self, input: S, config: RunnableConfig | None = None, **kwargs: Any) -> R:
        """Run the node for a synchronous graph call, on the shared background loop."""
        return run_sync(self._afunc(input, ensure_config(config)))

    async def ainvoke(self, input: S, config: RunnableConfig | None = None, **kwargs: Any) -> R:
        """Run the node for an async graph call."""
        return await self._afunc(input, ensure_config(config))


def sync_node(name: str, func: Callable[[S, RunnableConfig], R]) -> AsyncNode[S, R]:
    """A node whose work is synchronous and quick: run inline on either path."""

    async def afunc(state: S, config: RunnableConfig) -> R:
        return func(state, config)

    return AsyncNode(name, afunc)
