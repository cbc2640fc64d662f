"""Who holds a thread: one run per `thread_id` at a time, in this process and across processes.

Two runs on one thread at once both read the thread's latest checkpoint and write over
each other: the thread keeps one of the questions, or an approval resumed twice runs its
side effects twice. A run therefore holds its thread for as long as it runs:

- in this process, in a :class:`ThreadRuns` registry (one per graph builder);
- across processes, in the checkpoint store itself, so that every process (or machine)
  using that store sees it (:func:`store_lock`):

  - a SQLite file (`SqliteSaver`, `AsyncSqliteSaver`): an exclusive `flock` on a
    per-thread file in the directory `<database>-llmcompiler-threads` next to it;
  - PostgreSQL (`PostgresSaver`, `AsyncPostgresSaver`, on a connection or a pool): a
    session-level advisory lock (`pg_try_advisory_lock`) keyed by the thread.

Both are released by the operating system or the database server when the holding
process dies, so a run killed mid-way never leaves its thread locked; a process resuming
it a moment later gets the lock. A sync run on an async saver takes and releases the
lock on that saver's event loop. Other checkpointers (in memory, Redis, your own) get the
in-process check only. The LangGraph server serialises runs per thread itself
(`multitask_strategy`); on PostgreSQL its checkpointer is an `AsyncPostgresSaver`, so the
lock is taken there too, and agrees with the server (it interrupts, rolls back or queues
the running run before it starts the next).

Which stores can hold a lock is an explicit registry of saver types (:data:`SAVER_KINDS`);
a graph built with `thread_lock=` uses the lock given instead (for a store of your own),
or none (`thread_lock=False`).

Example:
    >>> runs = ThreadRuns()
    >>> with runs.claim("t1"):
    ...     try:
    ...         with runs.claim("t1"):
    ...             pass
    ...     except ThreadBusyError as error:
    ...         print(str(error).split(":")[0])
    thread 't1' already has a run in progress (for 0.0 s)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

try:  # POSIX only; elsewhere SQLite files get the in-process check only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_DIRECTORY_SUFFIX",
    "SAVER_KINDS",
    "FileThreadLock",
    "PostgresThreadLock",
    "StoreLock",
    "ThreadBusyError",
    "ThreadRuns",
    "advisory_key",
    "astore_lock",
    "store_lock",
]

LOCK_DIRECTORY_SUFFIX = "-llmcompiler-threads"
"""The directory of per-thread lock files next to a SQLite checkpoint database."""


class ThreadBusyError(RuntimeError):
    """A run was started on a thread that already has a run in progress.

    Attributes:
        thread_id: The thread.
        holder: Who holds it, as far as known: how long a run of this process has held
            it, the pid and host holding a SQLite lock file, or the PostgreSQL backend pid.
    """

    def __init__(self, message: str, *, thread_id: str | None = None, holder: str | None = None) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.holder = holder


def _busy(thread: str, holder: str) -> ThreadBusyError:
    return ThreadBusyError(
        f"thread {thread!r} already has a run in progress ({holder}): two runs at once would "
        "overwrite each other's messages, or run an approved side effect twice. Wait for it to "
        "finish, or use another thread_id (the LangGraph server queues or rejects such runs "
        "with multitask_strategy).",
        thread_id=thread,
        holder=holder,
    )


class ThreadRuns:
    """The threads with a top-level run in progress in this process, for every copy of one graph."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, float] = {}

    @contextlib.contextmanager
    def claim(self, thread: str) -> Iterator[None]:
        """Hold `thread` (a top-level run's thread) for the duration of the block.

        Raises:
            ThreadBusyError: Another run in this process holds the thread.
        """
        with self._lock:
            since = self._busy.get(thread)
            if since is not None:
                raise _busy(thread, f"for {time.time() - since:.1f} s")
            self._busy[thread] = time.time()
        try:
            yield
        finally:
            with self._lock:
                self._busy.pop(thread, None)


