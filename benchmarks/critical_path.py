"""Execution-phase latency of the scheduler on DAGs with uneven tool latencies.

Prints, per DAG, the median execution phase (first tool start to last tool end) measured
through the real graph, next to the critical-path limit and to what wave-by-wave
scheduling (one superstep per dependency level) would cost. Run:

    python3 benchmarks/critical_path.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from langchain_core.tools import StructuredTool

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

# name -> (latency seconds, dependencies)
DAGS: dict[str, dict[int, tuple[float, list[int]]]] = {
    "notes (0.1, 0.5, 0.1<-1)": {1: (0.1, []), 2: (0.5, []), 3: (0.1, [1])},
    "two chains, uneven": {
        1: (0.05, []),
        2: (0.30, []),
        3: (0.05, [1]),
        4: (0.30, [2]),
        5: (0.05, [3]),
        6: (0.05, [4]),
        7: (0.30, [5]),
    },
    "fan-in": {1: (0.2, []), 2: (0.1, []), 3: (0.1, []), 4: (0.1, [2, 3]), 5: (0.1, [1, 4])},
}


def plan_text(dag: dict[int, tuple[float, list[int]]]) -> str:
    lines = []
    for idx, (_, deps) in dag.items():
        refs = " ".join(f"${d}" for d in deps)
        lines.append(f'{idx}. work("{idx} {refs}")')
    lines.append(f"{len(dag) + 1}. join()<END_OF_PLAN>")
    return "\n".join(lines)


def limits(dag: dict[int, tuple[float, list[int]]]) -> tuple[float, float]:
    finish: dict[int, float] = {}
    level: dict[int, int] = {}
    for idx, (latency, deps) in dag.items():
        finish[idx] = latency + max((finish[d] for d in deps), default=0.0)
        level[idx] = 1 + max((level[d] for d in deps), default=-1)
    waves = sum(max(dag[i][0] for i in dag if level[i] == lvl) for lvl in range(max(level.values()) + 1))
    return max(finish.values()), waves


async def measure(dag: dict[int, tuple[float, list[int]]], repeats: int) -> float:
    async def work(spec: str) -> str:
        """Do some work."""
        await asyncio.sleep(dag[int(spec.split()[0])][0])
        return f"r{spec.split()[0]}"

    tool = StructuredTool.from_function(coroutine=work, name="work", description="Do some work.")
    phases = []
    for _ in range(repeats):
        model = ScriptedChatModel(responses=[plan_text(dag), "Action: Finish(ok)"])
        state = await create_llmcompiler(model, [tool]).compile().ainvoke({"messages": [("user", "go")]})
        tasks = state["tasks"].values()
        phases.append(max(t["finished_at"] for t in tasks) - min(t["started_at"] for t in tasks))
    return statistics.median(phases)


async def main(repeats: int = 5) -> None:
    print(f"{'DAG':28} {'measured':>9} {'critical path':>14} {'wave-by-wave':>13} {'ratio to limit':>15}")
    for name, dag in DAGS.items():
        limit, waves = limits(dag)
        measured = await measure(dag, repeats)
        print(f"{name:28} {measured:8.3f}s {limit:13.3f}s {waves:12.3f}s {measured / limit:14.3f}x")


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main())
    print(f"(median of 5 runs each; total {time.perf_counter() - started:.1f} s)")
