"""Benchmark workloads: questions as task DAGs with replayed observations and latencies.

Each question becomes the same work for every system: the tool calls of a DAG (what to
call, on what, with which dependencies), the latency and text of each observation, and a
final answer. The systems' completions are all derived from it (see
:mod:`llmcompiler_bench.systems`).

Shapes follow the paper's benchmarks, built from its datasets in `bench/data`:

- HotpotQA comparison: two independent searches, then join.
- Movie Recommendation: eight independent searches (four given movies, four options).
- ParallelQA: `branch` searches, one math task per search (applying the question's
  change to that entity), then one math task over all of them (a chain of depth 3).
- Synthetic DAGs with uneven latencies and chains.

No network is used: observations are synthetic placeholders of realistic length, and
latencies are drawn deterministically (seeded by question id) from log-normal
distributions: search median 0.6 s, math median 1.0 s (the paper's math tool is itself an
LLM call). These are assumptions, stated wherever results are printed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["SEARCH_MEDIAN_S", "MATH_MEDIAN_S", "Question", "Step", "load_workloads"]

SEARCH_MEDIAN_S = 0.6
MATH_MEDIAN_S = 1.0
_SIGMA = 0.35
_OBSERVATION_WORDS = 70
_FILLER = (
    "is described in the reference text with dates, places, people and figures that a question "
    "about it may need, followed by further background details"
).split(" ")

_NOT_ENTITY_START = {
    "If", "Which", "Were", "Are", "Was", "Is", "What", "Who", "Whom", "Whose", "After", "How",
    "Did", "Does", "Do", "When", "Where", "In", "By", "Find", "Assuming", "Considering", "Between",
    "Given", "Suppose", "Both", "Among", "And", "Or", "The", "A", "An", "Of", "For", "On", "At",
}  # fmt: skip
_ENTITY = re.compile(
    r"(?:[A-Z][\w'\u2019.\-]*)(?:\s+(?:(?:of|the|de|la|von|van|du|del|da)\s+)*[A-Z0-9][\w'\u2019.\-]*)*"
)


@dataclass(frozen=True)
class Step:
    """One tool call of a question's DAG."""

    idx: int
    tool: str
    args: dict[str, Any]
    """Arguments as the planner writes them: references to earlier steps as `$N`."""
    dependencies: tuple[int, ...]
    latency_s: float
    observation: str


@dataclass(frozen=True)
class Question:
    """A question, the tool calls that answer it, and the answer."""

    workload: str
    qid: str
    text: str
    steps: tuple[Step, ...]
    answer: str

    def levels(self) -> list[list[Step]]:
        """Steps grouped by dependency depth (what parallel function calling runs per turn)."""
        depth: dict[int, int] = {}
        for step in self.steps:
            depth[step.idx] = 1 + max((depth[d] for d in step.dependencies), default=-1)
        return [[s for s in self.steps if depth[s.idx] == level] for level in range(max(depth.values()) + 1)]


def _rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _latency(rng: random.Random, median: float) -> float:
    return round(median * math.exp(rng.gauss(0.0, _SIGMA)), 3)


def _observation(subject: str, rng: random.Random) -> str:
    words = [rng.choice(_FILLER) for _ in range(_OBSERVATION_WORDS)]
    return f"{subject}: " + " ".join(words) + "."


def entities(question: str, count: int) -> list[str]:
    """Up to `count` capitalised names from a question, padded with generic ones.

    Example:
        >>> entities("Were Scott Derrickson and Ed Wood of the same nationality?", 2)
        ['Scott Derrickson', 'Ed Wood']
    """
    found: list[str] = []
    for match in _ENTITY.finditer(question):
        words = match.group(0).split()
        while words and words[0] in _NOT_ENTITY_START:
            words.pop(0)
        name = re.sub(r"['\u2019]s$", "", " ".join(words)).strip(" .,")
        if name and name not in found:
            found.append(name)
    while len(found) < count:
        found.append(f"{question[:40].strip()} (item {len(found) + 1})")
    return found[:count]


def _search(idx: int, query: str, qid: str) -> Step:
    rng = _rng(qid, str(idx), query)
    return Step(idx, "search", {"query": query}, (), _latency(rng, SEARCH_MEDIAN_S), _observation(query, rng))


