"""Skeleton-of-Thought against plain decoding and the router, on Vicuna-80-shaped replayed answers.

`python -m llmcompiler_bench sot` runs all 80 Vicuna questions (their categories and
the SoT authors' suitability labels come from `bench/data/vicuna80.jsonl`) through four
systems on the replay model (GPT-3.5-class timing, parallel requests served
independently, as the SoT paper assumes for API models):

- **plain**: one direct answer, streamed;
- **SoT**: `create_skeleton_of_thought`, expansions after the skeleton;
- **SoT eager**: the same with `eager_expansion=True`;
- **router**: the trained router (:func:`~llmcompiler_graph.sot.router.suitable_for_skeleton`)
  sends suitable questions through SoT and answers the rest plainly.

The data holds questions and labels, not answers, so the answers' *shapes* are
assumptions, seeded per question: 3-8 points of about 5 tokens, each expanded in 25-70
tokens (SoT's prompt asks for 1-2 sentences); the plain answer carries the same points and
expansions in one stream. Only latency is measured here, not answer quality.
The **limit** of a SoT run is the skeleton's time plus its slowest expansion (each
expansion's own time to first token and decode), with zero overhead.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from langchain_core.messages import BaseMessage

from llmcompiler_bench.replay_model import GPT35_CLASS, LatencyProfile, ReplayChatModel, count_tokens
from llmcompiler_graph.sot.graph import create_skeleton_of_thought
from llmcompiler_graph.sot.prompts import DIRECT_ANSWER_PROMPT
from llmcompiler_graph.sot.router import suitable_for_skeleton

__all__ = ["SotQuestion", "format_sot_table", "load_sot_workload", "run_sot_benchmark"]

_WORDS = (
    "time energy focus habit routine plan goal task break sleep stress balance people team "
    "project health learning practice feedback skill change result progress simple daily clear"
).split()


@dataclass(frozen=True)
class SotQuestion:
    """A Vicuna-80 question and the replayed answer shape for it."""

    qid: int
    category: str
    text: str
    suitable: bool
    points: tuple[str, ...]
    expansions: tuple[str, ...]

    @property
    def skeleton(self) -> str:
        """The skeleton the replayed model writes."""
        return "\n".join(f"{n}. {point}" for n, point in enumerate(self.points, 1))

    @property
    def plain_answer(self) -> str:
        """The plain answer: the same points and expansions in one text."""
        return "\n".join(
            f"{n}. {p}: {e}" for n, (p, e) in enumerate(zip(self.points, self.expansions, strict=True), 1)
        )


def _text(rng: random.Random, tokens: int) -> str:
    words: list[str] = []
    while count_tokens(" ".join(words)) < tokens:
        words.append(rng.choice(_WORDS))
    return " ".join(words).capitalize() + "."


def load_sot_workload(limit: int | None = None) -> list[SotQuestion]:
    """Vicuna-80 with seeded answer shapes (see the module docstring for the assumptions)."""
    lines = files("llmcompiler_bench").joinpath("data/vicuna80.jsonl").read_text().splitlines()
    questions = []
    for row in [json.loads(line) for line in lines if line][:limit]:
        rng = random.Random(f"sot-{row['question_id']}")
        count = rng.randint(3, 8)
        points = tuple(_text(rng, 4).rstrip(".") for _ in range(count))
        expansions = tuple(_text(rng, rng.randint(25, 70)) for _ in range(count))
        questions.append(
            SotQuestion(
                row["question_id"],
                row["category"],
                row["request"],
                bool(row["sot_suitable"]),
                points,
                expansions,
            )
        )
    return questions


def _replier(question: SotQuestion) -> Any:
    def reply(messages: Sequence[BaseMessage]) -> str:
        prompt = str(messages[-1].content)
        if prompt.endswith("Skeleton:\n"):
            return question.skeleton
        if prompt.endswith("Expansion:"):
            index = int(prompt.splitlines()[-2].split(":")[0].removeprefix("Point "))
            return question.expansions[index - 1]
        return question.plain_answer

    return reply


def _limit(model: ReplayChatModel, latency: LatencyProfile) -> float:
    """Skeleton time plus the slowest expansion, from the calls' own token counts."""
    skeleton, *expansions = model.records
    skeleton_time = latency.token_after(skeleton.prompt_tokens, max(0, skeleton.output_tokens - 1))
    slowest = max(latency.token_after(r.prompt_tokens, max(0, r.output_tokens - 1)) for r in expansions)
    return skeleton_time + slowest


