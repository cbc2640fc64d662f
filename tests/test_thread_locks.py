"""One run per thread across processes: the lock lives in the checkpoint store.

The races run real processes (tests/race_worker.py) on one SQLite file or one PostgreSQL
database: each builds the graph, reports `ready`, and all are released at one moment, the
way a double-clicked approval reaches two workers of a web app. The lock tests also run in
one process, since a lock of the store belongs to a file or a database session, not to
a process.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from llmcompiler_graph import ThreadBusyError, create_llmcompiler
from llmcompiler_graph.durability.thread_locks import (
    LOCK_DIRECTORY_SUFFIX,
    FileThreadLock,
    PostgresThreadLock,
    advisory_key,
    astore_lock,
    store_lock,
)
from tests.pg_cluster import needs_postgres, postgres_cluster  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration  # racing worker processes and a real PostgreSQL

WORKER = Path(__file__).with_name("race_worker.py")
ROOT = WORKER.parent.parent
SENT = ["transfer ann 50", "transfer bob 100"]


class Store:
    """Where the racing processes keep their checkpoints: a SQLite file or a PostgreSQL URL."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url, self.directory = url, directory
        self.ledger = directory / "ledger.jsonl"

    def start(self, mode: str, api: str, kind: str, go: Path, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(WORKER), mode, str(self.ledger), self.url, api, kind, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        )

    def sent(self) -> list[str]:
        lines = self.ledger.read_text().splitlines() if self.ledger.exists() else []
        return sorted(json.loads(line)["call"] for line in lines)

    def step(self, mode: str, api: str, kind: str) -> dict[str, Any]:
        """Run one worker to its end, released at once."""
        go = self.directory / "go-now"
        go.touch()
        return outcome(self.start(mode, api, kind, go))

    def race(self, modes: list[str], api: str, kind: str) -> list[dict[str, Any]]:
        """Start one worker per mode, release them together, return what each printed."""
        go = self.directory / f"go-{time.monotonic_ns()}"
        processes = [self.start(mode, api, kind, go) for mode in modes]
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.strip() == "ready", line + (process.stderr.read() if process.stderr else "")
        go.touch()
        return [outcome(process) for process in processes]


def outcome(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if backend == "sqlite":
        return Store(str(tmp_path / "checkpoints.sqlite"), tmp_path)
    cluster = request.getfixturevalue("postgres_cluster")
    return Store(cluster.create_database(), tmp_path)


RACES = [
    ("sqlite", "async", "conn"),
    ("sqlite", "sync", "conn"),
    pytest.param("postgres", "async", "conn", marks=needs_postgres),
    pytest.param("postgres", "sync", "conn", marks=needs_postgres),
    pytest.param("postgres", "async", "pool", marks=needs_postgres),
    pytest.param("postgres", "sync", "pool", marks=needs_postgres),
]


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("backend", "api", "kind"), RACES)
def test_two_processes_resuming_one_approval_send_each_transfer_once(
    backend: str, api: str, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = make_store(backend, tmp_path, request)
    assert store.step("run", api, kind)["interrupts"] == 1
    outcomes = store.race(["approve", "approve"], api, kind)
    answered = [o for o in outcomes if "answer" in o]
    refused = [o for o in outcomes if "busy" in o]
    assert [o["answer"] for o in answered] == ["transfers done"], outcomes
    assert len(refused) == 1 and "already has a run in progress" in refused[0]["busy"], outcomes
    assert store.sent() == SENT  # each transfer once, not once per resume


@pytest.mark.timeout(180)
def test_an_approve_racing_a_reject_applies_exactly_one_of_them(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "checkpoints.sqlite"), tmp_path)
    store.step("run", "async", "conn")
    outcomes = store.race(["approve", "reject"], "async", "conn")
    approved, rejected = outcomes
    assert sum("busy" in o for o in outcomes) == 1, outcomes
    assert store.sent() == (SENT if "answer" in approved else []), (outcomes, store.sent())
    assert "answer" in approved or "answer" in rejected


