"""One process of a cross-process race on one thread: start it, or resume its approval.

Used by test_thread_locks.py. Each process builds the same graph over one checkpoint
store (a SQLite file or a PostgreSQL database), so several processes act on one thread
as separate machines or workers would:

    python tests/race_worker.py run|approve|reject|resume LEDGER STORE API KIND GO

STORE is a SQLite file path or a `postgresql://` URL; API is `sync` (invoke, sync saver)
or `async` (ainvoke, async saver); KIND is `conn` (`from_conn_string`) or `pool` (a
psycopg connection pool; PostgreSQL only). The process builds everything, prints
`ready`, then waits until the file GO exists, so the test can release several processes
at one moment. It prints one JSON line: the answer and pending interrupts, or `busy`
with the message of the `ThreadBusyError` it got. Every `transfer` appends a line to the
ledger (fsynced) and takes `TRANSFER_S`, so two runs that both send overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from langgraph.types import Command

from llmcompiler_graph import ThreadBusyError, create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

THREAD = {"configurable": {"thread_id": "race"}}
PLAN = '1. transfer("bob", 100)\n2. transfer("ann", 50)\n3. join()<END_OF_PLAN>'
TRANSFER_S = float(os.environ.get("RACE_TRANSFER_S", "1.0"))


def record(call: str) -> None:
    with open(sys.argv[2], "a") as ledger:
        ledger.write(json.dumps({"pid": os.getpid(), "call": call, "time": time.time()}) + "\n")
        ledger.flush()
        os.fsync(ledger.fileno())


def sync_transfer(to: str, amount: int) -> str:
    """Transfer money (a side effect that needs approval)."""
    time.sleep(TRANSFER_S)
    record(f"transfer {to} {amount}")
    return f"sent {amount} to {to}"


async def async_transfer(to: str, amount: int) -> str:
    """Transfer money (a side effect that needs approval)."""
    await asyncio.sleep(TRANSFER_S)
    record(f"transfer {to} {amount}")
    return f"sent {amount} to {to}"


def build(api: str) -> Any:
    def respond(messages: Any) -> str:
        if str(messages[0].content).startswith("Given a user query"):
            return PLAN
        return "Thought: done.\nAction: Finish(transfers done)"

    tool = sync_transfer if api == "sync" else async_transfer
    tool.__name__ = "transfer"
    model = ScriptedChatModel(responses=[respond] * 4)
    return create_llmcompiler(model, [tool], side_effect_tools=["transfer"])


def inputs(mode: str) -> Any:
    if mode == "run":
        return {"messages": [("user", "Pay bob and ann.")]}
    return Command(resume=mode) if mode in ("approve", "reject") else None


def wait_for(go: str) -> None:
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)


def report(state: Any, interrupts: list[Any]) -> None:
    answer = None if interrupts else state["messages"][-1].content
    print(json.dumps({"answer": answer, "interrupts": len(interrupts)}), flush=True)


def busy(error: ThreadBusyError) -> None:
    print(json.dumps({"busy": str(error)}), flush=True)


@contextlib.contextmanager
def sync_saver(store: str, kind: str) -> Iterator[Any]:
    if not store.startswith("postgresql://"):
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(store) as saver:
            yield saver
        return
    from langgraph.checkpoint.postgres import PostgresSaver

    if kind == "conn":
        with PostgresSaver.from_conn_string(store) as saver:
            saver.setup()
            yield saver
        return
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    pool_kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    with ConnectionPool(store, kwargs=pool_kwargs, min_size=1, max_size=2) as pool:
        saver = PostgresSaver(pool)  # type: ignore[arg-type]
        saver.setup()
        yield saver


@contextlib.asynccontextmanager
async def async_saver(store: str, kind: str) -> AsyncIterator[Any]:
    if not store.startswith("postgresql://"):
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(store) as saver:
            yield saver
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    if kind == "conn":
        async with AsyncPostgresSaver.from_conn_string(store) as saver:
            await saver.setup()
            yield saver
        return
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool_kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(store, kwargs=pool_kwargs, min_size=1, max_size=2) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        yield saver


def main_sync(mode: str, store: str, kind: str, go: str) -> None:
    with sync_saver(store, kind) as saver:
        graph = build("sync").compile(checkpointer=saver)
        wait_for(go)
        try:
            state = graph.invoke(inputs(mode), THREAD)
        except ThreadBusyError as error:
            busy(error)
            return
        report(state, list(graph.get_state(THREAD).interrupts))


async def main_async(mode: str, store: str, kind: str, go: str) -> None:
    async with async_saver(store, kind) as saver:
        graph = build("async").compile(checkpointer=saver)
        wait_for(go)
        try:
            state = await graph.ainvoke(inputs(mode), THREAD)
        except ThreadBusyError as error:
            busy(error)
            return
        report(state, list((await graph.aget_state(THREAD)).interrupts))


if __name__ == "__main__":
    mode, _, store, api, kind, go = sys.argv[1:7]
    if api == "sync":
        main_sync(mode, store, kind, go)
    else:
        asyncio.run(main_async(mode, store, kind, go))
