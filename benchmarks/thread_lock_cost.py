"""What holding a run's thread in the checkpoint store costs per run.

Takes and releases the cross-process thread lock (`llmcompiler_graph.durability.thread_locks`) for
many threads, one after another, and prints the mean time per run: a lock file next to a
SQLite database, an advisory lock on a `PostgresSaver`'s connection, and one over a
connection pool (where the run opens a connection of its own). PostgreSQL is a throwaway
cluster on a unix socket (needs the server binaries; skipped otherwise). Run:

    python3 benchmarks/thread_lock_cost.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from llmcompiler_bench.services import ThrowawayPostgres, postgres_binaries
from llmcompiler_graph.durability.thread_locks import FileThreadLock, StoreLock, store_lock


def per_run_ms(lock: StoreLock, runs: int) -> float:
    start = time.perf_counter()
    for number in range(runs):
        with lock.hold(f"thread-{number}"):
            pass
    return (time.perf_counter() - start) / runs * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        lock = FileThreadLock(Path(directory) / "checkpoints.sqlite-llmcompiler-threads")
        print(f"SQLite file (flock):          {per_run_ms(lock, 500):.3f} ms per run")
    if postgres_binaries() is None:
        print("PostgreSQL: server binaries not found, skipped")
        return
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    with ThrowawayPostgres() as cluster:
        url = cluster.create_database()
        with PostgresSaver.from_conn_string(url) as saver:
            lock_on_connection = store_lock(saver)
            assert lock_on_connection is not None
            print(f"PostgreSQL, saver connection: {per_run_ms(lock_on_connection, 500):.3f} ms per run")
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        with ConnectionPool(url, kwargs=kwargs, min_size=1) as pool:
            lock_over_pool = store_lock(PostgresSaver(pool))  # type: ignore[arg-type]
            assert lock_over_pool is not None
            print(f"PostgreSQL, saver pool:       {per_run_ms(lock_over_pool, 100):.3f} ms per run")


if __name__ == "__main__":
    main()