@pytest.mark.timeout(180)
def test_a_resume_arriving_after_the_run_finished_runs_nothing_again(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "checkpoints.sqlite"), tmp_path)
    store.step("run", "sync", "conn")
    assert store.step("approve", "sync", "conn")["answer"] == "transfers done"
    late = store.step("approve", "async", "conn")  # the retried request, from another worker
    assert late == {"answer": "transfers done", "interrupts": 0}
    assert store.sent() == SENT


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_killed_run_leaves_its_thread_free_for_the_next_process(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = make_store(backend, tmp_path, request)
    store.step("run", "async", "conn")
    go = tmp_path / "go-slow"
    go.touch()
    slow = store.start("approve", "async", "conn", go, RACE_TRANSFER_S="60")
    deadline = time.monotonic() + 60
    while not lock_is_held(store, backend) and time.monotonic() < deadline:
        assert slow.poll() is None, slow.communicate()
        time.sleep(0.05)
    blocked = store.step("approve", "async", "conn")
    assert "busy" in blocked, blocked  # the slow run holds the thread while it lives
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    resumed = store.step("resume", "sync", "conn")
    assert resumed["answer"] == "transfers done", resumed
    assert store.sent() == SENT


def lock_is_held(store: Store, backend: str) -> bool:
    if backend == "sqlite":
        return any(Path(store.url + LOCK_DIRECTORY_SUFFIX).glob("*.lock"))
    import psycopg

    with psycopg.connect(store.url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
    return bool(row and row[0])


# --- the locks themselves, in one process -------------------------------------------------


def test_a_file_lock_excludes_a_second_holder_even_in_the_same_process(tmp_path: Path) -> None:
    locks = FileThreadLock(tmp_path / "locks")
    with locks.hold("t1"):
        busy = pytest.raises(ThreadBusyError, match=rf"held by pid {os.getpid()} .*lock file")
        with busy as caught, FileThreadLock(tmp_path / "locks").hold("t1"):
            pass
        with locks.hold("t2"):  # another thread is another lock
            pass
    assert list((tmp_path / "locks").iterdir()) == []  # released and removed
    error = caught.value
    assert error.thread_id == "t1" and error.holder is not None and f"pid {os.getpid()}" in error.holder
    copy = pickle.loads(pickle.dumps(error))  # it crosses process boundaries whole
    assert (str(copy), copy.thread_id, copy.holder) == (str(error), error.thread_id, error.holder)
    with locks.hold("t1"):
        pass


def test_a_file_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from llmcompiler_graph.durability.thread_locks import FileThreadLock\n"
            "with FileThreadLock(sys.argv[1]).hold('t1'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(tmp_path / "locks"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    locks = FileThreadLock(tmp_path / "locks")
    with pytest.raises(ThreadBusyError, match=f"held by pid {holder.pid} "), locks.hold("t1"):
        pass
    holder.kill()
    holder.wait()
    with locks.hold("t1"):  # the kernel dropped the dead holder's lock
        pass


def test_each_checkpointer_gets_the_lock_of_its_store(tmp_path: Path) -> None:
    with SqliteSaver.from_conn_string(str(tmp_path / "c.sqlite")) as saver:
        lock = store_lock(saver)
        assert isinstance(lock, FileThreadLock)
        assert lock.directory == Path(str(tmp_path / "c.sqlite") + LOCK_DIRECTORY_SUFFIX)
    with SqliteSaver.from_conn_string(":memory:") as saver:
        assert store_lock(saver) is None  # one process only: the in-process check is enough
    assert store_lock(InMemorySaver()) is None


async def test_an_async_sqlite_saver_gets_the_lock_of_its_file(tmp_path: Path) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "c.sqlite")) as saver:
        lock = await astore_lock(saver)
        assert isinstance(lock, FileThreadLock)
        assert lock.directory == Path(str(tmp_path / "c.sqlite") + LOCK_DIRECTORY_SUFFIX)
    async with AsyncSqliteSaver.from_conn_string(":memory:") as saver:
        assert await astore_lock(saver) is None


