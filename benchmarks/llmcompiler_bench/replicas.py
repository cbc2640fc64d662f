"""LangGraph's own server on several replicas over one PostgreSQL: throughput, and a replica killed mid-way.

Starts a throwaway PostgreSQL cluster and Redis server (unix sockets), then N replicas of
the stock `langgraph-api` server (`uvicorn langgraph_api.server:app`) with the open
Postgres + Redis runtime `langgraph-runtime-pg` (`LANGGRAPH_RUNTIME_EDITION=pg`), each on
its own loopback port, all serving :mod:`llmcompiler_bench.replica_graph` from the
same database. Runs are submitted through `langgraph-sdk`, spread over the replicas; any
replica's workers may pick any run from the shared queue.

When a replica dies, the runtime re-queues its runs once their heartbeat has expired
(`LG_BG_JOB_HEARTBEAT`, 1 s here: about 4 s), and another replica runs each of them again
with the same run id; LangGraph recognises the retry of the same run and resumes the thread
from its last checkpoint, so calls whose results were saved do not run again (runs are
created with `durability="sync"`: with the server's default, `"async"`, a replica that dies
can take the checkpoint of its last step with it, and that step's saved results then count
for nothing and its calls run again). The
benchmark checks that from outside: it snapshots the saved writes at the kill and flags any
saved call that ran again, any run that does not end with its own answer or whose thread
holds its question more than once, and any side effect recorded twice.

    python -m llmcompiler_bench.replicas --replicas 1 2 4 --runs 100
    python -m llmcompiler_bench.replicas --replicas 2 --runs 100 --kill-one-after 30

Needs the `server` extra (`pip install -e ".[server]"`) and Debian's `postgresql` and
`redis-server` packages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from llmcompiler_bench import replica_graph
from llmcompiler_bench.services import ThrowawayPostgres, ThrowawayRedis, process_cpu_seconds

__all__ = ["ReplicaReport", "format_reports", "main", "run_replicas"]

HEARTBEAT_S = 1.0
"""`LG_BG_JOB_HEARTBEAT`: a dead replica's runs are re-queued about 4 s after it died."""


@dataclass
class Replica:
    """One `langgraph-api` server process."""

    index: int
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Its base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time used so far (0.0 once the process is gone)."""
        return process_cpu_seconds(self.process.pid)

    def log(self, tail: int = 6000) -> str:
        """The end of its log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- replica {self.index} log (tail) ---\n{text[-tail:]}"


