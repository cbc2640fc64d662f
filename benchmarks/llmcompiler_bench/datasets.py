"""The benchmark datasets: the paper's three (copied with provenance) and the local demo set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

__all__ = ["DATASETS", "BenchQuestion", "load_dataset"]

DATASETS = ("hotpotqa", "movie", "parallelqa", "demo")
"""`demo` is the local demo corpus's 50 questions (`bench/data/local_demo_questions.jsonl`)."""

_FILES = {
    "hotpotqa": "hotpotqa_comparison.json",
    "movie": "movie_recommendations_formatted.json",
    "parallelqa": "parallelqa_dataset.json",
    "demo": "local_demo_questions.jsonl",
}


@dataclass(frozen=True)
class BenchQuestion:
    """One question of a dataset, with its label and (ParallelQA) its number of parallel lookups."""

    dataset: str
    qid: str
    question: str
    label: str | float
    width: int | None = None


def _rows(name: str) -> list[dict[str, Any]]:
    text = files("llmcompiler_bench").joinpath("data", _FILES[name]).read_text()
    if _FILES[name].endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    rows: list[dict[str, Any]] = json.loads(text)
    return rows


def load_dataset(name: str, n: int | None = None) -> list[BenchQuestion]:
    """The first `n` questions of a dataset (all when `n` is None), in the file's order.

    Raises:
        ValueError: An unknown dataset name.

    Example:
        >>> [q.label for q in load_dataset("hotpotqa", 2)]
        ['yes', 'no']
    """
    if name not in _FILES:
        msg = f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}"
        raise ValueError(msg)
    questions = []
    for number, row in enumerate(_rows(name)[:n] if n is not None else _rows(name)):
        questions.append(
            BenchQuestion(
                dataset=name,
                qid=str(row.get("id", number)),
                question=row["question"],
                label=row["answer"],
                width=row.get("branch", row.get("searches")),
            )
        )
    return questions