async def _run(question: SotQuestion, system: str, latency: LatencyProfile) -> dict[str, Any]:
    model = ReplayChatModel(completions=[_replier(question)] * 20, latency=latency)
    use_skeleton = system in ("sot", "sot-eager") or (
        system == "router" and suitable_for_skeleton(question.text)
    )
    started = time.perf_counter()
    if use_skeleton:
        graph = create_skeleton_of_thought(model, eager_expansion=system == "sot-eager").compile()
        state = await graph.ainvoke({"messages": [("user", question.text)]})
        answer = str(state["messages"][-1].content)
    else:
        reply = await model.ainvoke([("system", DIRECT_ANSWER_PROMPT), ("user", question.text)])
        answer = str(reply.content)
    elapsed = time.perf_counter() - started
    if answer != question.plain_answer:
        msg = f"{system} on question {question.qid} answered differently from the replayed answer"
        raise RuntimeError(msg)
    return {
        "qid": question.qid,
        "category": question.category,
        "suitable": question.suitable,
        "system": system,
        "skeleton": use_skeleton,
        "latency_s": elapsed,
        "limit_s": _limit(model, latency) if use_skeleton else None,
        "output_tokens": sum(r.output_tokens for r in model.records),
        "input_tokens": sum(r.prompt_tokens for r in model.records),
        "points": len(question.points),
    }


async def run_sot_benchmark(
    limit: int | None = None, latency: LatencyProfile = GPT35_CLASS, progress: bool = True
) -> list[dict[str, Any]]:
    """Every question through every system, side by side, one question at a time."""
    rows = []
    for question in load_sot_workload(limit):
        for system in ("plain", "sot", "sot-eager", "router"):
            rows.append(await _run(question, system, latency))
        if progress:
            cells = "  ".join(f"{r['system']} {r['latency_s']:.2f}s" for r in rows[-4:])
            print(f"[{question.qid}] {cells}", flush=True)
    return rows


def format_sot_table(rows: Sequence[dict[str, Any]]) -> str:
    """Mean latency per system, speed-ups over plain decoding and SoT's ratio to its limit."""

    def count(selected: list[dict[str, Any]]) -> int:
        return len({r["qid"] for r in selected})

    suitable = [r for r in rows if r["suitable"]]
    unsuitable = [r for r in rows if not r["suitable"]]
    groups = {
        f"SoT-suitable ({count(suitable)})": suitable,
        f"not suitable ({count(unsuitable)})": unsuitable,
        f"all ({count(list(rows))})": list(rows),
    }
    lines = [
        "| questions | plain | SoT | SoT eager | router | SoT speed-up | eager speed-up | router speed-up "
        "| SoT ÷ limit (median) | tokens in SoT / plain |",
        "|" + "---|" * 10,
    ]
    for name, group in groups.items():
        if not group:
            continue

        def mean(system: str, key: str = "latency_s", rows_: list[dict[str, Any]] = group) -> float:
            return statistics.fmean(r[key] for r in rows_ if r["system"] == system)

        plain, sot, eager, router = (mean(s) for s in ("plain", "sot", "sot-eager", "router"))
        ratios = [r["latency_s"] / r["limit_s"] for r in group if r["system"] == "sot" and r["limit_s"]]
        lines.append(
            f"| {name} | {plain:.2f} s | {sot:.2f} s | {eager:.2f} s | {router:.2f} s | {plain / sot:.2f}x "
            f"| {plain / eager:.2f}x | {plain / router:.2f}x | {statistics.median(ratios):.3f} "
            f"| {mean('sot', 'input_tokens'):.0f} / {mean('plain', 'input_tokens'):.0f} |"
        )
    return "\n".join(lines)


def main_sot(limit: int | None = None, time_scale: float = 1.0) -> dict[str, Any]:
    """Run and print (used by `python -m llmcompiler_bench sot`).

    Args:
        limit: The first `limit` Vicuna-80 questions (all 80 when None).
        time_scale: Multiplies every replayed latency (below 1.0 for quick smoke runs).
    """
    latency = GPT35_CLASS.scaled(time_scale)
    rows = asyncio.run(run_sot_benchmark(limit, latency))
    print()
    print(format_sot_table(rows))
    return {"latency_profile": latency.__dict__, "time_scale": time_scale, "rows": rows}
