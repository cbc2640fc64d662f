"""Coordination of the task nodes that one scheduler step sends out together.

LangGraph runs every `Send` of a superstep concurrently but only lets the graph move on
once all of them are done (NOTES.md). To run each task as soon as *its own* inputs are
ready, the scheduler sends a whole batch at once and the task nodes of that batch wait
for each other's results through a :class:`Batch`: one future per task, keyed by a
fresh execution id that travels in the `Send` payload. Batches live in a
:class:`BatchRegistry` owned by one graph builder, never in module globals, and are
dropped as soon as every task of the batch has reported.

A batch created by the scheduler in this process is *authoritative*: every task of it
will run here, so waiting on a sibling always ends. A task node that finds no batch
(a run resumed in a new process, where some siblings finished before the crash and will
not run again) creates a non-authoritative one and defers tasks that need a sibling's
result; the scheduler dispatches them in the next step, with the results in hand.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llmcompiler_graph.state import Task

__all__ = ["Batch", "BatchRegistry", "in_sync_run", "run_sync"]

T = TypeVar("T")


UNCLAIMED_BATCH_GRACE_S = 1.0
"""Seconds an eagerly started batch may wait for the scheduler before its runs are cancelled."""


@dataclass
class Batch:
    """The tasks of one dispatch, sharing results while they run.

    Attributes:
        size: How many task nodes were sent for this batch; `None` while the planner
            is still adding tasks (eager dispatch).
        authoritative: Whether every task of the batch runs in this process.
        dispatched: Whether the scheduler has sent the batch's task nodes.
    """

    size: int | None
    authoritative: bool
    max_concurrency: int | None = None
    dispatched: bool = False
    _outcomes: dict[int, asyncio.Future[Task]] = field(default_factory=dict)
    _jobs: dict[int, asyncio.Task[Task | None]] = field(default_factory=dict)
    _semaphore: asyncio.Semaphore | None = None
    _reported: int = 0
    _calls: dict[str, Task] = field(default_factory=dict)
    _calls_in_flight: dict[str, asyncio.Future[Task]] = field(default_factory=dict)

    def remember_call(self, key: str, record: Task) -> None:
        """Record a finished call so identical calls reuse its outcome."""
        self._calls.setdefault(key, record)

    def earlier_call(self, key: str) -> Task | asyncio.Future[Task] | None:
        """The outcome of an identical call made earlier, or the future of one in flight."""
        return self._calls.get(key) or self._calls_in_flight.get(key)

    def claim_call(self, key: str) -> asyncio.Future[Task]:
        """Register this task as the one that makes the call `key`; settle the future when done."""
        future: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
        self._calls_in_flight[key] = future
        return future

    def outcome(self, idx: int) -> asyncio.Future[Task]:
        """The future that resolves to task `idx`'s final record (created on first use)."""
        future = self._outcomes.get(idx)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._outcomes[idx] = future
        return future

    def publish(self, record: Task) -> None:
        """Make a finished task's record visible to the tasks waiting on it."""
        future = self.outcome(record["idx"])
        if not future.done():
            future.set_result(record)

    def start(self, idx: int, run: Coroutine[Any, Any, Task | None]) -> asyncio.Task[Task | None]:
        """Start running task `idx` now (eager dispatch); its task node collects the result."""
        job = asyncio.get_running_loop().create_task(run, name=f"llmcompiler-task-{idx}")
        self._jobs[idx] = job
        return job

    def job(self, idx: int) -> asyncio.Task[Task | None] | None:
        """The run of task `idx` started by :meth:`start`, if any."""
        return self._jobs.get(idx)

    def cancel(self) -> None:
        """Cancel every started run that has not finished."""
        for job in self._jobs.values():
            if not job.done():
                job.get_loop().call_soon_threadsafe(job.cancel)

    def semaphore(self) -> asyncio.Semaphore | None:
        """The per-batch limit on concurrent tool calls, if one was configured."""
        if self.max_concurrency is None:
            return None
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._semaphore


class BatchRegistry:
    """Batches of one graph builder, by execution id. Safe to share between runs."""

    def __init__(self, max_concurrency: int | None = None) -> None:
        self._batches: dict[str, Batch] = {}
        self._lock = threading.Lock()
        self._max_concurrency = max_concurrency

    def open(self, execution_id: str, size: int | None = None) -> Batch:
        """Register a new authoritative batch (by the planner, or by the scheduler with its size)."""
        batch = Batch(
            size=size,
            authoritative=True,
            max_concurrency=self._max_concurrency,
            dispatched=size is not None,
        )
        with self._lock:
            self._batches[execution_id] = batch
        return batch

    def unclaimed(self, execution_id: str | None) -> Batch | None:
        """The planner's batch with this id, if the scheduler has not dispatched it yet."""
        if execution_id is None:
            return None
        batch = self._batches.get(execution_id)
        return batch if batch is not None and not batch.dispatched else None

    def claim(self, execution_id: str | None, size: int) -> Batch | None:
        """Mark the planner's batch as dispatched with `size` task nodes; `None` if there is none."""
        if execution_id is None:
            return None
        with self._lock:
            batch = self._batches.get(execution_id)
            if batch is None or batch.dispatched:
                return None
            batch.dispatched = True
            batch.size = size
            return batch

    def expect_claim(self, execution_id: str, within: float = UNCLAIMED_BATCH_GRACE_S) -> None:
        """Cancel the batch's runs if the scheduler has not claimed it `within` seconds from now.

        The planner's step and the scheduler's are separate supersteps; a run cancelled
        between them leaves eagerly started tasks with nobody to collect or cancel them.
        """

        def check() -> None:
            batch = self._batches.get(execution_id)
            if batch is not None and not batch.dispatched:
                self.discard(execution_id)

        asyncio.get_running_loop().call_later(within, check)

    def attach(self, execution_id: str, size: int) -> Batch:
        """The batch a task node belongs to; a non-authoritative one when it is unknown here."""
        with self._lock:
            batch = self._batches.get(execution_id)
            if batch is None:
                batch = Batch(
                    size=size,
                    authoritative=False,
                    max_concurrency=self._max_concurrency,
                    dispatched=True,
                )
                self._batches[execution_id] = batch
            return batch

    def report(self, execution_id: str) -> None:
        """Record that one task node of the batch has ended; drop the batch after the last."""
        with self._lock:
            batch = self._batches.get(execution_id)
            if batch is None:
                return
            batch._reported += 1
            if batch.size is not None and batch._reported >= batch.size:
                del self._batches[execution_id]

    def discard(self, execution_id: str | None) -> None:
        """Forget a batch whose step is over, cancelling anything it still runs (no-op for `None`)."""
        if execution_id is None:
            return
        with self._lock:
            batch = self._batches.pop(execution_id, None)
        if batch is not None:
            batch.cancel()

    def __len__(self) -> int:
        return len(self._batches)


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
