"""What durability costs: LLMCompiler with and without a SQLite checkpointer, on the replay model.

With a checkpointer, `eager="auto"` starts tasks once the plan has streamed, while
`eager=True` starts them as their lines are parsed and saves each result as it arrives
(:mod:`llmcompiler_graph.durable`). This benchmark runs the replay workloads through
three configurations side by side, question by question:

- eager dispatch, no checkpointer (the in-memory default);
- SQLite checkpointer, tasks after the plan (`eager="auto"`, the default with one);
- SQLite checkpointer, durable eager dispatch (`eager=True`).

    python -m llmcompiler_bench durable --questions 5
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmcompiler_bench.replay_model import LatencyProfile
from llmcompiler_bench.systems import run_llmcompiler
from llmcompiler_bench.workloads import load_workloads

__all__ = ["DURABLE_SYSTEMS", "format_durable_table", "run_durable_benchmark"]

DURABLE_SYSTEMS = ("in-memory, eager", "SQLite, eager='auto'", "SQLite, eager=True")


async def run_durable_benchmark(
    questions_per_workload: int,
    latency: LatencyProfile,
    time_scale: float = 1.0,
    workloads: Sequence[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per question and configuration, with its latency and its critical-path limit."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        async with AsyncSqliteSaver.from_conn_string(str(Path(scratch) / "bench.sqlite")) as saver:
            warm_up = load_workloads(1)["Synthetic"][0]  # imports and first-call caches
            for eager, checkpointer in ((True, None), (False, saver), (True, saver)):
                await run_llmcompiler(
                    warm_up, latency.scaled(0.01), 0.01, eager=eager, checkpointer=checkpointer
                )
            for name, questions in load_workloads(questions_per_workload).items():
                if workloads is not None and name not in workloads:
                    continue
                for number, question in enumerate(questions, 1):
                    runs = {
                        DURABLE_SYSTEMS[0]: await run_llmcompiler(question, latency, time_scale, eager=True),
                        DURABLE_SYSTEMS[1]: await run_llmcompiler(
                            question, latency, time_scale, eager=False, checkpointer=saver
                        ),
                        DURABLE_SYSTEMS[2]: await run_llmcompiler(
                            question, latency, time_scale, eager=True, checkpointer=saver
                        ),
                    }
                    for system, result in runs.items():
                        if result.answer != runs[DURABLE_SYSTEMS[0]].answer:
                            msg = f"{system} answered {name} question {question.qid} differently"
                            raise RuntimeError(msg)
                        rows.append(
                            {"workload": name, "qid": question.qid, "system": system,
                             "latency_s": result.latency_s, "limit_s": result.limit_s}
                        )  # fmt: skip
                    if progress:
                        cells = "  ".join(f"{system} {r.latency_s:.2f}s" for system, r in runs.items())
                        print(f"[{name} {number}/{len(questions)}] {cells}", flush=True)
    return rows


def format_durable_table(rows: Sequence[dict[str, Any]]) -> str:
    """Mean latency per configuration and workload, and what durable eager dispatch gains and costs."""
    lines = [
        "| workload | n | " + " | ".join(DURABLE_SYSTEMS) + " | eager=True vs 'auto' (SQLite) "
        "| SQLite eager=True ÷ in-memory eager | SQLite eager=True ÷ limit (median) |",
        "|" + "---|" * (len(DURABLE_SYSTEMS) + 5),
    ]
    for workload in dict.fromkeys(r["workload"] for r in rows):
        selected = [r for r in rows if r["workload"] == workload]

        def mean(system: str, selected: list[dict[str, Any]] = selected) -> float:
            return statistics.fmean(r["latency_s"] for r in selected if r["system"] == system)

        memory, after_plan, durable = (mean(system) for system in DURABLE_SYSTEMS)
        ratios = [r["latency_s"] / r["limit_s"] for r in selected if r["system"] == DURABLE_SYSTEMS[2]]
        count = len({r["qid"] for r in selected})
        median_ratio = statistics.median(ratios)
        lines.append(
            f"| {workload} | {count} | {memory:.2f} s | {after_plan:.2f} s | {durable:.2f} s "
            f"| {after_plan / durable:.2f}x faster | {durable / memory:.3f} | {median_ratio:.3f} |"
        )
    return "\n".join(lines)