@dataclass
class ReplicaReport:
    """What one benchmark configuration measured."""

    replicas: int
    runs: int
    jobs_per_replica: int
    tool_latency_s: float
    durability: str
    seconds: float
    """From the first submission to the last run's end."""
    runs_per_second: float
    mean_run_latency_s: float
    """From `runs.create` to the run's end, as the server recorded them (queueing included)."""
    succeeded: int
    right_answers: int
    statuses: dict[str, int]
    killed_replica_pid: int | None = None
    runs_finished_before_kill: int | None = None
    calls_cut_by_kill: int = 0
    """Tool calls the killed replica had started and not finished when it died."""
    half_done_runs_at_kill: int = 0
    """Runs on the killed replica with one call finished and another running when it died."""
    runs_moved_after_kill: int = 0
    """Runs that had called tools on the killed replica and finished on another one."""
    tool_executions: int = 0
    repeated_calls: int = 0
    """Tool calls executed more than once (each had been cut short by the kill, or not yet saved)."""
    repeated_returned_unsaved: int = 0
    """Of those, calls that had returned on the killed replica before their result was saved."""
    repeated_after_saved: int = 0
    """Tool calls executed again although their result had been saved before the kill: must be 0."""
    effects: int = 0
    duplicate_effects: int = 0
    cpu_seconds_per_replica: list[float] = field(default_factory=list)
    """CPU time of each replica that lived to the end."""
    cpu_seconds_postgres: float = 0.0
    cpu_seconds_redis: float = 0.0
    cpu_seconds_client: float = 0.0
    load_average: float = 0.0
    """The machine's 1-minute load average at the end: above the core count, others shared the CPU."""
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every run succeeded with its own answer, nothing saved ran twice, one effect per run."""
        return (
            self.succeeded == self.runs == self.right_answers == self.effects
            and self.repeated_after_saved == 0
            and self.duplicate_effects == 0
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(
    *, database_url: str, redis_url: str, jobs_per_replica: int, tool_log: Path, tool_latency: float
) -> dict[str, str]:
    graph_path = f"{Path(replica_graph.__file__).resolve()}:make_graph"
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in ("OPENAI_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGGRAPH_CLOUD_LICENSE_KEY")
    }
    env.update(
        LANGGRAPH_RUNTIME_EDITION="pg",  # the langgraph-runtime-pg package
        DATABASE_URI=database_url,
        REDIS_URI=redis_url,
        LANGSERVE_GRAPHS=json.dumps({replica_graph.GRAPH_ID: graph_path}),
        N_JOBS_PER_WORKER=str(jobs_per_replica),
        LG_BG_JOB_HEARTBEAT=str(HEARTBEAT_S),
        BG_JOB_MAX_RETRIES="5",
        PG_POOL_SIZE="10",
        PG_MAX_OVERFLOW="10",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        LANGGRAPH_NO_VERSION_CHECK="true",
        LANGGRAPH_ALLOW_BLOCKING="true",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        **{
            replica_graph.LOG_ENV: str(tool_log),
            replica_graph.EFFECTS_DB_ENV: database_url,
            replica_graph.LATENCY_ENV: str(tool_latency),
        },
    )
    return env


def start_replica(index: int, env: dict[str, str], workdir: Path) -> Replica:
    """Start one `uvicorn langgraph_api.server:app` process on a free loopback port."""
    port = _free_port()
    log_path = workdir / f"replica-{index}.log"
    command = [
        sys.executable, "-m", "uvicorn", "langgraph_api.server:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    return Replica(index, port, process, log_path)


async def wait_healthy(replica: Replica, timeout: float = 120.0) -> None:
    """Wait until `GET /ok` answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not replica.alive():
                msg = f"replica {replica.index} exited with {replica.process.returncode}\n{replica.log()}"
                raise RuntimeError(msg)
            try:
                if (await client.get(f"{replica.url}/ok")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    msg = f"replica {replica.index} not healthy after {timeout:.0f} s\n{replica.log()}"
    raise RuntimeError(msg)


def stop_replica(replica: Replica) -> None:
    """Terminate a replica (SIGTERM, then SIGKILL)."""
    if not replica.alive():
        return
    replica.process.terminate()
    try:
        replica.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        replica.process.kill()
        replica.process.wait(timeout=15)


class _Clients:
    """One `langgraph-sdk` client per replica; calls go to live replicas only, retried on another."""

    def __init__(self, replicas: list[Replica]) -> None:
        from langgraph_sdk import get_client

        self.replicas = replicas
        self.clients = [get_client(url=r.url, timeout=30.0) for r in replicas]
        self.dead: set[int] = set()

    def mark_dead(self, index: int) -> None:
        self.dead.add(index)

    async def call(self, preferred: int, action: str, *args: Any, **kwargs: Any) -> Any:
        import httpx

        last: Exception | None = None
        for attempt in range(40):
            live = [i for i in range(len(self.clients)) if i not in self.dead]
            index = live[(preferred + attempt) % len(live)]
            group, method = action.split(".")
            try:
                return await getattr(getattr(self.clients[index], group), method)(*args, **kwargs)
            except (httpx.TransportError, httpx.HTTPStatusError) as error:
                last = error
                if not self.replicas[index].alive():
                    self.dead.add(index)
                await asyncio.sleep(0.25)
        msg = f"{action} failed on every replica: {last!r}"
        raise RuntimeError(msg)


async def _submit(
    clients: _Clients, number: int, *, durability: str = "sync", question_on_thread: bool = False
) -> tuple[str, str]:
    """Create a thread and a run of the question on it; returns (thread_id, run_id).

    The question is the run's input. With `question_on_thread`, it is written to the new
    thread first (`threads.create(supersteps=...)`) and the run starts with no input, which
    makes a re-queued run resume even on a LangGraph that would not recognise its retry.
    `durability="sync"` saves each step's checkpoint before the next step starts; with
    `"async"` (the server's default) a replica that dies can take the last checkpoint with
    it, and the step's saved tool results are then run again.
    """
    text = replica_graph.question(number)
    question = {"messages": [{"role": "user", "content": text}]}
    if not question_on_thread:
        thread = await clients.call(number, "threads.create")
        run = await clients.call(
            number,
            "runs.create",
            thread["thread_id"],
            replica_graph.GRAPH_ID,
            input=question,
            durability=durability,
        )
        return str(thread["thread_id"]), str(run["run_id"])
    thread = await clients.call(
        number,
        "threads.create",
        graph_id=replica_graph.GRAPH_ID,
        supersteps=[{"updates": [{"values": question, "as_node": "__input__"}]}],
    )
    run = await clients.call(
        number, "runs.create", thread["thread_id"], replica_graph.GRAPH_ID, input=None, durability=durability
    )
    return str(thread["thread_id"]), str(run["run_id"])


async def _wait_done(
    clients: _Clients, number: int, thread_id: str, run_id: str, timeout: float
) -> dict[str, Any]:
    """Poll the run (on any live replica) until it is no longer pending or running."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while time.monotonic() < deadline:
        run: dict[str, Any] = await clients.call(number, "runs.get", thread_id, run_id)
        if run["status"] not in ("pending", "running"):
            return run
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    return {"status": "timeout (benchmark)"}


def _entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _saved_writes(database_url: str) -> dict[str, list[bytes]]:
    import psycopg

    saved: dict[str, list[bytes]] = defaultdict(list)
    with psycopg.connect(database_url) as connection:
        for thread_id, blob in connection.execute("SELECT thread_id, blob FROM checkpoint_writes"):
            if blob:
                saved[str(thread_id)].append(bytes(blob))
    return saved


def _result_of(call: str) -> str:
    """The result string a logged call returns (see replica_graph)."""
    tool, argument = call.split(" ", 1)
    return f"found<{argument}>" if tool == "search" else f"recorded {argument}"


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _open_calls(entries: list[dict[str, Any]], pid: int) -> set[tuple[str, str]]:
    """(thread, call) pairs that process `pid` started and has not finished."""
    open_calls: set[tuple[str, str]] = set()
    for entry in entries:
        if entry["pid"] == pid:
            key = (entry["thread"], entry["call"])
            (open_calls.add if entry["event"] == "start" else open_calls.discard)(key)
    return open_calls


def _half_done_runs(entries: list[dict[str, Any]], pid: int) -> int:
    """Threads on which process `pid` has both finished a call and one still running."""
    finished = {entry["thread"] for entry in entries if entry["pid"] == pid and entry["event"] == "end"}
    return len({thread for thread, _ in _open_calls(entries, pid)} & finished)


async def _kill_when_busy(
    victim: Replica, tool_log: Path, database_url: str, kill_info: dict[str, Any], clients: _Clients
) -> None:
    """SIGKILL the replica once it has runs half done: a call saved, another running (or after 10 s)."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and _half_done_runs(_entries(tool_log), victim.process.pid) < 2:
        await asyncio.sleep(0.02)
    clients.mark_dead(victim.index)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=30)
    kill_info.update(pid=victim.process.pid, at=time.time())
    entries = _entries(tool_log)
    kill_info["open_calls"] = _open_calls(entries, victim.process.pid)
    kill_info["half_done"] = _half_done_runs(entries, victim.process.pid)
    # What had been saved when it died; nothing else writes for its runs until they are re-queued.
    kill_info["saved"] = await asyncio.to_thread(_saved_writes, database_url)


