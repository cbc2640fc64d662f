"""The task fetching unit: one owner for the tasks of one round, from start to recorded result.

The paper's task fetching unit takes the planner's tasks as they arrive and runs each the
moment its inputs are ready. Here one :class:`TaskFetchingUnit` does that for one *round*:
the tasks the planner starts while its plan streams (eager dispatch), or the tasks one
scheduler step sends out together. Whatever the unit starts, it owns until the task's
record is published: it waits for the task's inputs, skips the task if one failed, asks
the :class:`~llmcompiler_graph.execution.runner.TaskRunner` to call the tool (at most
`max_concurrency` calls at once, identical calls once), and publishes the record to the
tasks waiting on it, also when the run is cancelled.

Whether a task may run is decided by one pure rule, :func:`readiness`, used by the planner,
the scheduler and the unit alike.

LangGraph runs every `Send` of a superstep concurrently but lets the graph move on only
once all of them are done (NOTES.md), so the task nodes of one scheduler step share one
unit, found in :class:`Dispatches` by the step's key (`RunContext.step_key`): LangGraph's
own id of the scheduler step that sent them, the same in every process. A unit is
*authoritative* when the scheduler step that sent the tasks ran in this process: every
sibling will run here, so waiting on one always ends. A task node that finds no unit (a
run resumed in a new process, where some siblings finished before the crash and will not
run again) makes a non-authoritative one and defers tasks that need a sibling's result;
the scheduler sends them again in its next step, with the results in hand.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from llmcompiler_graph.execution.records import finished, reused, skip_reason, skipped, unfinished
from llmcompiler_graph.execution.runner import TaskRunner
from llmcompiler_graph.state import Task

__all__ = [
    "Dispatches",
    "Gate",
    "Readiness",
    "TaskFetchingUnit",
    "Verdict",
    "readiness",
    "verdicts",
]

Verdict = Literal["run", "wait", "hold", "skip", "late"]
"""`run`: every input is done. `wait`: an input is still running (in the same round).
`hold`: the task, or one of its inputs, awaits a human's approval. `skip`: an input
failed, so the task never runs. `late`: the run deadline has passed."""


@dataclass(frozen=True)
class Gate:
    """What besides its inputs may stop a task: approvals and the run deadline."""

    needs_approval: Collection[str] = frozenset()
    """Tools whose calls wait for a human's decision."""
    approvals: Mapping[int, str] = field(default_factory=dict)
    """Decisions made so far, by task id."""
    deadline: float | None = None
    """Epoch seconds after which no task starts (`run_timeout`)."""


@dataclass(frozen=True)
class Readiness:
    """The verdict on one task, and the failed input when it is `skip`."""

    verdict: Verdict
    failed: Task | None = None


_NO_GATE = Gate()


def readiness(
    task: Task,
    records: Mapping[int, Task],
    *,
    held: Collection[int] = frozenset(),
    gate: Gate = _NO_GATE,
    now: float = 0.0,
) -> Readiness:
    """May `task` run now? The one rule the planner, the scheduler and the unit share.

    `records` holds the latest record of every task known (an input missing from it is
    not recorded yet); `held` the ids of tasks already held for approval. In order: past
    the deadline, `late`; awaiting approval (itself or an input), `hold`; an input that
    failed, `skip`; every input done, `run`; otherwise `wait`.

    Example:
        >>> base = {"dependencies": [], "tool": "search", "idx": 2}
        >>> done = {1: {"status": "done"}}
        >>> readiness({**base, "dependencies": [1]}, done).verdict
        'run'
        >>> readiness({**base, "dependencies": [1]}, {1: {"status": "pending"}}).verdict
        'wait'
        >>> readiness({**base, "dependencies": [1]}, done, held={1}).verdict
        'hold'
        >>> readiness({**base, "dependencies": [1]}, {1: {"status": "error"}}).verdict
        'skip'
        >>> readiness(base, {}, gate=Gate(needs_approval={"search"})).verdict
        'hold'
        >>> readiness(base, {}, gate=Gate(deadline=10.0), now=11.0).verdict
        'late'
    """
    if gate.deadline is not None and now >= gate.deadline:
        return Readiness("late")
    dependencies = task["dependencies"]
    undecided = task["tool"] in gate.needs_approval and task["idx"] not in gate.approvals
    if undecided or any(d in held for d in dependencies):
        return Readiness("hold")
    waiting = False
    for dependency in dependencies:
        record = records.get(dependency)
        if record is None or record["status"] == "pending":
            waiting = True
        elif record["status"] != "done":
            return Readiness("skip", failed=record)
    return Readiness("wait" if waiting else "run")