def slow_graph(saver: Any, started: list[str]) -> Any:
    def respond(messages: Any) -> str:
        if str(messages[0].content).startswith("Given a user query"):
            return '1. wait("x")\n2. join()<END_OF_PLAN>'
        return "Thought: ok.\nAction: Finish(waited)"

    def wait(what: str) -> str:
        """Wait a little."""
        started.append(what)
        time.sleep(0.5)
        return "waited"

    from llmcompiler_graph.testing import ScriptedChatModel

    model = ScriptedChatModel(responses=[respond] * 4)
    return create_llmcompiler(model, [wait]).compile(checkpointer=saver)


def test_two_graphs_on_one_sqlite_file_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    """Two separately built graphs share no in-process registry: the file lock still holds."""
    thread = {"configurable": {"thread_id": "shared"}}
    started: list[str] = []
    with SqliteSaver.from_conn_string(str(tmp_path / "c.sqlite")) as saver:
        first, second = slow_graph(saver, started), slow_graph(saver, started)

        def later() -> Any:
            time.sleep(0.2)  # while the first run's tool is running
            return second.invoke({"messages": [("user", "q")]}, thread)

        async def both() -> list[Any]:
            return await asyncio.gather(
                asyncio.to_thread(first.invoke, {"messages": [("user", "q")]}, thread),
                asyncio.to_thread(later),
                return_exceptions=True,
            )

        outcomes = asyncio.run(both())
    refused = [o for o in outcomes if isinstance(o, ThreadBusyError)]
    answered = [o["messages"][-1].content for o in outcomes if isinstance(o, dict)]
    assert len(refused) == 1 and answered == ["waited"], outcomes  # usually the second is refused
    assert started == ["x"]


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    cluster = request.getfixturevalue("postgres_cluster")
    yield cluster.create_database()


@needs_postgres
def test_a_postgres_lock_excludes_other_sessions_and_ends_with_its_session(postgres_url: str) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    with (
        PostgresSaver.from_conn_string(postgres_url) as one,
        PostgresSaver.from_conn_string(postgres_url) as two,
    ):
        lock_one, lock_two = store_lock(one), store_lock(two)
        assert isinstance(lock_one, PostgresThreadLock) and isinstance(lock_two, PostgresThreadLock)
        with lock_one.hold("t1"):
            busy = pytest.raises(ThreadBusyError, match=f"advisory lock {advisory_key('t1')}")
            with busy, lock_two.hold("t1"):
                pass
            with lock_two.hold("t2"):
                pass
        with lock_two.hold("t1"):  # released when the first run's block ended
            pass
        with pytest.raises(RuntimeError, match="boom"), lock_one.hold("t3"):
            raise RuntimeError("boom")
        with lock_two.hold("t3"):  # released on an exception too
            pass


@needs_postgres
async def test_an_async_postgres_pool_lock_uses_a_connection_of_its_own(postgres_url: str) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(postgres_url, kwargs=kwargs, min_size=1, max_size=1) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        lock = await astore_lock(saver)
        assert isinstance(lock, PostgresThreadLock)
        async with lock.ahold("t1"):
            async with pool.connection() as conn:  # the pool's one connection is still free
                await conn.execute("SELECT 1")
            with pytest.raises(ThreadBusyError):
                async with lock.ahold("t1"):
                    pass
        async with lock.ahold("t1"):
            pass


async def test_a_retried_resume_addressed_to_an_answered_approval_is_ignored(tmp_path: Path) -> None:
    """`Command(resume={interrupt_id: ...})` answers that approval only, never the next one."""
    from tests.conftest import FINISH, ToolLog, question
    from tests.test_approvals import THREAD, build

    log = ToolLog()
    graph, _ = build(
        log,
        "Thought: one more.\nAction: Replan(also tell the cfo)",
        '7. send_email("cfo", "x")\n8. join()<END_OF_PLAN>',
        FINISH.format(answer="ok"),
    )
    await graph.ainvoke(question(), THREAD)
    first = (await graph.aget_state(THREAD)).interrupts[0]
    await graph.ainvoke(Command(resume={first.id: "approve"}), THREAD)
    second = (await graph.aget_state(THREAD)).interrupts[0]
    assert [c["args"]["to"] for c in second.value["calls"]] == ["cfo"]
    await graph.ainvoke(Command(resume={first.id: "approve"}), THREAD)  # the retried request
    assert [i.id for i in (await graph.aget_state(THREAD)).interrupts] == [second.id]
    assert Counter(a["to"] for a in log.args_of("send_email")) == {"team": 1, "boss": 1}