async def run_replicas(
    *,
    replicas: int,
    runs: int,
    postgres: ThrowawayPostgres,
    redis: ThrowawayRedis,
    kill_one_after: int | None = None,
    jobs_per_replica: int = 10,
    tool_latency: float = 0.5,
    timeout: float = 300.0,
    workdir: Path | None = None,
    question_on_thread: bool = False,
    durability: str = "sync",
) -> ReplicaReport:
    """Serve the benchmark graph on `replicas` servers over a fresh database and push `runs` runs through.

    With `kill_one_after=K`, replica 0 is SIGKILLed once K runs have finished and it is in
    the middle of tool calls.
    """
    workdir = workdir or Path(tempfile.mkdtemp(prefix="replicas-"))
    database_url = postgres.create_database()
    replica_graph.create_effects_table(database_url)
    tool_log = workdir / f"tools-{replicas}.jsonl"
    env = _server_env(
        database_url=database_url,
        redis_url=redis.url,
        jobs_per_replica=jobs_per_replica,
        tool_log=tool_log,
        tool_latency=tool_latency,
    )
    started: list[Replica] = []
    try:
        await _start_replicas(started, replicas, env, workdir)
        clients = _Clients(started)
        cpu_before = _cpu_seconds(started, postgres, redis)
        killer = _Killer(started[0], tool_log, database_url, clients, after=kill_one_after)
        submit = partial(_submit, durability=durability, question_on_thread=question_on_thread)
        outcomes, seconds = await _push_runs(clients, runs, submit, killer, timeout)
        cpu_after = _cpu_seconds(started, postgres, redis)
        right, errors = await _check_answers(clients, outcomes)
        measured = _Measured(outcomes, seconds, right, errors, cpu_before, cpu_after)
        report = _report(
            measured,
            replicas=replicas,
            runs=runs,
            jobs_per_replica=jobs_per_replica,
            tool_latency=tool_latency,
            durability=durability,
        )
        _check_tools(report, tool_log, database_url, killer.info)
        return report
    finally:
        for replica in started:
            stop_replica(replica)