def verdicts(
    tasks: Iterable[Task], records: Mapping[int, Task], *, gate: Gate = _NO_GATE, now: float = 0.0
) -> dict[int, Readiness]:
    """:func:`readiness` of each of `tasks`, in order, as if the earlier verdicts had been carried out.

    A task using a held task is held; a task using one that is skipped or late is skipped.

    Example:
        >>> mail = {"idx": 1, "tool": "send", "dependencies": [], "status": "pending"}
        >>> log = {"idx": 2, "tool": "log", "dependencies": [1], "status": "pending"}
        >>> found = verdicts([mail, log], {1: mail}, gate=Gate(needs_approval={"send"}))
        >>> {idx: r.verdict for idx, r in found.items()}
        {1: 'hold', 2: 'hold'}
        >>> failed = {"idx": 1, "status": "error", "error": "boom"}
        >>> twice = {**log, "idx": 3, "dependencies": [2]}
        >>> found = verdicts([log, twice], {1: failed, 2: log})
        >>> [(r.verdict, r.failed["error"]) for r in found.values()]
        [('skip', 'boom'), ('skip', 'not run because $1 did not succeed (boom)')]
    """
    held: set[int] = set()
    latest = dict(records)
    found: dict[int, Readiness] = {}
    for task in tasks:
        found[task["idx"]] = verdict = readiness(task, latest, held=held, gate=gate, now=now)
        if verdict.verdict == "hold":
            held.add(task["idx"])
        elif verdict.failed is not None:
            latest[task["idx"]] = {**task, "status": "skipped", "error": skip_reason(verdict.failed)}
        elif verdict.verdict == "late":
            latest[task["idx"]] = {**task, "status": "error", "error": "the run deadline was reached"}
    return found


def _known(idx: int, result: Any) -> Task:
    """A stand-in record for an input finished before this round (only its result is sent)."""
    return {"idx": idx, "status": "done", "result": result}  # type: ignore[typeddict-item]


class TaskFetchingUnit:
    """Runs the tasks of one round, each as soon as its inputs are ready; owns them until recorded.

    Args:
        runner: Calls the tools.
        earlier: Tasks of earlier rounds of the question: an identical call that already
            succeeded is not made again.
        authoritative: Whether every task of the round runs in this process (see the
            module docstring); when not, a task whose input is a sibling that has not
            reported is deferred.
        max_concurrency: Most tool calls of the round running at once.

    Example:
        >>> import asyncio
        >>> from llmcompiler_graph.plan.tool_schemas import normalize_tools
        >>> def search(query: str) -> str:
        ...     '''Look it up.'''
        ...     return f"found {query}"
        >>> unit = TaskFetchingUnit(TaskRunner(normalize_tools([search]), task_timeout=5))
        >>> first = {"idx": 1, "tool": "search", "args": {"query": "x"}, "dependencies": [],
        ...          "thought": None, "plan_round": 0, "status": "pending", "resolved_args": None,
        ...          "result": None, "error": None, "started_at": None, "finished_at": None}
        >>> second = {**first, "idx": 2, "args": {"query": "$1!"}, "dependencies": [1]}
        >>> async def second_after_first_fails():
        ...     waiting = asyncio.ensure_future(unit.run(second, {}, {}))
        ...     unit.publish({**first, "status": "error", "error": "timed out"})
        ...     return await waiting
        >>> asyncio.run(second_after_first_fails())["error"]
        'not run because $1 did not succeed (timed out)'
    """

    def __init__(
        self,
        runner: TaskRunner,
        earlier: Mapping[int, Task] | None = None,
        *,
        authoritative: bool = True,
        max_concurrency: int | None = None,
    ) -> None:
        self.runner = runner
        self.authoritative = authoritative
        self._records: dict[int, Task] = {}
        self._waiters: dict[int, asyncio.Future[Task]] = {}
        self._calls: dict[str, Task | asyncio.Future[Task]] = {}
        self._max_concurrency = max_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        for task in (earlier or {}).values():
            self._remember(task)

    def recorded(self, idx: int) -> Task | None:
        """Task `idx`'s final record, if it has been published."""
        return self._records.get(idx)

    async def outcome(self, idx: int) -> Task:
        """Task `idx`'s final record, once it is published."""
        record = self._records.get(idx)
        if record is not None:
            return record
        waiter = self._waiters.get(idx)
        if waiter is None:
            waiter = self._waiters[idx] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(waiter)  # one waiter cancelled must not cancel the others

    def publish(self, record: Task) -> None:
        """Make a task's final record visible to the tasks waiting on it (first record wins)."""
        idx = record["idx"]
        if idx in self._records:
            return
        self._records[idx] = record
        waiter = self._waiters.pop(idx, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(record)

    async def run(
        self,
        task: Task,
        known_results: Mapping[int, Any],
        config: RunnableConfig,
        deadline: float | None = None,
        state: Any = None,
    ) -> Task | None:
        """Run `task` once its inputs are ready; its final record, or `None` when deferred.

        `known_results` are the results of inputs that finished before this round; the
        others are awaited from this unit. The record is published (also when the run is
        cancelled) so that tasks waiting on this one never wait forever. `state` is the
        graph state a tool's `InjectedState` / `ToolRuntime.state` sees.
        """
        record: Task | None = None
        deferred = False
        try:
            inputs = await self._inputs(task, known_results)
            if inputs is None:
                deferred = True
                return None
            verdict = readiness(task, inputs)
            if verdict.failed is not None:
                record = skipped(task, verdict.failed)
            else:
                results = {idx: inputs[idx]["result"] for idx in task["dependencies"]}
                record = await self._call(task, results, config, deadline, state)
            return record
        finally:
            if not deferred:
                self.publish(record if record is not None else unfinished(task))

    async def _inputs(self, task: Task, known: Mapping[int, Any]) -> dict[int, Task] | None:
        """The records of the task's inputs, awaited; `None` when one cannot come (deferred)."""
        inputs: dict[int, Task] = {}
        for dependency in task["dependencies"]:
            if dependency in known:
                inputs[dependency] = _known(dependency, known[dependency])
                continue
            record = self._records.get(dependency)
            if record is None:
                if not self.authoritative:
                    return None
                record = await self.outcome(dependency)
            inputs[dependency] = record
            if record["status"] != "done":
                break  # enough to skip it
        return inputs

    async def _call(
        self,
        task: Task,
        results: Mapping[int, Any],
        config: RunnableConfig,
        deadline: float | None,
        state: Any,
    ) -> Task:
        """Call the tool, unless an identical call already ran (or is running) in this question."""
        call = self.runner.prepare(task, results, config, deadline, state)
        refusal = self.runner.refusal(call)
        if refusal is not None:
            return finished(task, status="error", error=refusal, finished_at=time.time())
        key = self.runner.shared_key(call)
        earlier = self._calls.get(key) if key is not None else None
        if earlier is not None:
            first = await asyncio.shield(earlier) if isinstance(earlier, asyncio.Future) else earlier
            return reused(task, call.args, first)
        claim: asyncio.Future[Task] | None = None
        if key is not None:
            claim = self._calls[key] = asyncio.get_running_loop().create_future()
        outcome: Task | None = None
        try:
            outcome = await self.runner.call(call, self._limit())
            return outcome
        finally:
            if claim is not None and key is not None:
                self._calls[key] = outcome if outcome is not None else unfinished(task)
                claim.set_result(self._calls[key])  # type: ignore[arg-type]

    def _remember(self, task: Task) -> None:
        """Let identical calls reuse the outcome of a task that already succeeded."""
        if task["status"] == "done" and task["resolved_args"] is not None:
            key = self.runner.key_for(task["tool"], task["resolved_args"])
            if key is not None:
                self._calls.setdefault(key, task)

    def _limit(self) -> asyncio.Semaphore | None:
        if self._max_concurrency is not None and self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._max_concurrency)
        return self._semaphore


