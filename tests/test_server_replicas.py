"""LangGraph's own server (`langgraph-api` + `langgraph-runtime-pg`) on two replicas over one PostgreSQL.

100 runs go in through `langgraph-sdk`; once 30 have finished, replica 0 is SIGKILLed
while it has runs half done (one call saved, another running). Every run must finish with
its own answer (and its thread holds its question once, not twice), the killed
replica's runs must be resumed by the other one, no call whose result had been saved
before the kill may run again, and the side effect must be recorded once per run. The
servers, PostgreSQL and Redis are real processes on this machine (Postgres and Redis on
unix sockets, the replicas on loopback ports). See benchmarks/llmcompiler_bench/replicas.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmcompiler_bench.services import ThrowawayPostgres, ThrowawayRedis
from tests.pg_cluster import needs_postgres, needs_redis

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # real PostgreSQL, Redis and server replicas

_SERVER_MODULES = ("langgraph_api", "langgraph_runtime_pg", "langgraph_sdk", "uvicorn")
_missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
needs_server_runtime = pytest.mark.skipif(
    bool(_missing), reason=f"server runtime not installed ({', '.join(_missing)}): pip install -e '.[server]'"
)

RUNS = 100
KILL_AFTER = 30


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
    monkeypatch.setenv("NO_PROXY", no_proxy)  # the SDK talks to loopback only, never via a proxy
    yield


@needs_postgres
@needs_redis
@needs_server_runtime
@pytest.mark.enable_socket
@pytest.mark.timeout(300)
async def test_two_replicas_finish_every_run_when_one_is_killed_mid_way(
    tmp_path: Path, loopback_only: None
) -> None:
    from llmcompiler_bench.replicas import format_reports, run_replicas

    with ThrowawayPostgres(max_connections=300) as postgres, ThrowawayRedis() as redis:
        report = await run_replicas(
            replicas=2,
            runs=RUNS,
            postgres=postgres,
            redis=redis,
            kill_one_after=KILL_AFTER,
            workdir=tmp_path,
        )
    summary = format_reports([report])
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(tmp_path.glob("replica-*.log")))

    assert report.statuses == {"success": RUNS}, f"{summary}\n{logs}"
    assert report.right_answers == RUNS, summary  # each run ends with its own ticket's answer
    assert report.killed_replica_pid is not None
    assert report.half_done_runs_at_kill >= 1, summary  # the kill hit runs with saved and running calls
    assert report.runs_moved_after_kill >= 1, summary  # and they were resumed on the other replica
    assert report.repeated_after_saved == 0, summary  # nothing whose result was saved ran again
    assert report.effects == RUNS and report.duplicate_effects == 0, summary
    # Each run calls three tools; only calls cut short by the kill may have run a second time.
    assert RUNS * 3 <= report.tool_executions <= RUNS * 3 + report.repeated_calls, summary
    assert report.ok, summary


@contextlib.contextmanager
def server_env(tool_log: Path, *, tool_latency: float) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL and Redis, and the environment of a replica serving the benchmark graph."""
    from llmcompiler_bench import replica_graph
    from llmcompiler_bench.replicas import _server_env

    with ThrowawayPostgres() as postgres, ThrowawayRedis() as redis:
        database = postgres.create_database()
        replica_graph.create_effects_table(database)
        yield _server_env(
            database_url=database,
            redis_url=redis.url,
            jobs_per_replica=4,
            tool_log=tool_log,
            tool_latency=tool_latency,
        )


