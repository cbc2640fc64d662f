"""200 concurrent runs on one compiled graph: every answer its own, none lost."""

from __future__ import annotations

from llmcompiler_bench.load import run_load


async def test_two_hundred_concurrent_runs_with_random_latencies_and_failures_stay_separate() -> None:
    report = await run_load(runs=200, seed=11, max_latency_s=0.05, failure_rate=0.15)
    assert report["failed_tool_calls_injected"] > 0
    assert report["lost"] == 0
    assert report["wrong_or_crossed"] == 0
