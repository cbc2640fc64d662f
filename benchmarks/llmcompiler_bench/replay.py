"""The replay benchmark: every system on every workload, side by side in one process."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmcompiler_bench.replay_model import GPT35_CLASS, LatencyProfile
from llmcompiler_bench.systems import RunResult, run_llmcompiler, run_pfc, run_react
from llmcompiler_bench.workloads import MATH_MEDIAN_S, SEARCH_MEDIAN_S, Question, load_workloads

__all__ = ["PAPER", "run_question", "run_replay_benchmark", "summarize"]

SYSTEMS = ("LLMCompiler", "LLMCompiler (no eager)", "PFC", "ReAct")

PAPER: dict[str, dict[str, float]] = {
    "HotpotQA": {"speedup_react": 1.80, "token_reduction": 3.37},
    "Movie": {"speedup_react": 3.74, "token_reduction": 6.73},
    "ParallelQA": {"speedup_react": 2.15, "token_reduction": 4.65},
}
"""Published LLMCompiler figures vs ReAct (arXiv 2312.04511), for comparison."""


async def run_question(question: Question, latency: LatencyProfile, time_scale: float) -> list[RunResult]:
    """Run the four systems on one question, one after the other."""
    results = [
        await run_llmcompiler(question, latency, time_scale, eager=True),
        await run_llmcompiler(question, latency, time_scale, eager=False),
        await run_pfc(question, latency, time_scale),
        await run_react(question, latency, time_scale),
    ]
    for result in results:
        if result.tool_calls != len(question.steps) or result.answer != question.answer:
            msg = (
                f"{result.system} on {question.workload}/{question.qid} made {result.tool_calls} tool calls "
                f"(expected {len(question.steps)}) and answered {result.answer!r} "
                f"(expected {question.answer!r})"
            )
            raise RuntimeError(msg)
    return results


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def summarize(runs: Sequence[tuple[Question, list[RunResult]]]) -> dict[str, Any]:
    """Per-workload medians, means and ratios of a list of (question, results) pairs."""
    by_system: dict[str, list[RunResult]] = defaultdict(list)
    for _, results in runs:
        for result in results:
            by_system[result.system].append(result)
    median = {s: statistics.median(r.latency_s for r in rs) for s, rs in by_system.items()}
    mean = statistics.fmean
    compiler = by_system["LLMCompiler"]
    limit_ratios = [r.latency_s / r.limit_s for r in compiler if r.limit_s]
    delays = [d for r in compiler for d in r.first_dispatch_delays_s]
    summary: dict[str, Any] = {
        "questions": len(runs),
        "median_latency_s": median,
        "llm_calls": {s: mean(r.llm_calls for r in rs) for s, rs in by_system.items()},
        "input_tokens": {s: mean(r.input_tokens for r in rs) for s, rs in by_system.items()},
        "output_tokens": {s: mean(r.output_tokens for r in rs) for s, rs in by_system.items()},
        "speedup_vs_react": _ratio(median["ReAct"], median["LLMCompiler"]),
        "speedup_vs_pfc": _ratio(median["PFC"], median["LLMCompiler"]),
        "eager_gain": _ratio(median["LLMCompiler (no eager)"], median["LLMCompiler"]),
        "ratio_to_limit_median": statistics.median(limit_ratios),
        "ratio_to_limit_max": max(limit_ratios),
        "median_limit_s": statistics.median(r.limit_s for r in compiler if r.limit_s),
        "token_reduction_vs_react": _ratio(
            mean(r.input_tokens + r.output_tokens for r in by_system["ReAct"]),
            mean(r.input_tokens + r.output_tokens for r in compiler),
        ),
        "first_dispatch_delay_ms_median": 1000 * statistics.median(delays) if delays else None,
        "first_dispatch_delay_ms_max": 1000 * max(delays) if delays else None,
    }
    return summary


def format_table(summaries: dict[str, dict[str, Any]]) -> str:
    """The benchmark's summary as a Markdown table."""
    header = (
        "| workload | n | LLMCompiler | no eager | PFC | ReAct | speed-up vs ReAct (paper) | vs PFC "
        "| ÷ limit (median / max) | LLM calls LLMC / PFC / ReAct | tokens in/out LLMC | tokens in/out PFC "
        "| tokens in/out ReAct | token reduction vs ReAct (paper) |"
    )
    lines = [header, "|" + "---|" * 14]
    for workload, s in summaries.items():
        lat, calls = s["median_latency_s"], s["llm_calls"]
        tin, tout = s["input_tokens"], s["output_tokens"]
        paper = PAPER.get(workload, {})
        paper_speed = f" ({paper['speedup_react']:.2f}x)" if paper else ""
        paper_tokens = f" ({paper['token_reduction']:.2f}x)" if paper else ""
        cells = [
            workload,
            str(s["questions"]),
            *(f"{lat[system]:.2f} s" for system in SYSTEMS),
            f"{s['speedup_vs_react']:.2f}x{paper_speed}",
            f"{s['speedup_vs_pfc']:.2f}x",
            f"{s['ratio_to_limit_median']:.3f} / {s['ratio_to_limit_max']:.3f}",
            f"{calls['LLMCompiler']:.1f} / {calls['PFC']:.1f} / {calls['ReAct']:.1f}",
            f"{tin['LLMCompiler']:.0f} / {tout['LLMCompiler']:.0f}",
            f"{tin['PFC']:.0f} / {tout['PFC']:.0f}",
            f"{tin['ReAct']:.0f} / {tout['ReAct']:.0f}",
            f"{s['token_reduction_vs_react']:.2f}x{paper_tokens}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def run_replay_benchmark(
    questions_per_workload: int = 5,
    latency: LatencyProfile = GPT35_CLASS,
    time_scale: float = 1.0,
    output: Path | None = None,
    workloads: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the benchmark; print progress and the table; write JSON to `output` if given."""
    scaled = latency.scaled(time_scale)
    selected = {
        name: questions
        for name, questions in load_workloads(questions_per_workload).items()
        if workloads is None or name in workloads
    }
    warm_up = load_workloads(1)["Synthetic"][0]
    await run_question(warm_up, latency.scaled(0.01), 0.01)  # imports and first-call caches
    started = time.perf_counter()
    summaries: dict[str, dict[str, Any]] = {}
    raw: dict[str, list[dict[str, Any]]] = {}
    for name, questions in selected.items():
        runs = []
        for number, question in enumerate(questions, 1):
            results = await run_question(question, scaled, time_scale)
            runs.append((question, results))
            if progress:
                cells = "  ".join(f"{r.system} {r.latency_s:.2f}s" for r in results)
                print(
                    f"[{name} {number}/{len(questions)}] {cells}  limit {results[0].limit_s:.2f}s", flush=True
                )
        summaries[name] = summarize(runs)
        raw[name] = [{"qid": q.qid, "results": [asdict(r) for r in results]} for q, results in runs]
    report = {
        "settings": {
            "latency_profile": asdict(latency),
            "time_scale": time_scale,
            "questions_per_workload": questions_per_workload,
            "search_median_latency_s": SEARCH_MEDIAN_S,
            "math_median_latency_s": MATH_MEDIAN_S,
            "wall_time_s": time.perf_counter() - started,
        },
        "paper": PAPER,
        "summary": summaries,
        "runs": raw,
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2))
    return report


def main_replay(
    questions: int, time_scale: float, output: Path | None, workloads: Sequence[str] | None
) -> dict[str, Any]:
    """Run and print (used by `python -m llmcompiler_bench replay`)."""
    report = asyncio.run(run_replay_benchmark(questions, GPT35_CLASS, time_scale, output, workloads))
    print()
    print(format_table(report["summary"]))
    print()
    for name, s in report["summary"].items():
        if s["first_dispatch_delay_ms_median"] is not None:
            print(
                f"{name}: first tool call started {s['first_dispatch_delay_ms_median']:.2f} ms (median), "
                f"{s['first_dispatch_delay_ms_max']:.2f} ms (max) after its plan line was parsed; "
                f"eager dispatch gain {s['eager_gain']:.2f}x"
            )
    return report
