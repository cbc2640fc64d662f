"""Scheduling overhead: plans of N independent no-op tasks, streamed, parsed and run.

Compares the cost per task of the whole LLMCompiler graph (plan streamed from a
zero-latency model, parsed line by line, tasks run through `Send`, records merged,
joiner) with a bare LangGraph `Send` fan-out of N no-op nodes, measured in the same
process.
"""

from __future__ import annotations

import operator
import statistics
import time
from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.tools import StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

__all__ = ["bare_fan_out_seconds", "llmcompiler_seconds", "run_overhead_benchmark"]


async def _noop(x: int) -> int:
    """Return x."""
    return x


NOOP_TOOL = StructuredTool.from_function(coroutine=_noop, name="noop", description="Return x.")


async def llmcompiler_seconds(tasks: int, *, eager: bool = True) -> float:
    """Wall time of one LLMCompiler run over a plan of `tasks` independent no-op tasks."""
    plan = "\n".join(f"{i}. noop({i})" for i in range(1, tasks + 1)) + f"\n{tasks + 1}. join()<END_OF_PLAN>"
    model = ScriptedChatModel(responses=[plan, "Action: Finish(done)"])
    graph = create_llmcompiler(
        model, [NOOP_TOOL], eager=eager, max_tasks_per_plan=None, max_plan_tokens=None
    ).compile()
    started = time.perf_counter()
    state = await graph.ainvoke({"messages": [("user", "run the plan")]})
    elapsed = time.perf_counter() - started
    if len(state["tasks"]) != tasks or any(t["status"] != "done" for t in state["tasks"].values()):
        msg = "overhead run did not complete every task"
        raise RuntimeError(msg)
    return elapsed


class _FanOutState(TypedDict):
    results: Annotated[list[int], operator.add]


async def bare_fan_out_seconds(tasks: int) -> float:
    """Wall time of a bare LangGraph graph that `Send`s `tasks` no-op nodes."""

    def fan_out(state: _FanOutState) -> list[Send]:
        return [Send("work", i) for i in range(tasks)]

    async def work(i: int) -> dict[str, Any]:
        return {"results": [i]}

    builder = StateGraph(_FanOutState)
    builder.add_node("start", lambda state: {})
    builder.add_node("work", work)  # type: ignore[arg-type]
    builder.add_edge(START, "start")
    builder.add_conditional_edges("start", fan_out, ["work"])
    builder.add_edge("work", END)
    graph = builder.compile()
    started = time.perf_counter()
    await graph.ainvoke({"results": []})
    return time.perf_counter() - started


async def run_overhead_benchmark(
    sizes: Sequence[int] = (10, 100, 1000, 5000), repeats: int = 3
) -> list[dict[str, Any]]:
    """Median per-task cost at each size, for LLMCompiler (eager and not) and the bare fan-out."""
    await llmcompiler_seconds(10)  # warm imports and caches
    rows = []
    for size in sizes:
        eager = statistics.median([await llmcompiler_seconds(size) for _ in range(repeats)])
        lazy = statistics.median([await llmcompiler_seconds(size, eager=False) for _ in range(repeats)])
        bare = statistics.median([await bare_fan_out_seconds(size) for _ in range(repeats)])
        rows.append(
            {
                "tasks": size,
                "llmcompiler_s": eager,
                "llmcompiler_ms_per_task": 1000 * eager / size,
                "no_eager_ms_per_task": 1000 * lazy / size,
                "bare_send_ms_per_task": 1000 * bare / size,
            }
        )
    return rows


def linear_fit(rows: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """Least-squares `total = fixed + per_task * tasks` over the rows: (fixed ms, ms per task)."""
    xs = [float(r["tasks"]) for r in rows]
    ys = [1000 * float(r["llmcompiler_s"]) for r in rows]
    slope, intercept = statistics.linear_regression(xs, ys)
    return intercept, slope


def format_overhead(rows: Sequence[dict[str, Any]]) -> str:
    """The overhead curve as a Markdown table, and its linear fit."""
    lines = [
        "| tasks | LLMCompiler total | ms/task (eager) | ms/task (no eager) | bare Send fan-out ms/task |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['tasks']} | {row['llmcompiler_s']:.3f} s | {row['llmcompiler_ms_per_task']:.3f} "
            f"| {row['no_eager_ms_per_task']:.3f} | {row['bare_send_ms_per_task']:.3f} |"
        )
    if len(rows) >= 2:
        fixed, per_task = linear_fit(rows)
        lines.append("")
        lines.append(f"Linear fit of the eager totals: {fixed:.1f} ms per run + {per_task:.3f} ms per task.")
    return "\n".join(lines)