@pytest.fixture
def saver_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop on a thread of its own, where an async saver lives (as in a web app)."""
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    runner.join(5)


def on_loop(loop: asyncio.AbstractEventLoop, coroutine: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(30)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=needs_postgres)])
def test_a_sync_run_on_an_async_saver_holds_its_thread_through_the_savers_loop(
    backend: str, saver_loop: asyncio.AbstractEventLoop, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`invoke` from another thread on an `AsyncSqliteSaver` / `AsyncPostgresSaver` is locked too."""
    store = make_store(backend, tmp_path, request)

    async def open_saver() -> tuple[Any, Any]:
        if backend == "sqlite":
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            opened: Any = AsyncSqliteSaver.from_conn_string(store.url)
        else:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

            opened = AsyncPostgresSaver.from_conn_string(store.url)
        saver = await opened.__aenter__()
        if backend == "postgres":
            await saver.setup()
        return opened, saver

    opened, saver = on_loop(saver_loop, open_saver())
    try:
        lock = store_lock(saver)
        assert lock is not None
        with lock.hold("t1"):
            other = make_other_lock(backend, store)
            with pytest.raises(ThreadBusyError), other.hold("t1"):
                pass
        with make_other_lock(backend, store).hold("t1"):  # released through the loop
            pass

        async def from_the_savers_own_loop() -> Any:
            return store_lock(saver)

        assert on_loop(saver_loop, from_the_savers_own_loop()) is None  # LangGraph refuses that run

        graph = slow_graph(saver, [])
        state = graph.invoke({"messages": [("user", "q")]}, {"configurable": {"thread_id": "s"}})
        assert state["messages"][-1].content == "waited"
    finally:
        on_loop(saver_loop, opened.__aexit__(None, None, None))


def make_other_lock(backend: str, store: Store) -> Any:
    """A lock on the same store through another connection (as another process would have)."""
    if backend == "sqlite":
        return FileThreadLock(store.url + LOCK_DIRECTORY_SUFFIX)
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    return PostgresThreadLock(PostgresSaver(psycopg.connect(store.url, autocommit=True)))


@pytest.fixture
def password_database(request: pytest.FixtureRequest) -> str:
    """A database owned by a role that must log in with a password (SCRAM), on the test cluster."""
    import psycopg

    cluster = request.getfixturevalue("postgres_cluster")
    role, name = f"app_{os.getpid()}", f"pw_{time.monotonic_ns()}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'a secret'")  # names we made, never input
        conn.execute(f'CREATE DATABASE "{name}" OWNER {role}')
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
        hba.write_text(f"local all {role} scram-sha-256\n" + hba.read_text())
        conn.execute("SELECT pg_reload_conf()")
    without_password = f"postgresql://{role}@/{name}?host={cluster.directory}"
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without_password).close()  # the role really needs its password
    return f"postgresql://{role}:a%20secret@/{name}?host={cluster.directory}"


@needs_postgres
async def test_a_pool_lock_logs_in_with_the_pools_password(password_database: str) -> None:
    """Over a pool, the lock opens its own connection with the pool's conninfo: credentials included."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(password_database, kwargs=kwargs, min_size=1, max_size=2) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        graph = slow_graph(saver, [])
        thread = {"configurable": {"thread_id": "with-password"}}
        running = asyncio.create_task(graph.ainvoke({"messages": [("user", "q")]}, thread))
        await asyncio.sleep(0.25)  # the run holds its thread, on a connection opened with the password
        other = slow_graph(saver, [])  # built apart: no in-process registry in common
        with pytest.raises(ThreadBusyError, match="advisory lock"):
            await other.ainvoke({"messages": [("user", "again")]}, thread)
        assert (await running)["messages"][-1].content == "waited"
