"""Load: many concurrent runs on one compiled graph, with random tool latencies and failures.

Every run asks its own question; the scripted planner plans three lookups and a
combination for it, tools sleep a random time and fail at random, and the scripted
joiner answers with the run's own id and observations. The check: every answer
belongs to its own run (none crossed over), none is lost, and no batch is left behind.
"""

from __future__ import annotations

import asyncio
import random
import re
import resource
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.tools import StructuredTool

from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

__all__ = ["run_load"]

_RUN = re.compile(r"run-(\d+)")


def _respond(messages: Sequence[BaseMessage]) -> str:
    system, last = str(messages[0].content), str(messages[-1].content)
    run = _RUN.findall(last)[-1]
    if system.startswith("Given a user query"):
        return (
            f'1. lookup("run-{run} a")\n2. lookup("run-{run} b")\n3. lookup("run-{run} c")\n'
            f'4. lookup("combine run-{run}: $1 + $2")\n5. join()<END_OF_PLAN>'
        )
    observations = [
        line.removeprefix("Observation: ") for line in last.splitlines() if line.startswith("Observation:")
    ]
    return f"Thought: done.\nAction: Finish(run-{run}: " + " | ".join(observations) + ")"


def _expected(run: int, failed: set[str]) -> str:
    def observe(query: str, result: str) -> str:
        return f"ERROR: lookup raised RuntimeError: {query} failed" if query in failed else result

    a, b, c = (f"run-{run} {x}" for x in "abc")
    if a in failed or b in failed:
        bad = 1 if a in failed else 2
        reason = f"lookup raised RuntimeError: run-{run} {'a' if bad == 1 else 'b'} failed"
        combined = f"ERROR: not run because ${bad} did not succeed ({reason})"
    else:
        query = f"combine run-{run}: seen:{a} + seen:{b}"
        combined = observe(query, f"seen:{query}")
    return f"run-{run}: " + " | ".join(
        [observe(a, f"seen:{a}"), observe(b, f"seen:{b}"), observe(c, f"seen:{c}"), combined]
    )


async def run_load(
    runs: int = 200, seed: int = 7, max_latency_s: float = 0.2, failure_rate: float = 0.1
) -> dict[str, Any]:
    """Run `runs` questions concurrently; return throughput, memory and correctness counts."""
    rng = random.Random(seed)
    failures: set[str] = set()
    latencies: dict[str, float] = {}

    async def lookup(query: str) -> str:
        """Look something up."""
        latency = latencies.setdefault(query, rng.uniform(0, max_latency_s))
        await asyncio.sleep(latency)
        if query in failures:
            msg = f"{query} failed"
            raise RuntimeError(msg)
        return f"seen:{query}"

    for run in range(runs):
        for part in "abc":
            if rng.random() < failure_rate:
                failures.add(f"run-{run} {part}")
    tool = StructuredTool.from_function(coroutine=lookup, name="lookup", description="Look something up.")
    model = ScriptedChatModel(responses=[_respond] * (2 * runs))
    graph = create_llmcompiler(model, [tool]).compile()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    states = await asyncio.gather(
        *(graph.ainvoke({"messages": [("user", f"Question for run-{run}")]}) for run in range(runs)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lost = sum(isinstance(s, BaseException) for s in states)
    wrong = [
        run
        for run, state in enumerate(states)
        if not isinstance(state, BaseException) and state["messages"][-1].content != _expected(run, failures)
    ]
    return {
        "runs": runs,
        "seconds": elapsed,
        "runs_per_second": runs / elapsed,
        "tool_calls": 4 * runs,
        "failed_tool_calls_injected": len(failures),
        "lost": lost,
        "wrong_or_crossed": len(wrong),
        "peak_rss_mib": rss_after / 1024,
        "peak_rss_growth_mib": (rss_after - rss_before) / 1024,
    }