@needs_postgres
@needs_redis
@needs_server_runtime
@pytest.mark.enable_socket
@pytest.mark.timeout(300)
@pytest.mark.parametrize("strategy", ["interrupt", "rollback", "enqueue"])
async def test_a_second_run_on_a_busy_thread_follows_the_servers_multitask_strategy(
    strategy: str, tmp_path: Path, loopback_only: None
) -> None:
    """The run's own thread lock (an advisory lock on the server's PostgreSQL) agrees with the server.

    The server interrupts, rolls back or queues the first run before the second starts, so
    the second never finds the thread held (no `ThreadBusyError`) and answers its question.
    """
    from langgraph_sdk import get_client

    from llmcompiler_bench import replica_graph
    from llmcompiler_bench.replicas import start_replica, stop_replica, wait_healthy

    with server_env(tmp_path / "tools.jsonl", tool_latency=3.0) as env:
        replica = start_replica(0, env, tmp_path)
        try:
            await wait_healthy(replica)
            client = get_client(url=replica.url, timeout=30.0)
            thread = (await client.threads.create())["thread_id"]
            ask = [{"messages": [{"role": "user", "content": replica_graph.question(n)}]} for n in (1, 2)]
            first = await client.runs.create(thread, replica_graph.GRAPH_ID, input=ask[0])
            await asyncio.sleep(1.5)  # the first run is calling its tools
            second = await client.runs.create(
                thread, replica_graph.GRAPH_ID, input=ask[1], multitask_strategy=strategy
            )
            values = await client.runs.join(thread, second["run_id"])
            status = (await client.runs.get(thread, second["run_id"]))["status"]
            assert status == "success", f"{values}\n{replica.log()}"
            assert values["messages"][-1]["content"] == replica_graph.expected_answer(2)
            if strategy == "enqueue":
                assert (await client.runs.get(thread, first["run_id"]))["status"] == "success"
        finally:
            stop_replica(replica)


@needs_postgres
@needs_redis
@needs_server_runtime
@pytest.mark.enable_socket
@pytest.mark.timeout(300)
@pytest.mark.parametrize("strategy", ["reject", "enqueue"])
async def test_one_approval_resumed_on_two_replicas_at_once_records_once(
    strategy: str, tmp_path: Path, loopback_only: None
) -> None:
    """A double-clicked approval whose two requests reach two replicas: the side effect runs once.

    `record` needs approval here. The run pauses before it; then both replicas get
    `Command(resume="approve")` for the thread at the same moment. With `reject` the
    server refuses one of them (409); with `enqueue` the second resumes a thread that no
    longer waits. Either way `record` runs once and the thread answers its question.
    """
    from langgraph_sdk import get_client
    from langgraph_sdk.errors import ConflictError

    from llmcompiler_bench import replica_graph
    from llmcompiler_bench.replicas import start_replica, stop_replica, wait_healthy

    tool_log = tmp_path / "tools.jsonl"
    with server_env(tool_log, tool_latency=0.5) as env:
        env[replica_graph.APPROVALS_ENV] = "1"
        replicas = [start_replica(0, env, tmp_path)]
        try:
            await wait_healthy(replicas[0])
            first_client = get_client(url=replicas[0].url, timeout=30.0)
            thread = (await first_client.threads.create())["thread_id"]
            ask = {"messages": [{"role": "user", "content": replica_graph.question(7)}]}
            first = await first_client.runs.create(thread, replica_graph.GRAPH_ID, input=ask)
            await first_client.runs.join(thread, first["run_id"])
            pending = (await first_client.threads.get_state(thread))["interrupts"]
            assert [call["tool"] for call in pending[0]["value"]["calls"]] == ["record"]
            # The second replica starts once the first has run (so it has migrated the database).
            replicas.append(start_replica(1, env, tmp_path))
            await wait_healthy(replicas[1])
            clients = [first_client, get_client(url=replicas[1].url, timeout=30.0)]

            async def approve(client: Any) -> Any:
                try:
                    return await client.runs.create(
                        thread,
                        replica_graph.GRAPH_ID,
                        command={"resume": "approve"},
                        multitask_strategy=strategy,
                    )
                except ConflictError as error:
                    return error

            resumes = await asyncio.gather(*(approve(client) for client in clients))
            accepted = [run for run in resumes if not isinstance(run, Exception)]
            assert len(accepted) == (1 if strategy == "reject" else 2), resumes  # the record takes 0.5 s
            for run in accepted:
                await first_client.runs.join(thread, run["run_id"])
            state = await first_client.threads.get_state(thread)
            logs = "\n".join(replica.log() for replica in replicas)
            assert state["values"]["messages"][-1]["content"] == replica_graph.expected_answer(7), logs
            entries = [json.loads(line) for line in tool_log.read_text().splitlines()]
            records = [e for e in entries if e["event"] == "start" and e["call"].startswith("record ")]
            assert len(records) == 1, (resumes, records)
        finally:
            for replica in replicas:
                stop_replica(replica)