_Outcome = tuple[int, str, dict[str, Any], float]
"""A run's number, thread id, final run record, and the monotonic time it was seen ending."""
_Cpu = tuple[list[float], tuple[float, float, float]]
"""CPU seconds so far: each replica's, then PostgreSQL's, Redis's and this process's."""


class _Measured(NamedTuple):
    """What a configuration's runs showed, before the tool log and the database are checked."""

    outcomes: list[_Outcome]
    seconds: float
    right: int
    """Runs that ended with their own answer, their question taken in once."""
    errors: list[str]
    cpu_before: _Cpu
    cpu_after: _Cpu


async def _start_replicas(started: list[Replica], replicas: int, env: dict[str, str], workdir: Path) -> None:
    """Start the replicas into `started` (so the caller stops whatever did start) and wait until healthy."""
    # The first replica creates the schema; the others start once it is there.
    started.append(start_replica(0, env, workdir))
    await wait_healthy(started[0])
    started.extend(start_replica(i, env, workdir) for i in range(1, replicas))
    await asyncio.gather(*(wait_healthy(r) for r in started[1:]))


def _cpu_seconds(started: list[Replica], postgres: ThrowawayPostgres, redis: ThrowawayRedis) -> _Cpu:
    per_replica = [r.cpu_seconds() for r in started]
    return per_replica, (postgres.cpu_seconds(), redis.cpu_seconds(), time.process_time())


class _Killer:
    """SIGKILLs the victim (once) when `after` runs have finished and it is busy; `info` says what it saw."""

    def __init__(
        self, victim: Replica, tool_log: Path, database_url: str, clients: _Clients, *, after: int | None
    ) -> None:
        self.victim, self.tool_log, self.database_url, self.clients = victim, tool_log, database_url, clients
        self.after = after
        self.info: dict[str, Any] = {}
        self.task: asyncio.Task[None] | None = None

    def finished(self, count: int) -> None:
        """`count` runs have finished: start the kill the first time enough have."""
        if self.after is not None and count >= self.after and self.task is None:
            self.info["finished"] = count
            kill = _kill_when_busy(self.victim, self.tool_log, self.database_url, self.info, self.clients)
            self.task = asyncio.create_task(kill)

    async def done(self) -> None:
        """Wait for the kill, if one was started."""
        if self.task is not None:
            await self.task


async def _push_runs(
    clients: _Clients,
    runs: int,
    submit: Callable[[_Clients, int], Awaitable[tuple[str, str]]],
    killer: _Killer,
    timeout: float,
) -> tuple[list[_Outcome], float]:
    """Submit every run (50 submissions at a time) and wait for all; the outcomes and the seconds taken."""
    finished = 0
    semaphore = asyncio.Semaphore(50)

    async def one(number: int) -> _Outcome:
        nonlocal finished
        async with semaphore:
            thread_id, run_id = await submit(clients, number)
        run = await _wait_done(clients, number, thread_id, run_id, timeout)
        ended = time.monotonic()
        finished += 1
        killer.finished(finished)
        return number, thread_id, run, ended

    began = time.monotonic()
    outcomes = await asyncio.gather(*(one(n) for n in range(runs)))
    seconds = max(ended for *_, ended in outcomes) - began
    await killer.done()
    return outcomes, seconds


