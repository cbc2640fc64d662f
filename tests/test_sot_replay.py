"""The Skeleton-of-Thought replay benchmark's machinery (timing itself is measured by the command)."""

from __future__ import annotations

from llmcompiler_bench.replay_model import GPT35_CLASS
from llmcompiler_bench.sot_replay import format_sot_table, load_sot_workload, run_sot_benchmark


def test_the_workload_covers_vicuna80_with_seeded_shapes() -> None:
    questions = load_sot_workload()
    assert len(questions) == 80
    assert sum(q.suitable for q in questions) == 37
    assert all(3 <= len(q.points) <= 8 and len(q.expansions) == len(q.points) for q in questions)
    assert load_sot_workload(3) == questions[:3]


async def test_every_system_gives_the_replayed_answer_and_sot_stays_near_its_limit() -> None:
    rows = await run_sot_benchmark(2, GPT35_CLASS.scaled(0.05), progress=False)
    assert [r["system"] for r in rows] == ["plain", "sot", "sot-eager", "router"] * 2
    for row in rows:
        if row["system"] in ("sot", "sot-eager"):
            assert row["skeleton"] and row["latency_s"] >= 0.9 * row["limit_s"]
    table = format_sot_table(rows)
    assert "| all (2) |" in table
