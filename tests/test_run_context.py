"""One run context, one registry of lockable savers, and `thread_lock=` for any other store."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from llmcompiler_graph import ThreadBusyError, create_llmcompiler
from llmcompiler_graph.durability.run_context import RunContext
from llmcompiler_graph.durability.thread_locks import LOCK_DIRECTORY_SUFFIX, FileThreadLock, store_lock
from llmcompiler_graph.durability.thread_runs import CompiledLLMCompiler
from tests.conftest import FINISH, question, scripted


class RecordingLock:
    """A store lock of the caller's own (say, in Redis): one holder per thread, every hold logged."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.log: list[str] = []
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def hold(self, thread: str) -> Iterator[None]:
        self._take(thread)
        try:
            yield
        finally:
            self.held.discard(thread)

    @contextlib.asynccontextmanager
    async def ahold(self, thread: str) -> AsyncIterator[None]:
        self._take(thread)
        try:
            yield
        finally:
            self.held.discard(thread)

    def _take(self, thread: str) -> None:
        with self._guard:
            if thread in self.held:
                raise ThreadBusyError(f"{thread} is held elsewhere", thread_id=thread, holder="elsewhere")
            self.held.add(thread)
            self.log.append(thread)


def _graph(saver: Any, lock: Any = None, latency: float = 0.0) -> Any:
    async def wait(what: str) -> str:
        """Wait a little."""
        await asyncio.sleep(latency)
        return "waited"

    model = scripted('1. wait("x")\n2. join()<END_OF_PLAN>', FINISH.format(answer="waited"))
    return create_llmcompiler(model, [wait], thread_lock=lock).compile(checkpointer=saver)


def test_a_run_context_is_read_once_from_the_config() -> None:
    top = RunContext.of({"configurable": {"thread_id": 7, "__pregel_checkpointer": object()}})
    assert (top.thread_id, top.root_thread, top.checkpointed, top.nested) == ("7", "7", True, False)
    nested = RunContext.of({"configurable": {"thread_id": "t", "checkpoint_ns": "agent:1"}})
    assert nested.root_thread is None and nested.step_key == "t|agent:1"
    assert RunContext.of(None) == RunContext(None, "", False, False)


def test_compile_builds_the_thread_holding_graph_and_its_copies_stay_one() -> None:
    graph = _graph(InMemorySaver())
    assert type(graph) is CompiledLLMCompiler
    assert type(graph.with_config(recursion_limit=50)) is CompiledLLMCompiler


async def test_a_thread_lock_of_your_own_guards_every_run_of_separately_built_graphs() -> None:
    lock, saver = RecordingLock(), InMemorySaver()
    first, second = _graph(saver, lock, latency=0.3), _graph(saver, lock, latency=0.3)
    thread = {"configurable": {"thread_id": "shared"}}

    async def later() -> Any:
        await asyncio.sleep(0.1)
        return await second.ainvoke(question(), thread)

    outcomes = await asyncio.gather(first.ainvoke(question(), thread), later(), return_exceptions=True)
    assert sum(isinstance(o, ThreadBusyError) for o in outcomes) == 1, outcomes
    assert lock.log == ["shared"] and lock.held == set()
    _graph(saver, lock).invoke(question(), {"configurable": {"thread_id": "sync"}})
    assert lock.log == ["shared", "sync"] and lock.held == set()


def test_thread_lock_false_keeps_the_store_out_of_it(tmp_path: Path) -> None:
    database = tmp_path / "c.sqlite"
    lock_files = Path(str(database) + LOCK_DIRECTORY_SUFFIX)
    with SqliteSaver.from_conn_string(str(database)) as saver:
        _graph(saver).invoke(question(), {"configurable": {"thread_id": "a"}})
        assert lock_files.is_dir()  # the registered saver's file lock was taken
        lock_files.rmdir()
        _graph(saver, False).invoke(question(), {"configurable": {"thread_id": "b"}})
        assert not lock_files.exists()


def test_savers_are_recognised_by_type_not_by_name(tmp_path: Path) -> None:
    class MySqliteSaver(SqliteSaver):
        """A subclass keeps its store's lock."""

    class Impostor:
        """Named like LangGraph's SQLite saver, but not one."""

    Impostor.__module__, Impostor.__qualname__ = "langgraph.checkpoint.sqlite", "SqliteSaver"
    with SqliteSaver.from_conn_string(str(tmp_path / "c.sqlite")) as saver:
        mine = MySqliteSaver(saver.conn)
        assert isinstance(store_lock(mine), FileThreadLock)
    assert store_lock(Impostor()) is None


def test_a_thread_lock_that_is_no_lock_is_refused_at_build_time() -> None:
    with pytest.raises(TypeError, match="thread_lock must be None"):
        _graph(InMemorySaver(), lock="redis://localhost")
