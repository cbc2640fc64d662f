"""The graph that the server-replica benchmark serves: scripted planner, slow lookups, one side effect.

`langgraph-api` loads :func:`make_graph` in every replica (it is named in `LANGSERVE_GRAPHS`).
Each question names a ticket (`ticket-0042`); the scripted model plans two lookups and one
`record` call for that ticket only, so every run's answer is its own. The "beta" lookup
takes twice as long as "alpha", so for a while `$1` and `record` are done (and saved) and
`$2` still runs: a replica killed then must hand over a half-finished run.

    1. search("ticket-0042 alpha")
    2. search("ticket-0042 beta")
    3. record("ticket-0042", "$1")
    4. join()<END_OF_PLAN>

`record` is the side effect. Every execution of a tool is appended to a log (the JSONL file
in `LLMCOMPILER_REPLICA_LOG`, with the process id), so a test sees which replica ran what
and whether anything ran twice. The effect itself is an `INSERT` into the Postgres table
`replica_effects` (database `LLMCOMPILER_REPLICA_EFFECTS_DB`) keyed by thread and ticket:
LangGraph's checkpoint keeps a finished call from running again, and the key covers the
few milliseconds between a call's return and its result being saved.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import StructuredTool
from langgraph.graph.state import CompiledStateGraph

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

__all__ = [
    "APPROVALS_ENV",
    "EFFECTS_DB_ENV",
    "GRAPH_ID",
    "LATENCY_ENV",
    "LOG_ENV",
    "create_effects_table",
    "expected_answer",
    "make_graph",
    "question",
]

GRAPH_ID = "replica_bench"
LOG_ENV = "LLMCOMPILER_REPLICA_LOG"
EFFECTS_DB_ENV = "LLMCOMPILER_REPLICA_EFFECTS_DB"
LATENCY_ENV = "LLMCOMPILER_REPLICA_TOOL_LATENCY"
APPROVALS_ENV = "LLMCOMPILER_REPLICA_APPROVALS"
"""Set to `1` and `record` needs approval: each run pauses before it (resume with `approve`)."""
TICKET = re.compile(r"ticket-\d{4}")
SCRIPT_LENGTH = 200_000
"""Model calls one server process can answer (two per run)."""
EFFECTS_TABLE = """
CREATE TABLE IF NOT EXISTS replica_effects (
    thread_id text NOT NULL,
    ticket text NOT NULL,
    body text NOT NULL,
    pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, ticket)
)
"""


def create_effects_table(url: str) -> None:
    """Create the side-effect table (once, before the servers start: concurrent creation races)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(EFFECTS_TABLE)


def question(number: int) -> str:
    """The question of run `number`."""
    return f"Look up ticket-{number:04d} and record it."


def expected_answer(number: int) -> str:
    """The answer run `number` must end with."""
    ticket = f"ticket-{number:04d}"
    return f"found<{ticket} alpha> | found<{ticket} beta> | recorded {ticket}"


def _log(event: str, call: str, thread_id: str) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    entry = {"pid": os.getpid(), "event": event, "call": call, "thread": thread_id, "at": time.time()}
    line = json.dumps(entry) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write of a short line: appended whole
        os.fsync(fd)
    finally:
        os.close(fd)


def _thread_id(config: RunnableConfig) -> str:
    return str(config.get("configurable", {}).get("thread_id", ""))


def _latency() -> float:
    return float(os.environ.get(LATENCY_ENV, "0.5"))


async def search(query: str, config: RunnableConfig) -> str:
    """Look a query up (LLMCOMPILER_REPLICA_TOOL_LATENCY seconds; twice that for a "beta" query)."""
    thread = _thread_id(config)
    _log("start", f"search {query}", thread)
    await asyncio.sleep(_latency() * (2 if query.endswith("beta") else 1))
    _log("end", f"search {query}", thread)
    return f"found<{query}>"


async def record(ticket: str, body: str, config: RunnableConfig) -> str:
    """Record a ticket (a side effect, written to Postgres once per thread and ticket)."""
    import psycopg

    thread = _thread_id(config)
    _log("start", f"record {ticket}", thread)
    url = os.environ.get(EFFECTS_DB_ENV)
    if url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
            await connection.execute(
                "INSERT INTO replica_effects (thread_id, ticket, body, pid) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (thread_id, ticket) DO NOTHING",
                (thread, ticket, body, os.getpid()),
            )
    _log("end", f"record {ticket}", thread)
    return f"recorded {ticket}"


def respond(messages: Sequence[BaseMessage]) -> str:
    """The scripted model: a plan for the question's ticket, then Finish with the observations."""
    system = str(messages[0].content)
    if system.startswith("Given a user query"):
        found = TICKET.findall("\n".join(str(m.content) for m in messages[1:]))
        ticket = found[-1] if found else "ticket-none"
        return (
            f'1. search("{ticket} alpha")\n2. search("{ticket} beta")\n'
            f'3. record("{ticket}", "$1")\n4. join()<END_OF_PLAN>'
        )
    last = str(messages[-1].content)
    observations = [
        line.removeprefix("Observation: ") for line in last.splitlines() if line.startswith("Observation:")
    ]
    return "Thought: done.\nAction: Finish(" + " | ".join(observations) + ")"


def build_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The benchmark graph, compiled without a checkpointer (the server brings its own)."""
    model = ScriptedChatModel(responses=[respond] * SCRIPT_LENGTH)
    tools = [
        StructuredTool.from_function(coroutine=search, name="search", description="Look a query up."),
        StructuredTool.from_function(coroutine=record, name="record", description="Record a ticket."),
    ]
    approvals = ["record"] if os.environ.get(APPROVALS_ENV) == "1" else []
    graph: CompiledStateGraph[Any, Any, Any, Any] = create_llmcompiler(
        model, tools, side_effect_tools=approvals
    ).compile(name=GRAPH_ID)
    return graph


_graphs: list[CompiledStateGraph[Any, Any, Any, Any]] = []


async def make_graph(config: RunnableConfig | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Graph factory for `langgraph-api`: built on first use, then shared by every run of the process.

    The server asks for the graph for every run and state read; building it each time costs
    0.1-1 s of CPU under load, so it is built once (the scripted model holds no run state).
    """
    if not _graphs:
        _graphs.append(build_graph())
    return _graphs[0]