def _math(idx: int, problem: str, deps: list[int], qid: str) -> Step:
    rng = _rng(qid, str(idx), problem)
    value = round(rng.uniform(10, 1000), 2)
    return Step(
        idx,
        "math",
        {"problem": problem, "context": [f"${d}" for d in deps]},
        tuple(deps),
        _latency(rng, MATH_MEDIAN_S),
        str(value),
    )


def _data(name: str) -> list[dict[str, Any]]:
    text = resources.files("llmcompiler_bench").joinpath("data", name).read_text(encoding="utf-8")
    loaded: list[dict[str, Any]] = json.loads(text)
    return loaded


def hotpotqa(limit: int) -> list[Question]:
    """HotpotQA comparison questions: two searches, then join."""
    out = []
    for row in _data("hotpotqa_comparison.json")[:limit]:
        qid = str(row["id"])
        steps = tuple(_search(i, name, qid) for i, name in enumerate(entities(row["question"], 2), 1))
        out.append(Question("HotpotQA", qid, row["question"], steps, str(row["answer"])))
    return out


def movie(limit: int) -> list[Question]:
    """Movie Recommendation: one search per given movie and per option (eight)."""
    out = []
    for row in _data("movie_recommendations_formatted.json")[:limit]:
        head, _, options = row["question"].partition("\nOptions:\n")
        movies = [m.strip() for m in head.removeprefix("Find a movie similar to ").split(",")]
        titles = [*movies, *(o.strip() for o in options.splitlines() if o.strip())]
        qid = str(row["id"])
        steps = tuple(_search(i, title, qid) for i, title in enumerate(titles, 1))
        out.append(Question("Movie", qid, row["question"], steps, str(row["answer"])))
    return out


def parallelqa(limit: int) -> list[Question]:
    """ParallelQA: `branch` searches, a math task on each, and a math task over those."""
    out = []
    for row in _data("parallelqa_dataset.json")[:limit]:
        qid, branch = str(row["id"]), int(row["branch"])
        names = entities(row["question"], branch)
        steps: list[Step] = [_search(i, name, qid) for i, name in enumerate(names, 1)]
        for i, name in enumerate(names, 1):
            steps.append(_math(branch + i, f"apply the question's change to {name}", [i], qid))
        combine = list(range(branch + 1, 2 * branch + 1))
        steps.append(
            _math(2 * branch + 1, "combine the adjusted values to answer the question", combine, qid)
        )
        out.append(Question("ParallelQA", qid, row["question"], tuple(steps), str(row["answer"])))
    return out


def synthetic() -> list[Question]:
    """Hand-made DAGs: uneven latencies, a chain, a wide fan-in."""

    def search(idx: int, latency: float) -> Step:
        step = _search(idx, f"topic {idx}", "synthetic")
        return Step(idx, "search", step.args, (), latency, step.observation)

    def math_(idx: int, deps: list[int], latency: float) -> Step:
        step = _math(idx, f"combine step {idx}", deps, "synthetic")
        return Step(idx, "math", step.args, tuple(deps), latency, step.observation)

    return [
        Question(
            "Synthetic",
            "uneven-diamond",
            "Synthetic: a fast branch feeding two chained steps, beside one slow lookup.",
            (search(1, 0.3), search(2, 1.8), math_(3, [1], 0.3), math_(4, [3], 0.3), math_(5, [2, 4], 0.4)),
            "n/a",
        ),
        Question(
            "Synthetic",
            "chain",
            "Synthetic: one lookup, then three dependent computations.",
            (search(1, 0.6), math_(2, [1], 0.5), math_(3, [2], 0.5), math_(4, [3], 0.5)),
            "n/a",
        ),
        Question(
            "Synthetic",
            "wide-uneven",
            "Synthetic: six lookups from 0.2 s to 2.0 s, then one computation over all.",
            (*(search(i, 0.2 + 0.36 * (i - 1)) for i in range(1, 7)), math_(7, [1, 2, 3, 4, 5, 6], 0.4)),
            "n/a",
        ),
    ]


def load_workloads(questions_per_workload: int) -> dict[str, list[Question]]:
    """Every workload, with at most `questions_per_workload` dataset questions each."""
    return {
        "HotpotQA": hotpotqa(questions_per_workload),
        "Movie": movie(questions_per_workload),
        "ParallelQA": parallelqa(questions_per_workload),
        "Synthetic": synthetic(),
    }
