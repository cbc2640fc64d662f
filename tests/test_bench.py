"""The benchmark's parts: replayed model, workloads, baselines, limit, commands (at tiny time scales)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcompiler_bench.__main__ import main as bench_main
from llmcompiler_bench.durable import DURABLE_SYSTEMS
from llmcompiler_bench.overhead import bare_fan_out_seconds, format_overhead, llmcompiler_seconds
from llmcompiler_bench.replay import run_question
from llmcompiler_bench.replay_model import (
    GPT35_CLASS,
    LatencyProfile,
    ReplayChatModel,
    count_message_tokens,
    count_tokens,
)
from llmcompiler_bench.systems import critical_path_limit, plan_text
from llmcompiler_bench.workloads import Question, Step, load_workloads, synthetic

FAST = GPT35_CLASS.scaled(0.01)


def test_tokens_are_counted_with_cl100k() -> None:
    assert count_tokens("hello world") == 2
    from langchain_core.messages import HumanMessage, SystemMessage

    assert count_message_tokens([SystemMessage("hello world"), HumanMessage("hello world")]) == 3 + 2 * (
        4 + 2
    )


async def test_replayed_stream_never_releases_a_token_before_its_scheduled_time() -> None:
    profile = LatencyProfile(ttft_s=0.05, prefill_s_per_token=0.001, tokens_per_s=200)
    model = ReplayChatModel(completions=['1. search("a")\n2. join()<END_OF_PLAN>'], latency=profile)
    text = "".join([str(chunk.content) async for chunk in model.astream("question")])
    assert text == '1. search("a")\n2. join()<END_OF_PLAN>'
    record = model.records[0]
    assert len(record.token_times) == record.output_tokens == count_tokens(text)
    for index, released in enumerate(record.token_times):
        assert released >= record.started + profile.token_after(record.prompt_tokens, index) - 0.002


def test_workloads_have_the_papers_shapes() -> None:
    workloads = load_workloads(3)
    assert all(len(q.steps) == 2 and len(q.levels()) == 1 for q in workloads["HotpotQA"])
    assert all(len(q.steps) == 8 and len(q.levels()) == 1 for q in workloads["Movie"])
    for q in workloads["ParallelQA"]:
        branch = (len(q.steps) - 1) // 2
        assert [len(level) for level in q.levels()] == [branch, branch, 1]
    assert workloads["HotpotQA"][0].steps[0].args == {"query": "Scott Derrickson"}
    assert workloads["Movie"][0].steps[0].args == {"query": "Mission Impossible"}


def test_limit_is_the_critical_path_when_the_model_is_instant() -> None:
    diamond = synthetic()[0]
    instant = LatencyProfile(0.0, 0.0, 1e12)
    limit = critical_path_limit(diamond, plan_text(diamond), 100, 100, 10, instant, 1.0)
    assert limit == pytest.approx(max(1.8, 0.3 + 0.3 + 0.3) + 0.4)


def test_limit_starts_each_task_when_its_plan_line_has_been_streamed() -> None:
    slow_lookup = Step(1, "search", {"query": "x"}, (), 3.0, "obs")
    question = Question("Synthetic", "one-slow", "q", (slow_lookup,), "a")
    slow_planner = LatencyProfile(ttft_s=1.0, prefill_s_per_token=0.0, tokens_per_s=10.0)
    plan = plan_text(question)
    limit = critical_path_limit(question, plan, 0, 0, 1, slow_planner, 1.0)
    line_streamed = slow_planner.token_after(0, count_tokens(plan.split("\n")[0] + "\n") - 1)
    joiner = slow_planner.token_after(0, 0)
    assert limit == pytest.approx(line_streamed + 3.0 + joiner)


@pytest.mark.parametrize("workload", ["HotpotQA", "Movie", "ParallelQA", "Synthetic"])
async def test_every_system_does_the_same_work_and_differs_in_llm_calls(workload: str) -> None:
    question = load_workloads(1)[workload][0]
    results = {r.system: r for r in await run_question(question, FAST, 0.01)}
    assert results["LLMCompiler"].llm_calls == results["LLMCompiler (no eager)"].llm_calls == 2
    assert results["ReAct"].llm_calls == len(question.steps) + 1
    assert results["PFC"].llm_calls == len(question.levels()) + 1
    assert {r.tool_calls for r in results.values()} == {len(question.steps)}
    assert {r.answer for r in results.values()} == {question.answer}
    assert results["ReAct"].input_tokens > results["LLMCompiler"].input_tokens
    assert results["LLMCompiler"].limit_s is not None


async def test_overhead_runs_report_per_task_costs() -> None:
    assert await llmcompiler_seconds(20) > 0
    assert await bare_fan_out_seconds(20) > 0
    row = {"tasks": 20, "llmcompiler_s": 0.01, "llmcompiler_ms_per_task": 0.5, "no_eager_ms_per_task": 0.5,
           "bare_send_ms_per_task": 0.2}  # fmt: skip
    assert "| 20 | 0.010 s | 0.500 | 0.500 | 0.200 |" in format_overhead([row])


def test_benchmark_command_writes_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "results.json"
    args = [
        "all",
        "--questions",
        "1",
        "--time-scale",
        "0.01",
        "--workloads",
        "HotpotQA",
        "--sizes",
        "10",
        "20",
        "--runs",
        "20",
        "--sot-questions",
        "2",
    ]
    assert bench_main([*args, "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    summary = report["replay"]["summary"]["HotpotQA"]
    assert set(summary["median_latency_s"]) == {"LLMCompiler", "LLMCompiler (no eager)", "PFC", "ReAct"}
    assert [row["tasks"] for row in report["overhead"]] == [10, 20]
    printed = capsys.readouterr().out
    assert "| HotpotQA | 1 |" in printed
    assert "Linear fit" in printed
    assert {row["system"] for row in report["sot"]["rows"]} == {"plain", "sot", "sot-eager", "router"}
    assert {row["qid"] for row in report["sot"]["rows"]} == {1, 2}
    durable_systems = {(row["workload"], row["system"]) for row in report["durable"]}
    assert durable_systems == {("HotpotQA", system) for system in DURABLE_SYSTEMS}
    assert "| HotpotQA | 1 | " in printed.split("Durability:")[1]