class StoreLock(Protocol):
    """A lock per thread that every process using one checkpoint store sees."""

    def hold(self, thread: str) -> contextlib.AbstractContextManager[None]:
        """Hold `thread` for the block (sync runs); raises :class:`ThreadBusyError` if held."""
        ...

    def ahold(self, thread: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold `thread` for the block (async runs); raises :class:`ThreadBusyError` if held."""
        ...


class FileThreadLock:
    """Per-thread `flock`s on files in one directory (next to a SQLite checkpoint database).

    A lock belongs to the open file, so two runs in one process exclude each other too,
    and the kernel drops it when the process dies. The file is removed when its run ends.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, thread: str) -> Path:
        """The lock file of `thread`."""
        return self.directory / f"{hashlib.sha256(thread.encode()).hexdigest()[:32]}.lock"

    def _acquire(self, thread: str) -> tuple[int, Path]:
        assert fcntl is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(thread)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 512, 0).decode(errors="replace") or "unknown holder"
                os.close(fd)
                raise _busy(thread, f"{holder}; lock file {path}") from None
            if _same_file(fd, path):
                break
            os.close(fd)  # its holder removed the file after we opened it: take the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"held by pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}".encode(), 0)
        return fd, path

    @contextlib.contextmanager
    def hold(self, thread: str) -> Iterator[None]:
        """Hold `thread` for the block; raises :class:`ThreadBusyError` if another run does."""
        fd, path = self._acquire(thread)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # before the unlock, so a waiting opener sees the file is stale
            os.close(fd)

    @contextlib.asynccontextmanager
    async def ahold(self, thread: str) -> AsyncIterator[None]:
        """:meth:`hold` for async runs (taking a `flock` without waiting does not block)."""
        with self.hold(thread):
            yield


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_ino, named.st_dev) == (opened.st_ino, opened.st_dev)


