"""Choosing how to answer a question: directly, with Skeleton-of-Thought, or with tools.

Two routers:

- **trained** (no model call, offline): two small logistic-regression classifiers over word
  and word-pair features, shipped as weights in `llmcompiler_graph/data/router_weights.json`.
  :func:`suitable_for_skeleton` is trained on the SoT authors' suitability labels for
  Vicuna-80; :func:`needs_tools` on questions that need looked-up facts (the paper's
  ParallelQA and HotpotQA questions) against Vicuna-80's open-ended ones.
  `python -m llmcompiler_graph.router` retrains both and prints cross-validated figures.
- **prompted**: the model itself picks `tools`, `skeleton` or `direct` (:func:`prompted_route`).
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import HumanMessage

from llmcompiler_graph.sot_prompts import ROUTER_PROMPT

__all__ = [
    "Mode",
    "TextClassifier",
    "cross_validate",
    "features",
    "needs_tools",
    "prompted_route",
    "suitable_for_skeleton",
    "train_classifier",
    "trained_route",
]

Mode = Literal["direct", "skeleton", "tools"]

_WORD = re.compile(r"[a-z]+|\d+")


def features(question: str) -> set[str]:
    """The classifiers' features: words, word pairs, the first two words, and number presence.

    Example:
        >>> sorted(features("How can I sleep?"))[:4]
        ['can', 'can i', 'first:how', 'first:how can']
    """
    words = [("0" if token.isdigit() else token) for token in _WORD.findall(question.lower())]
    found = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    if words:
        found.add(f"first:{words[0]}")
        found.add(f"first:{' '.join(words[:2])}")
    return found


@dataclass(frozen=True)
class TextClassifier:
    """A logistic-regression text classifier over :func:`features`."""

    weights: dict[str, float]
    bias: float

    def score(self, text: str) -> float:
        """The log-odds of the positive class."""
        return self.bias + sum(self.weights.get(feature, 0.0) for feature in features(text))

    def predict(self, text: str) -> bool:
        """Whether the text belongs to the positive class."""
        return self.score(text) > 0


def train_classifier(
    texts: Sequence[str], labels: Sequence[bool], *, l2: float = 0.1, epochs: int = 400, step: float = 0.5
) -> TextClassifier:
    """Fit a logistic regression with L2 by full-batch gradient descent (deterministic).

    Example:
        >>> model = train_classifier(["list tips", "write code"] * 5, [True, False] * 5)
        >>> model.predict("tips please"), model.predict("write a poem")
        (True, False)
    """
    import numpy as np

    vocabulary = sorted({feature for text in texts for feature in features(text)})
    column = {feature: position for position, feature in enumerate(vocabulary)}
    matrix = np.zeros((len(texts), len(vocabulary)))
    for row, text in enumerate(texts):
        for feature in features(text):
            matrix[row, column[feature]] = 1.0
    target = np.array([1.0 if label else 0.0 for label in labels])
    weights = np.zeros(len(vocabulary))
    bias = 0.0
    for _ in range(epochs):
        predicted = 1.0 / (1.0 + np.exp(-(matrix @ weights + bias)))
        error = predicted - target
        weights -= step * (matrix.T @ error / len(texts) + l2 * weights / len(texts))
        bias -= step * float(error.mean())
    kept = {f: round(float(w), 6) for f, w in zip(vocabulary, weights, strict=True) if abs(w) > 1e-6}
    return TextClassifier(kept, round(bias, 6))


def cross_validate(
    texts: Sequence[str], labels: Sequence[bool], *, folds: int = 10, repeats: int = 5, seed: int = 0
) -> dict[str, float]:
    """Repeated stratified k-fold figures of :func:`train_classifier`, and the majority baseline.

    Returns accuracy, precision, recall and F1 of the positive class (pooled over every
    held-out prediction), and the accuracy of always predicting the majority class.
    """
    outcomes = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    rng = random.Random(seed)
    for _ in range(repeats):
        positives = [i for i, label in enumerate(labels) if label]
        negatives = [i for i, label in enumerate(labels) if not label]
        rng.shuffle(positives)
        rng.shuffle(negatives)
        fold_of = {index: n % folds for n, index in enumerate(positives)}
        fold_of.update({index: n % folds for n, index in enumerate(negatives)})
        for fold in range(folds):
            train = [i for i in range(len(texts)) if fold_of[i] != fold]
            model = train_classifier([texts[i] for i in train], [labels[i] for i in train])
            for i in (i for i in range(len(texts)) if fold_of[i] == fold):
                predicted = model.predict(texts[i])
                key = ("t" if predicted == labels[i] else "f") + ("p" if predicted else "n")
                outcomes[key] += 1
    total = sum(outcomes.values())
    precision = outcomes["tp"] / max(1, outcomes["tp"] + outcomes["fp"])
    recall = outcomes["tp"] / max(1, outcomes["tp"] + outcomes["fn"])
    majority = max(sum(labels), len(labels) - sum(labels)) / len(labels)
    return {
        "accuracy": (outcomes["tp"] + outcomes["tn"]) / total,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "majority_accuracy": majority,
        "examples": len(labels),
        "positives": sum(labels),
    }


@lru_cache(maxsize=1)
def _shipped() -> dict[str, TextClassifier]:
    data: dict[str, Any] = json.loads(
        files("llmcompiler_graph").joinpath("data/router_weights.json").read_text()
    )
    return {
        name: TextClassifier(entry["weights"], entry["bias"]) for name, entry in data["classifiers"].items()
    }


def suitable_for_skeleton(question: str) -> bool:
    """Whether Skeleton-of-Thought suits the question (a list of independent points), offline.

    Trained on the SoT authors' labels for Vicuna-80; see the README for its
    cross-validated accuracy, precision and recall.

    Example:
        >>> suitable_for_skeleton("What are the most effective ways to improve my memory?")
        True
        >>> suitable_for_skeleton("Write a Python function that reverses a linked list.")
        False
    """
    return _shipped()["skeleton"].predict(question)


def needs_tools(question: str) -> bool:
    """Whether the question needs looked-up facts or calculations (the LLMCompiler agent), offline.

    Example:
        >>> needs_tools("How much taller is Mount Everest than K2?")
        True
        >>> needs_tools("How can I improve my time management skills?")
        False
    """
    return _shipped()["tools"].predict(question)


def trained_route(question: str, *, tools_available: bool = True) -> Mode:
    """The trained router: tools first (when there are tools), then skeleton, else direct."""
    if tools_available and needs_tools(question):
        return "tools"
    return "skeleton" if suitable_for_skeleton(question) else "direct"


def parse_route(text: str, *, tools_available: bool = True) -> Mode:
    """The mode named in a prompted router's reply (`direct` when it names none).

    Example:
        >>> parse_route(" Skeleton."), parse_route("tools", tools_available=False), parse_route("??")
        ('skeleton', 'direct', 'direct')
    """
    words = re.findall(r"[a-z]+", text.lower())
    for word in words[:3]:
        if word == "skeleton":
            return "skeleton"
        if word == "tools":
            return "tools" if tools_available else "direct"
        if word == "direct":
            return "direct"
    return "direct"


async def prompted_route(
    model: LanguageModelLike, question: str, *, tools_available: bool = True, config: Any = None
) -> Mode:
    """The prompted router: the model picks the mode (one short model call)."""
    reply = await model.ainvoke([HumanMessage(ROUTER_PROMPT.replace("{question}", question))], config)
    text = reply if isinstance(reply, str) else str(reply.content)
    return parse_route(text, tools_available=tools_available)


def training_data() -> dict[str, tuple[list[str], list[bool]]]:
    """The labelled questions each shipped classifier is trained on.

    `skeleton`: Vicuna-80 with the SoT authors' suitability labels. `tools`: ParallelQA's
    113 questions and HotpotQA's first 113 (need facts: positive) against Vicuna-80 (no).
    """
    from llmcompiler_graph.bench.datasets import load_dataset

    lines = files("llmcompiler_graph.bench").joinpath("data/vicuna80.jsonl").read_text().splitlines()
    vicuna = [json.loads(line) for line in lines if line]
    open_ended = [row["request"] for row in vicuna]
    factual = [q.question for q in load_dataset("parallelqa")] + [
        q.question for q in load_dataset("hotpotqa", 113)
    ]
    return {
        "skeleton": (open_ended, [bool(row["sot_suitable"]) for row in vicuna]),
        "tools": (factual + open_ended, [True] * len(factual) + [False] * len(open_ended)),
    }


def main() -> int:
    """`python -m llmcompiler_graph.router [--write]`: cross-validate both; `--write` ships them."""
    import sys
    from pathlib import Path

    shipped: dict[str, Any] = {"classifiers": {}, "cross_validation": {}}
    for name, (texts, labels) in training_data().items():
        figures = cross_validate(texts, labels)
        model = train_classifier(texts, labels)
        shipped["classifiers"][name] = {"weights": model.weights, "bias": model.bias}
        shipped["cross_validation"][name] = figures
        print(
            f"{name}: {figures['examples']} questions ({figures['positives']} positive); 10-fold CV x5: "
            f"accuracy {figures['accuracy']:.3f} (majority class {figures['majority_accuracy']:.3f}), "
            f"precision {figures['precision']:.3f}, recall {figures['recall']:.3f}, F1 {figures['f1']:.3f}"
        )
    if "--write" in sys.argv[1:]:
        target = Path(str(files("llmcompiler_graph").joinpath("data/router_weights.json")))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(shipped, indent=1, sort_keys=True) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