_MOST_OPEN = 10_000
"""Most scheduler steps remembered at once; the oldest is forgotten first."""


@dataclass
class _Dispatch:
    unit: TaskFetchingUnit
    size: int
    reported: int = 0


class Dispatches:
    """The units of the scheduler steps whose task nodes are running, by the step's key.

    Owned by one graph builder (never module-level) and safe to share between runs; a
    unit is dropped once every task node of its step has reported.
    """

    def __init__(self, runner: TaskRunner, max_concurrency: int | None = None) -> None:
        self._runner = runner
        self._max_concurrency = max_concurrency
        self._open: dict[str, _Dispatch] = {}
        self._lock = threading.Lock()

    def open(self, key: str, size: int, earlier: Mapping[int, Task]) -> None:
        """Register the unit of a scheduler step that sends `size` task nodes."""
        unit = TaskFetchingUnit(self._runner, earlier, max_concurrency=self._max_concurrency)
        with self._lock:
            self._open[key] = _Dispatch(unit, size)
            while len(self._open) > _MOST_OPEN:  # steps whose nodes never ran (a run abandoned
                self._open.pop(next(iter(self._open)))  # at interrupt_before=["execute_task"])

    def attach(self, key: str, size: int) -> TaskFetchingUnit:
        """The unit a task node belongs to; a non-authoritative one when its step ran elsewhere."""
        with self._lock:
            dispatch = self._open.get(key)
            if dispatch is None:
                unit = TaskFetchingUnit(
                    self._runner, authoritative=False, max_concurrency=self._max_concurrency
                )
                dispatch = self._open[key] = _Dispatch(unit, size)
            return dispatch.unit

    def report(self, key: str) -> None:
        """Record that one task node of the step has ended; drop the unit after the last."""
        with self._lock:
            dispatch = self._open.get(key)
            if dispatch is None:
                return
            dispatch.reported += 1
            if dispatch.reported >= dispatch.size:
                del self._open[key]

    def __len__(self) -> int:
        return len(self._open)