def advisory_key(thread: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) of `thread`."""
    digest = hashlib.sha256(f"llmcompiler-graph thread {thread}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_TRY = "SELECT pg_try_advisory_lock(%s) AS held"
_UNLOCK = "SELECT pg_advisory_unlock(%s)"
_HOLDER = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1"
)


class PostgresThreadLock:
    """Per-thread session-level advisory locks in the checkpointer's PostgreSQL database.

    On a saver built over one connection, the lock is taken on that connection (under the
    saver's own lock); over a pool, on a connection of its own, opened with the pool's
    settings for the run and closed after it, so runs never keep pooled connections.
    PostgreSQL drops the lock when the session ends, also when the process dies.
    """

    def __init__(self, saver: Any) -> None:
        self.saver = saver

    def _pool(self) -> Any:
        conn = self.saver.conn
        return conn if hasattr(conn, "conninfo") and hasattr(conn, "connection_class") else None

    def _own_connection_args(self, pool: Any) -> tuple[Any, dict[str, Any]]:
        return pool.conninfo, {**(pool.kwargs or {}), "autocommit": True}

    @contextlib.contextmanager
    def hold(self, thread: str) -> Iterator[None]:
        """Hold `thread` for the block; raises :class:`ThreadBusyError` if another session does."""
        key = advisory_key(thread)
        pool = self._pool()
        if pool is not None:
            conninfo, kwargs = self._own_connection_args(pool)
            with pool.connection_class.connect(conninfo, **kwargs) as conn:
                _take(conn, thread, key)
                yield  # closing the connection ends the session and its lock
            return
        with self.saver.lock:
            _take(self.saver.conn, thread, key)
        try:
            yield
        finally:
            with self.saver.lock, contextlib.suppress(Exception):
                self.saver.conn.execute(_UNLOCK, (key,)).fetchone()

    @contextlib.asynccontextmanager
    async def ahold(self, thread: str) -> AsyncIterator[None]:
        """:meth:`hold` for async runs, on the saver's async connection or pool."""
        key = advisory_key(thread)
        pool = self._pool()
        if pool is not None:
            conninfo, kwargs = self._own_connection_args(pool)
            async with await pool.connection_class.connect(conninfo, **kwargs) as conn:
                await _atake(conn, thread, key)
                yield
            return
        async with self.saver.lock:
            await _atake(self.saver.conn, thread, key)
        try:
            yield
        finally:
            async with self.saver.lock:
                with contextlib.suppress(Exception):
                    await (await self.saver.conn.execute(_UNLOCK, (key,))).fetchone()


def _held(row: Any) -> bool:
    return bool(row["held"] if isinstance(row, dict) else row[0])


def _lock_oids(key: int) -> tuple[int, int]:
    """`pg_locks.classid` and `objid` of an advisory lock on the 64-bit `key`."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def _busy_in_postgres(thread: str, key: int, holder: Any) -> ThreadBusyError:
    pid = (holder["pid"] if isinstance(holder, dict) else holder[0]) if holder else "unknown"
    return _busy(thread, f"held by PostgreSQL backend pid {pid}; advisory lock {key}")


def _take(conn: Any, thread: str, key: int) -> None:
    if not _held(conn.execute(_TRY, (key,)).fetchone()):
        raise _busy_in_postgres(thread, key, conn.execute(_HOLDER, _lock_oids(key)).fetchone())


async def _atake(conn: Any, thread: str, key: int) -> None:
    if not _held(await (await conn.execute(_TRY, (key,))).fetchone()):
        holder = await (await conn.execute(_HOLDER, _lock_oids(key))).fetchone()
        raise _busy_in_postgres(thread, key, holder)


def _sqlite_file(names: Any) -> str | None:
    """The main database's file from `PRAGMA database_list` rows; `None` in memory."""
    for row in names:
        if row[1] == "main":
            return str(row[2]) or None
    return None


SAVER_KINDS: tuple[tuple[str, str, Literal["sqlite", "postgres"]], ...] = (
    ("langgraph.checkpoint.sqlite", "SqliteSaver", "sqlite"),
    ("langgraph.checkpoint.sqlite.aio", "AsyncSqliteSaver", "sqlite"),
    ("langgraph.checkpoint.postgres.base", "BasePostgresSaver", "postgres"),
)
"""The checkpoint savers (module, class, store) whose store holds a thread lock, subclasses included."""


def _is_async(checkpointer: Any) -> bool:
    """Whether a SQLite or PostgreSQL saver is the async kind (its own lock is an asyncio one)."""
    return isinstance(getattr(checkpointer, "lock", None), asyncio.Lock)


def _kind(checkpointer: Any) -> Literal["sqlite", "postgres"] | None:
    """The store of a registered saver type; `None` for others.

    Only modules already imported are looked in: a saver's own module is imported once an
    instance of it exists, so no optional package is loaded here.
    """
    for module, name, kind in SAVER_KINDS:
        saver = getattr(sys.modules.get(module), name, None)
        if isinstance(saver, type) and isinstance(checkpointer, saver):
            return kind
    return None


def _file_lock(database: str | None) -> FileThreadLock | None:
    if database is None or fcntl is None:
        return None
    return FileThreadLock(database + LOCK_DIRECTORY_SUFFIX)


class _OnSaverLoop:
    """A sync run's hold of an async saver's lock, taken and released on that saver's loop."""

    def __init__(self, lock: StoreLock, loop: asyncio.AbstractEventLoop) -> None:
        self.lock, self.loop = lock, loop

    @contextlib.contextmanager
    def hold(self, thread: str) -> Iterator[None]:
        held = self.lock.ahold(thread)
        asyncio.run_coroutine_threadsafe(held.__aenter__(), self.loop).result()
        try:
            yield
        finally:
            asyncio.run_coroutine_threadsafe(held.__aexit__(None, None, None), self.loop).result()

    def ahold(self, thread: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self.lock.ahold(thread)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def store_lock(checkpointer: Any) -> StoreLock | None:
    """The cross-process thread lock of a sync run's checkpointer; `None` if it has none.

    `None` for checkpointers other than SQLite files and PostgreSQL, for `:memory:`, and
    for an async saver called from its own event loop (LangGraph refuses that run itself).
    """
    kind = _kind(checkpointer)
    if kind is None:
        return None
    if _is_async(checkpointer):
        loop = getattr(checkpointer, "loop", None)
        if not isinstance(loop, asyncio.AbstractEventLoop) or _on_loop(loop) or loop.is_closed():
            return None
        lock = asyncio.run_coroutine_threadsafe(astore_lock(checkpointer), loop).result()
        return lock if lock is None or kind == "sqlite" else _OnSaverLoop(lock, loop)
    if kind == "postgres":
        return PostgresThreadLock(checkpointer)
    with checkpointer.lock:
        return _file_lock(_sqlite_file(checkpointer.conn.execute("PRAGMA database_list").fetchall()))


async def astore_lock(checkpointer: Any) -> StoreLock | None:
    """:func:`store_lock` for an async run's checkpointer.

    `None` for sync savers too: LangGraph runs them in sync runs only.
    """
    kind = _kind(checkpointer)
    if kind is None or not _is_async(checkpointer):
        return None
    if kind == "postgres":
        return PostgresThreadLock(checkpointer)
    async with checkpointer.lock:
        cursor = await checkpointer.conn.execute("PRAGMA database_list")
        return _file_lock(_sqlite_file(await cursor.fetchall()))
