"""LLMCompiler and text ReAct on the embedded local model, over the demo corpus.

`python -m llmcompiler_graph.bench local` runs the questions of
`bench/data/local_demo_questions.jsonl` (the README's example plus ParallelQA-style
questions whose facts are in the demo corpus) through both systems, one question at a
time, on the same model and tools, and reports completions, parsed plans, tasks, replans,
latency and accuracy (the paper's scoring). The tiny model is often wrong; the point is
that the whole pipeline runs for real, offline.
"""

from __future__ import annotations

import json
import statistics
import time
import traceback
from collections.abc import Sequence
from importlib.resources import files
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import BaseMessage

from llmcompiler_graph.bench.scoring import is_correct
from llmcompiler_graph.bench.text_react import run_text_react
from llmcompiler_graph.graph import create_llmcompiler
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool

__all__ = ["LLMCallCounter", "format_local_report", "load_local_questions", "run_local_benchmark"]


class LLMCallCounter(BaseCallbackHandler):
    """Counts chat-model calls made under a run's callbacks."""

    def __init__(self) -> None:
        self.calls = 0

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        """Count one call."""
        self.calls += 1


def load_local_questions(limit: int | None = None) -> list[dict[str, Any]]:
    """The local benchmark's questions: `{question, answer, kind, searches}` records."""
    text = files("llmcompiler_graph.bench").joinpath("data/local_demo_questions.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return rows[:limit] if limit is not None else rows


async def _run_llmcompiler(graph: Any, question: str) -> dict[str, Any]:
    counter = LLMCallCounter()
    started = time.perf_counter()
    state = await graph.ainvoke({"messages": [("user", question)]}, {"callbacks": [counter]})
    tasks = list(state.get("tasks", {}).values())
    first_round = [task for task in tasks if task["plan_round"] == 0]
    return {
        "seconds": time.perf_counter() - started,
        "answer": str(state["messages"][-1].content),
        "llm_calls": counter.calls,
        "plan_parsed": bool(first_round),
        "tasks": len(tasks),
        "tasks_done": sum(task["status"] == "done" for task in tasks),
        "tasks_failed": sum(task["status"] in ("error", "skipped") for task in tasks),
        "plan_issues": len(state.get("plan_issues", [])),
        "replans": state.get("replans", 0),
    }


async def _run_react(model: LanguageModelLike, tools: Sequence[Any], question: str) -> dict[str, Any]:
    counter = LLMCallCounter()
    started = time.perf_counter()
    bound = model.with_config(callbacks=[counter]) if hasattr(model, "with_config") else model
    result = await run_text_react(bound, tools, question)
    return {
        "seconds": time.perf_counter() - started,
        "answer": result.answer,
        "llm_calls": counter.calls,
        "tool_calls": len(result.tool_calls),
        "finished": result.finished,
    }


async def _attempt(system: str, run: Any, label: Any) -> dict[str, Any]:
    try:
        record: dict[str, Any] = await run
    except Exception as error:  # a failed run is a result, never the end of the benchmark
        return {"system": system, "completed": False, "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=3), "correct": False}  # fmt: skip
    record.update(system=system, completed=True, correct=is_correct(record["answer"], label))
    return record


async def run_local_benchmark(
    model: LanguageModelLike,
    questions: Sequence[dict[str, Any]],
    *,
    max_replans: int = 2,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Run every question through LLMCompiler, then text ReAct, one at a time.

    Returns one record per question and system with the answer, whether it is correct,
    latency, LLM calls and (LLMCompiler) plan, task and replan counts.
    """
    tools = [LocalSearchIndex.demo().as_tool(sentences=2), make_math_tool(model)]
    graph = create_llmcompiler(model, tools, max_replans=max_replans).compile()
    records: list[dict[str, Any]] = []
    for number, item in enumerate(questions, 1):
        for system, run in (
            ("llmcompiler", _run_llmcompiler(graph, item["question"])),
            ("react", _run_react(model, tools, item["question"])),
        ):
            record = await _attempt(system, run, item["answer"])
            record.update(question=item["question"], label=item["answer"], kind=item["kind"])
            records.append(record)
            if progress is not None:
                progress(number, len(questions), record)
    return records


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-system totals: completions, accuracy, latency, calls; LLMCompiler's plan figures."""
    summary: dict[str, dict[str, Any]] = {}
    for system in ("llmcompiler", "react"):
        rows = [r for r in records if r["system"] == system]
        done = [r for r in rows if r["completed"]]
        entry: dict[str, Any] = {
            "questions": len(rows),
            "completed": len(done),
            "correct": sum(r["correct"] for r in rows),
            "median_seconds": _median([r["seconds"] for r in done]),
            "mean_llm_calls": statistics.fmean([r["llm_calls"] for r in done]) if done else float("nan"),
        }
        if system == "llmcompiler":
            entry.update(
                plans_parsed=sum(r["plan_parsed"] for r in done),
                tasks=sum(r["tasks"] for r in done),
                tasks_done=sum(r["tasks_done"] for r in done),
                tasks_failed=sum(r["tasks_failed"] for r in done),
                replans=sum(r["replans"] for r in done),
                plan_issues=sum(r["plan_issues"] for r in done),
            )
        else:
            entry.update(
                tool_calls=sum(r["tool_calls"] for r in done),
                finished_with_finish=sum(r["finished"] for r in done),
            )
        summary[system] = entry
    return summary


def format_local_report(summary: dict[str, dict[str, Any]], model_name: str) -> str:
    """The summary as the lines the command prints."""
    compiler, react = summary["llmcompiler"], summary["react"]
    speedup = react["median_seconds"] / compiler["median_seconds"] if compiler["median_seconds"] else 0.0
    return "\n".join(
        [
            f"Model: {model_name}; {compiler['questions']} questions over the demo corpus, one at a time.",
            "",
            "| | LLMCompiler | ReAct (text) |",
            "|---|---:|---:|",
            f"| runs completed without an exception | {compiler['completed']}/{compiler['questions']} "
            f"| {react['completed']}/{react['questions']} |",
            f"| correct (paper's scoring) | {compiler['correct']}/{compiler['questions']} "
            f"| {react['correct']}/{react['questions']} |",
            f"| median latency | {compiler['median_seconds']:.2f} s | {react['median_seconds']:.2f} s |",
            f"| LLM calls per question (mean) | {compiler['mean_llm_calls']:.2f} "
            f"| {react['mean_llm_calls']:.2f} |",
            "",
            f"LLMCompiler: first plan parsed into tasks in "
            f"{compiler['plans_parsed']}/{compiler['completed']} "
            f"runs; {compiler['tasks']} tasks ({compiler['tasks_done']} done, {compiler['tasks_failed']} "
            f"failed or skipped); {compiler['replans']} replans; {compiler['plan_issues']} plan issues.",
            f"ReAct: {react['tool_calls']} tool calls; {react['finished_with_finish']}/{react['completed']} "
            "runs ended with Finish(...).",
            f"Median-latency speed-up of LLMCompiler over ReAct: {speedup:.2f}x.",
        ]
    )
