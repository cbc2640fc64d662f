"""Runs or resumes one LLMCompiler question on a SQLite or PostgreSQL checkpointer, in its own process.

Used by test_durability.py, which SIGKILLs the first process mid-plan. Every tool call
is appended (and fsynced) to a log so the test can see which process ran what.

    python tests/durability_worker.py run|resume|approve LOG DB PLAN

DB is a SQLite file, or a `postgresql://` URL (AsyncPostgresSaver). `resume` continues
the thread with no input; `approve` answers a pending approval request with "approve".
Plans starting with `eager-` run with `eager=True`: tools start while the plan streams
(one chunk every STREAM_DELAY_S seconds), so the kill can land in the planner's own step.
The `approval` plan sends an email, a tool with side effects that waits for approval.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

THREAD = {"configurable": {"thread_id": "durable-thread"}}
PLANS = {
    # Task 3 finishes before the kill: only task 2 is left to run.
    "finished-dependant": '1. search("fast")\n2. search("slow")\n3. search("after $1")\n4. join()',
    # Task 3 is still running at the kill: on resume it must get $1 from the checkpoint.
    "running-dependant": '1. search("fast")\n2. search("slow")\n3. search("slow after $1")\n4. join()',
    # Killed while the plan still streams: $1 and $3 have finished, $2 runs, the plan goes on.
    "eager-mid-plan": '1. search("fast")\n2. search("slow")\n3. search("after $1")\n'
    "Thought: " + "still planning " * 60 + "\n4. join()",
    # Killed after the plan has streamed, while $2 still runs (all in the planner's step).
    "eager-after-plan": '1. search("fast")\n2. search("slow")\n3. search("after $1")\n4. join()',
    # Pauses for approval of $2 after $1 ran; once approved, $3 runs long enough to be killed.
    "approval": '1. search("fast")\n2. send_email("team", "$1")\n3. search("slow after $2")\n4. join()',
}
STREAM_DELAY_S = 0.02
SECOND_PLAN = '5. search("again $1")\n6. join()<END_OF_PLAN>'


def log(event: str, query: str) -> None:
    with open(sys.argv[2], "a") as handle:
        handle.write(json.dumps({"pid": os.getpid(), "event": event, "query": query}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


async def search(query: str) -> str:
    """Look something up (slowly for 'slow')."""
    log("start", query)
    await asyncio.sleep(3.0 if query.startswith("slow") else 0.05)
    log("end", query)
    return f"found<{query}>"


async def send_email(to: str, body: str) -> str:
    """Send an email (a side effect: needs approval)."""
    log("start", f"email {to}: {body}")
    await asyncio.sleep(0.05)
    log("end", f"email {to}: {body}")
    return f"sent to {to}"


def respond(messages: Any) -> str:
    system, last = str(messages[0].content), str(messages[-1].content)
    if system.startswith("Given a user query"):
        replan = "The previous plan(s)" in last
        log("plan", "second" if replan else "first")
        return SECOND_PLAN if replan else PLANS[sys.argv[4]]
    if "5. search" not in last:
        return "Thought: one more lookup.\nAction: Replan(look again, reusing $1)"
    observations = [
        line.removeprefix("Observation: ") for line in last.splitlines() if line.startswith("Observation:")
    ]
    return "Thought: done.\nAction: Finish(" + " | ".join(observations) + ")"


@asynccontextmanager
async def checkpointer(location: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if location.startswith("postgresql://"):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(location) as saver:
            await saver.setup()  # idempotent: creates the tables on first use
            yield saver
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(location) as saver:
            yield saver


async def main(mode: str) -> None:
    plan = sys.argv[4]
    eager = plan.startswith("eager-")
    model = ScriptedChatModel(responses=[respond] * 10, token_delay=STREAM_DELAY_S if eager else 0.0)
    tools: list[Any] = [search, send_email] if plan == "approval" else [search]
    approval = ["send_email"] if plan == "approval" else []
    async with checkpointer(sys.argv[3]) as saver:
        graph = create_llmcompiler(
            model, tools, eager=True if eager else "auto", side_effect_tools=approval
        ).compile(checkpointer=saver)
        inputs: Any = None  # resume: go on from the last checkpoint
        if mode == "run":
            inputs = {"messages": [("user", "Look things up.")]}
        elif mode == "approve":
            inputs = Command(resume="approve")
        state = await graph.ainvoke(inputs, THREAD)
        waiting = [i.value for i in (await graph.aget_state(THREAD)).interrupts]
        answer = None if waiting else state["messages"][-1].content
        print(json.dumps({"answer": answer, "interrupts": waiting, "pid": os.getpid()}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
