"""The threads sync tools run on: daemon threads that an abandoned tool call cannot hold up.

LangChain runs a sync tool with `loop.run_in_executor(None, ...)`: on the event loop's
default executor. Python's standard pool joins its threads when the loop shuts it down
(`asyncio.run` does) and again at interpreter exit, so one tool stuck in a blocking call
would keep the process alive after its run has answered, and enough of them would leave
no thread for any later call. :class:`ToolThreadPool` is installed as the loop's default
executor the first time a sync tool runs there (:func:`use_tool_threads`). It starts a
daemon thread whenever no idle one is free, and `shutdown(wait=True)` waits for every job
it was given except tool calls given up at their timeout (:meth:`ToolThreadPool.abandon`),
whose threads simply end with the process.

Example:
    >>> pool = ToolThreadPool()
    >>> pool.submit(sum, [1, 2]).result()
    3
    >>> pool.shutdown()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ToolThreadPool", "abandon_call", "tool_call_scope", "use_tool_threads"]

T = TypeVar("T")

_CALL: contextvars.ContextVar[str | None] = contextvars.ContextVar("llmcompiler_tool_call", default=None)

_IDLE_WORKERS_KEPT = 8
"""Idle threads kept for later calls; more end once their job is done."""


class ToolThreadPool(concurrent.futures.ThreadPoolExecutor):
    """An executor of daemon threads that never waits for a tool call it was told to give up on.

    A `ThreadPoolExecutor` only because asyncio accepts nothing else as a default executor:
    it starts none of that class's (non-daemon, joined-at-exit) threads.
    """

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="llmcompiler-tool")
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._closed = False
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._by_call: dict[str, set[concurrent.futures.Future[Any]]] = {}

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run `fn(*args, **kwargs)` on an idle thread, or a new one when none is free."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        call = _CALL.get()
        with self._lock:
            if self._closed:
                msg = "cannot schedule new futures after shutdown"
                raise RuntimeError(msg)
            self._pending.add(future)
            if call is not None:
                self._by_call.setdefault(call, set()).add(future)
            start = self._idle == 0
            if not start:
                self._idle -= 1
        future.add_done_callback(lambda done: self._finished(done, call))
        self._jobs.put((future, fn, args, kwargs))
        if start:
            threading.Thread(target=self._work, name="llmcompiler-tool", daemon=True).start()
        return future

    def abandon(self, call: str) -> None:
        """Stop waiting for the jobs of tool call `call` (it was given up at its timeout)."""
        with self._lock:
            for future in self._by_call.pop(call, set()):
                self._pending.discard(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more jobs; with `wait`, wait for every job not abandoned."""
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        if cancel_futures:
            for future in pending:
                future.cancel()
        if wait:
            concurrent.futures.wait(pending)

    def _finished(self, future: concurrent.futures.Future[Any], call: str | None) -> None:
        with self._lock:
            self._pending.discard(future)
            if call is not None and call in self._by_call:
                self._by_call[call].discard(future)
                if not self._by_call[call]:
                    del self._by_call[call]

    def _work(self) -> None:
        while True:
            future, fn, args, kwargs = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as error:
                    future.set_exception(error)
            del future, fn, args, kwargs
            with self._lock:
                if self._idle >= _IDLE_WORKERS_KEPT:
                    return
                self._idle += 1


def use_tool_threads(loop: asyncio.AbstractEventLoop) -> ToolThreadPool:
    """Make a :class:`ToolThreadPool` the default executor of `loop` (once); return it.

    The loop's previous default pool, if it had one, is left to finish what it was given.
    """
    current = getattr(loop, "_default_executor", None)  # asyncio keeps no public accessor
    if isinstance(current, ToolThreadPool):
        return current
    pool = ToolThreadPool()
    loop.set_default_executor(pool)
    return pool


def tool_call_scope(call: str) -> contextvars.Context:
    """A copy of the current context in which thread jobs are filed under tool call `call`."""
    context = contextvars.copy_context()
    context.run(_CALL.set, call)
    return context


def abandon_call(loop: asyncio.AbstractEventLoop, call: str) -> None:
    """Tell `loop`'s tool pool not to wait for tool call `call`'s thread at shutdown or exit."""
    pool = getattr(loop, "_default_executor", None)
    if isinstance(pool, ToolThreadPool):
        pool.abandon(call)