async def _check_answers(clients: _Clients, outcomes: list[_Outcome]) -> tuple[int, list[str]]:
    """How many runs ended with their own answer (their question taken in once); what the others got wrong."""
    right = 0
    errors: list[str] = []
    for number, thread_id, run, _ in outcomes:
        if run["status"] != "success":
            errors.append(f"run {number}: {run['status']}")
            continue
        state = await clients.call(number, "threads.get_state", thread_id)
        messages = state["values"]["messages"]
        asked = [str(m["content"]) for m in messages if m["type"] == "human"]
        answer = str(messages[-1]["content"])
        if asked == [replica_graph.question(number)] and answer == replica_graph.expected_answer(number):
            right += 1  # its own answer, and its question was taken in once
        else:
            errors.append(f"run {number}: asked {asked!r}, answered {answer!r}")
    return right, errors


def _report(
    measured: _Measured,
    *,
    replicas: int,
    runs: int,
    jobs_per_replica: int,
    tool_latency: float,
    durability: str,
) -> ReplicaReport:
    """The configuration's report from what was measured."""
    statuses = Counter(str(run["status"]) for _, _, run, _ in measured.outcomes)
    latencies = [
        _timestamp(run["updated_at"]) - _timestamp(run["created_at"])
        for _, _, run, _ in measured.outcomes
        if run["status"] == "success"
    ]
    replicas_before, services_before = measured.cpu_before
    replicas_after, services_after = measured.cpu_after
    postgres_cpu, redis_cpu, client_cpu = (
        a - b for a, b in zip(services_after, services_before, strict=True)
    )
    return ReplicaReport(
        replicas=replicas,
        runs=runs,
        jobs_per_replica=jobs_per_replica,
        tool_latency_s=tool_latency,
        durability=durability,
        seconds=round(measured.seconds, 2),
        runs_per_second=round(runs / measured.seconds, 2),
        mean_run_latency_s=round(statistics.mean(latencies), 2) if latencies else 0.0,
        succeeded=statuses.get("success", 0),
        right_answers=measured.right,
        statuses=dict(statuses),
        cpu_seconds_per_replica=[
            round(a - b, 1) for a, b in zip(replicas_after, replicas_before, strict=True) if a > 0
        ],
        cpu_seconds_postgres=round(postgres_cpu, 1),
        cpu_seconds_redis=round(redis_cpu, 1),
        cpu_seconds_client=round(client_cpu, 1),
        load_average=round(os.getloadavg()[0], 1),
        errors=measured.errors[:20],
    )


def _check_tools(report: ReplicaReport, tool_log: Path, database_url: str, kill_info: dict[str, Any]) -> None:
    """Count executions, repeats, and effects; a repeat of a call saved before the kill is an error."""
    import psycopg

    entries = _entries(tool_log)
    starts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        if entry["event"] == "start":
            starts[(entry["thread"], entry["call"])].append(entry)
    report.tool_executions = sum(len(s) for s in starts.values())
    repeated = {key: s for key, s in starts.items() if len(s) > 1}
    report.repeated_calls = len(repeated)
    saved: dict[str, list[bytes]] = kill_info.get("saved", {})
    ended = {(e["thread"], e["call"], e["pid"]) for e in entries if e["event"] == "end"}
    for (thread, call), executions in repeated.items():
        if (thread, call, executions[0]["pid"]) in ended:
            report.repeated_returned_unsaved += 1
        if any(_result_of(call).encode() in blob for blob in saved.get(thread, [])):
            report.repeated_after_saved += 1
            report.errors.append(f"{call} (thread {thread}) ran again after its result was saved")
        elif executions[0]["pid"] != kill_info.get("pid"):
            report.repeated_after_saved += 1  # only the killed replica's calls may run twice
            report.errors.append(f"{call} (thread {thread}) ran twice, first on a live replica")
    if kill_info:
        killed = int(kill_info["pid"])
        report.killed_replica_pid = killed
        report.runs_finished_before_kill = int(kill_info["finished"])
        report.calls_cut_by_kill = len(kill_info["open_calls"])
        report.half_done_runs_at_kill = int(kill_info["half_done"])
        pids_of: dict[str, set[int]] = defaultdict(set)
        for entry in entries:
            pids_of[entry["thread"]].add(int(entry["pid"]))
        report.runs_moved_after_kill = sum(1 for pids in pids_of.values() if killed in pids and len(pids) > 1)
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT thread_id, count(*) FROM replica_effects GROUP BY thread_id"
        ).fetchall()
    report.effects = len(rows)
    report.duplicate_effects = sum(1 for _, count in rows if count > 1)


