"""One step of a kill-campaign trial: run, resume or approve one thread, in its own process.

Used by test_kill_campaign.py, which SIGKILLs one of these processes at a random moment
and then drives the thread to its answer in fresh processes. Every tool call appends a
`start` and an `end` line (fsynced) to a ledger, so the test can count the side effects
that happened twice and those that never happened.

    python tests/kill_worker.py run|resume|approve LEDGER DB API EAGER PLAN

API is `async` (ainvoke, AsyncSqliteSaver, async tools) or `sync` (invoke, SqliteSaver,
sync tools); EAGER is `eager` (tasks start while the plan streams) or `lazy`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from typing import Any

from langgraph.types import Command

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

THREAD = {"configurable": {"thread_id": "kill-campaign"}}
PLANS = {
    "dag": "\n".join(
        [
            '1. charge("a", 10)',
            '2. charge("b", 20)',
            '3. charge("c", 30)',
            '4. charge("d after $1", 40)',
            '5. charge("e after $2 and $4", 50)',
            '6. charge("f after $3", 60)',
            "7. join()",
        ]
    ),
    "wide": "\n".join(f'{i}. charge("w{i}", {i})' for i in range(1, 71)) + "\n71. join()",
    "approval": '1. charge("a", 10)\n2. transfer("b", "$1")\n3. charge("c after $2", 30)\n4. join()',
}


def record(event: str, call: str) -> None:
    with open(sys.argv[2], "a") as ledger:
        ledger.write(
            json.dumps({"pid": os.getpid(), "event": event, "call": call, "time": time.time()}) + "\n"
        )
        ledger.flush()
        os.fsync(ledger.fileno())


def latency(call: str) -> float:
    """0.05 to 0.45 s, the same for the same call in every process."""
    return 0.05 + int(hashlib.sha1(call.encode()).hexdigest()[:4], 16) % 400 / 1000


def ledgered(call: str) -> None:
    """One side effect, written to the ledger as it starts and ends (sync tools)."""
    record("start", call)
    time.sleep(latency(call))
    record("end", call)


async def aledgered(call: str) -> None:
    """One side effect, written to the ledger as it starts and ends (async tools)."""
    record("start", call)
    await asyncio.sleep(latency(call))
    record("end", call)


def sync_tools() -> list[Any]:
    """`charge` and `transfer` (a side effect that needs approval), as sync tools."""

    def charge(account: str, amount: int) -> str:
        """Charge an account (a side effect)."""
        ledgered(f"charge {account} {amount}")
        return f"charged {account[:1]}"

    def transfer(to: str, note: str) -> str:
        """Transfer money (a side effect that needs approval)."""
        ledgered(f"transfer {to} {note}")
        return f"sent to {to}"

    return [charge, transfer]


def async_tools() -> list[Any]:
    """`charge` and `transfer` (a side effect that needs approval), as async tools."""

    async def charge(account: str, amount: int) -> str:
        """Charge an account (a side effect)."""
        await aledgered(f"charge {account} {amount}")
        return f"charged {account[:1]}"

    async def transfer(to: str, note: str) -> str:
        """Transfer money (a side effect that needs approval)."""
        await aledgered(f"transfer {to} {note}")
        return f"sent to {to}"

    return [charge, transfer]


def build(api: str, eager: str, plan: str) -> Any:
    def respond(messages: Any) -> str:
        if str(messages[0].content).startswith("Given a user query"):
            return PLANS[plan]
        return "Thought: done.\nAction: Finish(all charged)"

    model = ScriptedChatModel(responses=[respond] * 6, token_delay=0.01 if eager == "eager" else 0.0)
    return create_llmcompiler(
        model,
        sync_tools() if api == "sync" else async_tools(),
        eager=eager == "eager",
        side_effect_tools=["transfer"] if plan == "approval" else [],
        max_tasks_per_plan=None,
    )


def report(state: Any, interrupts: list[Any]) -> None:
    answer = None if interrupts else state["messages"][-1].content
    tasks = {str(idx): task["status"] for idx, task in state.get("tasks", {}).items()}
    print(json.dumps({"answer": answer, "interrupts": len(interrupts), "tasks": tasks}))


def inputs(mode: str) -> Any:
    if mode == "run":
        return {"messages": [("user", "Charge everyone.")]}
    return Command(resume="approve") if mode == "approve" else None


async def main_async(mode: str, db: str, eager: str, plan: str) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        graph = build("async", eager, plan).compile(checkpointer=saver)
        state = await graph.ainvoke(inputs(mode), THREAD)
        report(state, list((await graph.aget_state(THREAD)).interrupts))


def main_sync(mode: str, db: str, eager: str, plan: str) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(db) as saver:
        graph = build("sync", eager, plan).compile(checkpointer=saver)
        state = graph.invoke(inputs(mode), THREAD)
        report(state, list(graph.get_state(THREAD).interrupts))


if __name__ == "__main__":
    mode, _, db, api, eager, plan = sys.argv[1:7]
    if api == "sync":
        main_sync(mode, db, eager, plan)
    else:
        asyncio.run(main_async(mode, db, eager, plan))