def format_reports(reports: Sequence[ReplicaReport]) -> str:
    """A plain-text table of the reports, with a line of notes for a kill or any error."""
    lines = [
        f"{'replicas':>8} {'runs':>5} {'ok':>4} {'right':>5} {'seconds':>8} {'runs/s':>7} {'latency':>8} "
        f"{'tool calls':>10} {'repeated':>8} {'effects':>7} {'load':>5}  "
        "CPU s: replicas | postgres | redis | client"
    ]
    for r in reports:
        cpu = " + ".join(f"{c:.1f}" for c in r.cpu_seconds_per_replica)
        lines.append(
            f"{r.replicas:>8} {r.runs:>5} {r.succeeded:>4} {r.right_answers:>5} {r.seconds:>8.2f} "
            f"{r.runs_per_second:>7.2f} {r.mean_run_latency_s:>7.2f}s {r.tool_executions:>10} "
            f"{r.repeated_calls:>8} {r.effects:>7} {r.load_average:>5.1f}  "
            f"{cpu} | {r.cpu_seconds_postgres:.1f} | {r.cpu_seconds_redis:.1f} | {r.cpu_seconds_client:.1f}"
        )
        if r.killed_replica_pid is not None:
            lines.append(
                f"    replica 0 SIGKILLed after {r.runs_finished_before_kill} runs had finished, with "
                f"{r.calls_cut_by_kill} tool calls in flight ({r.half_done_runs_at_kill} runs half done); "
                f"{r.runs_moved_after_kill} of its runs finished on another replica; "
                f"{r.repeated_calls} calls ran twice "
                f"({r.repeated_returned_unsaved} had returned, not yet saved); "
                f"{r.repeated_after_saved} saved calls ran again, "
                f"{r.duplicate_effects} effects were recorded twice"
            )
        lines.extend(f"    ! {error}" for error in r.errors)
    return "\n".join(lines)


async def _main_async(args: argparse.Namespace) -> list[ReplicaReport]:
    reports: list[ReplicaReport] = []
    with (
        ThrowawayPostgres(max_connections=400) as postgres,
        ThrowawayRedis() as redis,
        tempfile.TemporaryDirectory(prefix="replicas-") as scratch,
    ):
        for number, count in enumerate(args.replicas, 1):
            workdir = (args.logs or Path(scratch)) / f"{number}-{count}-replicas"
            workdir.mkdir(parents=True)
            report = await run_replicas(
                workdir=workdir,
                replicas=count,
                runs=args.runs,
                postgres=postgres,
                redis=redis,
                kill_one_after=args.kill_one_after,
                jobs_per_replica=args.jobs_per_replica,
                tool_latency=args.tool_latency,
                question_on_thread=args.question_on_thread,
                durability=args.durability,
            )
            print("\n".join(format_reports([report]).splitlines()[1:]), flush=True)
            reports.append(report)
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m llmcompiler_bench.replicas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4], help="replica counts to run")
    parser.add_argument("--runs", type=int, default=100, help="runs per configuration")
    parser.add_argument(
        "--kill-one-after", type=int, default=None, help="SIGKILL replica 0 after K runs finished"
    )
    parser.add_argument("--jobs-per-replica", type=int, default=10, help="N_JOBS_PER_WORKER of each replica")
    parser.add_argument(
        "--tool-latency",
        type=float,
        default=0.5,
        help="seconds the first search takes (the second: twice that)",
    )
    parser.add_argument(
        "--durability",
        choices=["sync", "async", "exit"],
        default="sync",
        help="LangGraph durability of each run (default sync: a step's checkpoint is saved before the next)",
    )
    parser.add_argument(
        "--question-on-thread",
        action="store_true",
        help="write the question to the thread first and start each run with no input",
    )
    parser.add_argument(
        "--logs", type=Path, default=None, help="keep the replicas' logs and the tool log in this folder"
    )
    parser.add_argument("--output", type=Path, default=None, help="write the reports as JSON here")
    args = parser.parse_args(argv)
    print(
        f"{args.runs} runs per configuration, {args.jobs_per_replica} at a time per replica, durability "
        f"{args.durability}; each run: plan, "
        f"two lookups in parallel ({args.tool_latency:g} s and {2 * args.tool_latency:g} s), one recorded "
        f"side effect, join. {os.cpu_count()} CPU cores; PostgreSQL, Redis, the client and every replica "
        "share them.\n"
    )
    reports = asyncio.run(_main_async(args))
    print()
    print(format_reports(reports))
    if args.output:
        args.output.write_text(json.dumps([{**asdict(r), "ok": r.ok} for r in reports], indent=2) + "\n")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
