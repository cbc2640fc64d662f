"""Training and validating the trained router (`llmcompiler_graph.sot.router`).

`python -m llmcompiler_bench.router_training` retrains both classifiers and prints
held-out figures; `--write` ships the weights, thresholds and figures in
`llmcompiler_graph/data/router_weights.json`; `--prompted` also measures the prompted
router on the embedded local model, and `--embeddings` a classifier over that model's
sentence embeddings (both need llama-cpp-python).

The Skeleton-of-Thought classifier is validated the way that predicts questions it has
never seen: leave-one-category-out (every kind of request held out in turn: coding,
advice, comparisons...) and leave-one-source-out (every style held out in turn, Vicuna-80
among them), with the majority-class baseline beside every figure, a calibration table,
and the abstention rate. Figures are also given re-weighted to a deployment base rate
(27% suitable by default) since a held-out set rarely has the training set's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from llmcompiler_graph.sot.router import TextClassifier, features

__all__ = [
    "LabelledQuestion",
    "choose_thresholds",
    "cross_validate",
    "decision_figures",
    "held_out_probabilities",
    "labelled_questions",
    "main",
    "train_classifier",
    "training_data",
]

SKELETON_L2 = 1.0
"""L2 strength of the skeleton classifier (picked by leave-one-category/source-out accuracy)."""
DEPLOYMENT_BASE_RATE = 0.27
"""The share of suitable questions the thresholds are chosen for (the issue's held-out set)."""
THRESHOLD_GRID = tuple(round(0.3 + 0.05 * step, 2) for step in range(13))


@dataclass(frozen=True)
class LabelledQuestion:
    """A question with its Skeleton-of-Thought suitability label."""

    question: str
    suitable: bool
    category: str
    """The kind of request (advice, coding, math, comparison...), for leave-one-category-out."""
    source: str
    """Where the question's style comes from (chat, forum, exam, ..., or `vicuna`)."""


def labelled_questions() -> list[LabelledQuestion]:
    """The project's labelled questions followed by Vicuna-80 with the SoT authors' labels.

    Example:
        >>> questions = labelled_questions()
        >>> len(questions), sum(q.source == "vicuna" for q in questions)
        (551, 80)
    """
    own = files("llmcompiler_graph").joinpath("data/sot_router_questions.jsonl").read_text()
    vicuna = files("llmcompiler_bench").joinpath("data/vicuna80.jsonl").read_text()
    rows = [json.loads(line) for line in own.splitlines() if line]
    questions = [
        LabelledQuestion(row["question"], bool(row["suitable"]), row["category"], row["style"])
        for row in rows
    ]
    for line in vicuna.splitlines():
        if line:
            row = json.loads(line)
            questions.append(
                LabelledQuestion(
                    row["request"], bool(row["sot_suitable"]), f"vicuna-{row['category']}", "vicuna"
                )
            )
    return questions


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
    # The feature matrix is binary and sparse: kept as (row, column) pairs of its ones.
    pairs = [(row, column[feature]) for row, text in enumerate(texts) for feature in features(text)]
    rows = np.array([row for row, _ in pairs], dtype=np.intp)
    columns = np.array([col for _, col in pairs], dtype=np.intp)
    target = np.array([1.0 if label else 0.0 for label in labels])
    weights = np.zeros(len(vocabulary))
    bias = 0.0
    for _ in range(epochs):
        scores = np.bincount(rows, weights=weights[columns], minlength=len(texts)) + bias
        error = 1.0 / (1.0 + np.exp(-scores)) - target
        gradient = np.bincount(columns, weights=error[rows], minlength=len(vocabulary))
        weights -= step * (gradient / len(texts) + l2 * weights / len(texts))
        bias -= step * float(error.mean())
    kept = {f: round(float(w), 6) for f, w in zip(vocabulary, weights, strict=True) if abs(w) > 1e-6}
    return TextClassifier(kept, round(bias, 6))


def _train_skeleton(texts: Sequence[str], labels: Sequence[bool]) -> Callable[[str], float]:
    return train_classifier(texts, labels, l2=SKELETON_L2).probability


def held_out_probabilities(
    texts: Sequence[str],
    labels: Sequence[bool],
    groups: Sequence[str],
    train: Callable[[Sequence[str], Sequence[bool]], Callable[[str], float]] = _train_skeleton,
) -> list[float]:
    """Each text's probability from a model trained without its group (leave-one-group-out).

    Example:
        >>> texts = ["list tips a", "list tips b", "write code a", "write code b"]
        >>> probabilities = held_out_probabilities(texts, [True, True, False, False], ["a", "b", "a", "b"])
        >>> [p > 0.5 for p in probabilities]
        [True, True, False, False]
    """
    probabilities = [0.0] * len(texts)
    for group in sorted(set(groups)):
        inside = [i for i, g in enumerate(groups) if g != group]
        model = train([texts[i] for i in inside], [labels[i] for i in inside])
        for i, g in enumerate(groups):
            if g == group:
                probabilities[i] = model(texts[i])
    return probabilities


def decision_figures(
    probabilities: Sequence[float],
    labels: Sequence[bool],
    *,
    skeleton_at: float = 0.5,
    direct_at: float = 0.5,
    base_rate: float | None = None,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, abstention rate and the majority baseline of a decision rule.

    `skeleton` when the probability is at least `skeleton_at`; an abstention (answered
    directly) when it lies strictly between `direct_at` and `skeleton_at`. With
    `base_rate`, every figure is re-weighted as if that share of questions were suitable.

    Example:
        >>> labels = [True, True, False, True]
        >>> figures = decision_figures([0.9, 0.6, 0.2, 0.1], labels, skeleton_at=0.7, direct_at=0.3)
        >>> figures["accuracy"], figures["precision"], figures["recall"], figures["abstention"]
        (0.5, 1.0, 0.333, 0.25)
    """
    positives = sum(labels)
    rate = positives / len(labels)
    if base_rate is None or positives in (0, len(labels)):
        weight = {True: 1.0, False: 1.0}
        majority = max(rate, 1 - rate)
    else:
        weight = {True: base_rate / rate, False: (1 - base_rate) / (1 - rate)}
        majority = max(base_rate, 1 - base_rate)
    counts = {"tp": 0.0, "fp": 0.0, "tn": 0.0, "fn": 0.0, "unsure": 0.0}
    for probability, label in zip(probabilities, labels, strict=True):
        said = probability >= skeleton_at
        if not said and probability > direct_at:
            counts["unsure"] += weight[label]
        key = ("t" if said == label else "f") + ("p" if said else "n")
        counts[key] += weight[label]
    total = sum(counts[k] for k in ("tp", "fp", "tn", "fn"))
    precision = counts["tp"] / (counts["tp"] + counts["fp"]) if counts["tp"] + counts["fp"] else 0.0
    recall = counts["tp"] / (counts["tp"] + counts["fn"]) if counts["tp"] + counts["fn"] else 0.0
    return {
        "accuracy": round((counts["tp"] + counts["tn"]) / total, 3),
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0,
        "abstention": round(counts["unsure"] / total, 3),
        "majority_accuracy": round(majority, 3),
        "said_skeleton": round((counts["tp"] + counts["fp"]) / total, 3),
    }


def choose_thresholds(
    probabilities: Sequence[float], labels: Sequence[bool], *, base_rate: float = DEPLOYMENT_BASE_RATE
) -> tuple[float, float]:
    """The `skeleton_at` and `direct_at` thresholds, from held-out probabilities.

    `skeleton_at` follows the one-standard-error rule, erring towards the safe default:
    the most cautious (highest) threshold of the grid whose held-out accuracy, re-weighted
    to `base_rate`, is within one standard error of the best threshold's. `direct_at`
    mirrors it below one half: in between, the router abstains (answers directly).

    Example:
        >>> probabilities = [0.9, 0.8, 0.7, 0.6, 0.4, 0.2, 0.1]
        >>> choose_thresholds(probabilities, [True, True, True, False, True, False, False], base_rate=0.5)
        (0.8, 0.2)
    """

    def accuracy(threshold: float) -> float:
        figures = decision_figures(
            probabilities, labels, skeleton_at=threshold, direct_at=threshold, base_rate=base_rate
        )
        return figures["accuracy"]

    best = max(accuracy(t) for t in THRESHOLD_GRID)
    standard_error = math.sqrt(best * (1 - best) / len(labels))
    chosen = max(t for t in THRESHOLD_GRID if accuracy(t) >= best - standard_error)
    return chosen, round(min(chosen, 1 - chosen), 2)


def calibration_table(
    probabilities: Sequence[float], labels: Sequence[bool], *, bins: int = 5
) -> list[dict[str, float]]:
    """Reliability bins: how many questions, their mean probability, and the share truly suitable.

    Example:
        >>> [(row["questions"], row["mean_probability"], row["suitable"])
        ...  for row in calibration_table([0.1, 0.15, 0.9], [False, True, True], bins=2)]
        [(2, 0.125, 0.5), (1, 0.9, 1.0)]
    """
    table = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [
            (p, label)
            for p, label in zip(probabilities, labels, strict=True)
            if low <= p < high or (b == bins - 1 and p == 1.0)
        ]
        if inside:
            table.append(
                {
                    "from": round(low, 2),
                    "to": round(high, 2),
                    "questions": len(inside),
                    "mean_probability": round(sum(p for p, _ in inside) / len(inside), 3),
                    "suitable": round(sum(label for _, label in inside) / len(inside), 3),
                }
            )
    return table


def calibration_error(probabilities: Sequence[float], labels: Sequence[bool], *, bins: int = 10) -> float:
    """Expected calibration error: the questions-weighted gap between probability and frequency."""
    table = calibration_table(probabilities, labels, bins=bins)
    return round(
        sum(row["questions"] * abs(row["mean_probability"] - row["suitable"]) for row in table) / len(labels),
        3,
    )


def brier_score(probabilities: Sequence[float], labels: Sequence[bool]) -> float:
    """Mean squared error of the probabilities (0 is perfect; always saying the base rate gives p(1-p))."""
    return round(
        sum((p - float(y)) ** 2 for p, y in zip(probabilities, labels, strict=True)) / len(labels), 3
    )


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


def training_data() -> dict[str, tuple[list[str], list[bool]]]:
    """The labelled questions each shipped classifier is trained on.

    `skeleton`: :func:`labelled_questions` (the project's set and Vicuna-80). `tools`:
    ParallelQA's 113 questions and HotpotQA's first 113 (need facts: positive) against
    Vicuna-80 (no).
    """
    from llmcompiler_bench.datasets import load_dataset

    questions = labelled_questions()
    open_ended = [q.question for q in questions if q.source == "vicuna"]
    factual = [q.question for q in load_dataset("parallelqa")] + [
        q.question for q in load_dataset("hotpotqa", 113)
    ]
    return {
        "skeleton": ([q.question for q in questions], [q.suitable for q in questions]),
        "tools": (factual + open_ended, [True] * len(factual) + [False] * len(open_ended)),
    }


def skeleton_validation(
    train: Callable[[Sequence[str], Sequence[bool]], Callable[[str], float]] = _train_skeleton,
) -> dict[str, Any]:
    """Held-out figures of a skeleton classifier: per scheme, at one half and at the chosen thresholds."""
    questions = labelled_questions()
    texts = [q.question for q in questions]
    labels = [q.suitable for q in questions]
    own = [i for i, q in enumerate(questions) if q.source != "vicuna"]
    schemes = {
        "leave-one-source-out": (list(range(len(questions))), [q.source for q in questions]),
        "leave-one-category-out": (own, [questions[i].category for i in own]),
    }
    probabilities: dict[str, list[float]] = {}
    for scheme, (indices, groups) in schemes.items():
        probabilities[scheme] = held_out_probabilities(
            [texts[i] for i in indices], [labels[i] for i in indices], groups, train
        )
    source_labels = labels
    skeleton_at, direct_at = choose_thresholds(probabilities["leave-one-source-out"], source_labels)
    report: dict[str, Any] = {"skeleton_at": skeleton_at, "direct_at": direct_at, "schemes": {}}
    vicuna = [i for i, q in enumerate(questions) if q.source == "vicuna"]
    views = {
        "leave-one-source-out": (probabilities["leave-one-source-out"], labels),
        "leave-one-category-out": (probabilities["leave-one-category-out"], [labels[i] for i in own]),
        "vicuna-80 (trained without it)": (
            [probabilities["leave-one-source-out"][i] for i in vicuna],
            [labels[i] for i in vicuna],
        ),
    }
    category_probabilities = probabilities["leave-one-category-out"]
    report["held_out_categories"] = {
        category: decision_figures(
            [category_probabilities[k] for k, i in enumerate(own) if questions[i].category == category],
            [labels[i] for i in own if questions[i].category == category],
            skeleton_at=skeleton_at,
            direct_at=direct_at,
        )
        for category in sorted({questions[i].category for i in own})
    }
    for name, (scheme_probabilities, scheme_labels) in views.items():
        report["schemes"][name] = {
            "questions": len(scheme_labels),
            "suitable": sum(scheme_labels),
            "at_one_half": decision_figures(scheme_probabilities, scheme_labels),
            "shipped": decision_figures(
                scheme_probabilities, scheme_labels, skeleton_at=skeleton_at, direct_at=direct_at
            ),
            "shipped_at_base_rate": decision_figures(
                scheme_probabilities,
                scheme_labels,
                skeleton_at=skeleton_at,
                direct_at=direct_at,
                base_rate=DEPLOYMENT_BASE_RATE,
            ),
            "calibration": calibration_table(scheme_probabilities, scheme_labels),
            "calibration_error": calibration_error(scheme_probabilities, scheme_labels),
            "brier": brier_score(scheme_probabilities, scheme_labels),
        }
    return report


def _print_validation(title: str, report: dict[str, Any]) -> None:
    print(f"\n{title}: thresholds skeleton >= {report['skeleton_at']}, direct <= {report['direct_at']}")
    print(
        "| validation | questions (suitable) | rule | accuracy | majority | precision | recall | abstains |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, scheme in report["schemes"].items():
        for rule in ("at_one_half", "shipped", "shipped_at_base_rate"):
            f = scheme[rule]
            print(
                f"| {name} | {scheme['questions']} ({scheme['suitable']}) | {rule} | {f['accuracy']:.3f} "
                f"| {f['majority_accuracy']:.3f} | {f['precision']:.3f} | {f['recall']:.3f} "
                f"| {f['abstention']:.3f} |"
            )
    print(
        "each kind of request when left out (accuracy, said skeleton): "
        + ", ".join(
            f"{category} {f['accuracy']:.2f}/{f['said_skeleton']:.2f}"
            for category, f in report["held_out_categories"].items()
        )
    )
    for name, scheme in report["schemes"].items():
        bins = ", ".join(
            f"[{row['from']:.1f}, {row['to']:.1f}): {row['questions']} q, p {row['mean_probability']:.2f}"
            f" vs {row['suitable']:.2f}"
            for row in scheme["calibration"]
        )
        print(
            f"calibration, {name}: ECE {scheme['calibration_error']:.3f}, Brier {scheme['brier']:.3f}; {bins}"
        )


def _embedding_trainer(
    *, threads: int = 1
) -> Callable[[Sequence[str], Sequence[bool]], Callable[[str], float]]:
    """A logistic regression over the local model's mean-pooled embeddings (for comparison only)."""
    import numpy as np
    from llama_cpp import Llama

    from llmcompiler_graph.local.model import default_model_path

    model = Llama(
        model_path=str(default_model_path()),
        embedding=True,
        n_ctx=512,
        verbose=False,
        pooling_type=1,
        n_threads=threads,
    )
    cache: dict[str, Any] = {}

    def embed(text: str) -> Any:
        if text not in cache:
            cache[text] = np.asarray(model.embed(text), dtype=float).reshape(-1)
        return cache[text]

    def train(texts: Sequence[str], labels: Sequence[bool]) -> Callable[[str], float]:
        matrix = np.stack([embed(t) for t in texts])
        mean, spread = matrix.mean(0), matrix.std(0) + 1e-6
        matrix = (matrix - mean) / spread
        target = np.array([1.0 if label else 0.0 for label in labels])
        weights, bias = np.zeros(matrix.shape[1]), 0.0
        for _ in range(600):
            error = 1.0 / (1.0 + np.exp(-(matrix @ weights + bias))) - target
            weights -= 0.5 * (matrix.T @ error / len(texts) + 10.0 * weights / len(texts))
            bias -= 0.5 * float(error.mean())
        return lambda text: float(1.0 / (1.0 + math.exp(-(((embed(text) - mean) / spread) @ weights + bias))))

    return train


def measure_prompted_router(*, threads: int = 1) -> dict[str, Any]:
    """The prompted router on the embedded local model: its verdicts on every labelled question."""
    from llmcompiler_graph.local.model import load_local_model
    from llmcompiler_graph.sot.router import prompted_route

    model = load_local_model(max_tokens=4, n_threads=threads)
    questions = labelled_questions()
    started = time.perf_counter()

    async def run() -> list[str]:
        return [await prompted_route(model, q.question, tools_available=False) for q in questions]

    modes = asyncio.run(run())
    seconds = time.perf_counter() - started
    report: dict[str, Any] = {"seconds_per_question": round(seconds / len(questions), 3), "schemes": {}}
    for name, from_vicuna in (("project's questions", False), ("vicuna-80", True)):
        chosen = [
            (m, q) for m, q in zip(modes, questions, strict=True) if (q.source == "vicuna") == from_vicuna
        ]
        said = [1.0 if m == "skeleton" else 0.0 for m, _ in chosen]
        labels = [q.suitable for _, q in chosen]
        report["schemes"][name] = {
            "questions": len(labels),
            "suitable": sum(labels),
            "figures": decision_figures(said, labels),
            "figures_at_base_rate": decision_figures(said, labels, base_rate=DEPLOYMENT_BASE_RATE),
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Retrain, print held-out figures, and with `--write` ship weights, thresholds and figures."""
    parser = argparse.ArgumentParser(prog="python -m llmcompiler_bench.router_training")
    parser.add_argument(
        "--write", action="store_true", help="write llmcompiler_graph/data/router_weights.json"
    )
    parser.add_argument(
        "--prompted", action="store_true", help="also measure the prompted router (local model)"
    )
    parser.add_argument(
        "--embeddings", action="store_true", help="also validate a local-model embedding classifier"
    )
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads for the local model")
    args = parser.parse_args(argv)

    data = training_data()
    questions = labelled_questions()
    print(
        f"skeleton: {len(questions)} labelled questions ({sum(q.suitable for q in questions)} suitable; "
        f"{sum(q.source != 'vicuna' for q in questions)} the project's own, 80 Vicuna-80)"
    )
    report = skeleton_validation()
    _print_validation("word, word-pair and question-form features (shipped)", report)
    vicuna = [q for q in questions if q.source == "vicuna"]
    own = [q for q in questions if q.source != "vicuna"]
    vicuna_only = train_classifier([q.question for q in vicuna], [q.suitable for q in vicuna])
    f = decision_figures([vicuna_only.probability(q.question) for q in own], [q.suitable for q in own])
    print(
        f"\nbefore issue #17 (trained on Vicuna-80 alone), on the project's {len(own)} questions: accuracy "
        f"{f['accuracy']:.3f} (majority {f['majority_accuracy']:.3f}), precision {f['precision']:.3f}, "
        f"recall {f['recall']:.3f}"
    )
    if args.embeddings:
        _print_validation(
            "local-model embeddings (Gemma 3 270M, mean-pooled)",
            skeleton_validation(_embedding_trainer(threads=args.threads)),
        )
    if args.prompted:
        prompted = measure_prompted_router(threads=args.threads)
        print(f"\nprompted router on the local model ({prompted['seconds_per_question']} s per question):")
        for name, scheme in prompted["schemes"].items():
            for rule in ("figures", "figures_at_base_rate"):
                f = scheme[rule]
                print(
                    f"  {name} ({scheme['questions']}, {scheme['suitable']} suitable) {rule}: accuracy "
                    f"{f['accuracy']:.3f} (majority {f['majority_accuracy']:.3f}), "
                    f"precision {f['precision']:.3f}, recall {f['recall']:.3f}, "
                    f"said skeleton {f['said_skeleton']:.3f}"
                )
    tools_texts, tools_labels = data["tools"]
    tools_figures = cross_validate(tools_texts, tools_labels)
    t = tools_figures
    print(
        f"\ntools: {t['examples']} questions ({t['positives']} positive); 10-fold CV x5: "
        f"accuracy {t['accuracy']:.3f} (majority class {t['majority_accuracy']:.3f}), "
        f"precision {t['precision']:.3f}, recall {t['recall']:.3f}"
    )
    if args.write:
        skeleton = train_classifier(*data["skeleton"], l2=SKELETON_L2)
        tools = train_classifier(tools_texts, tools_labels)
        shipped = {
            "classifiers": {
                "skeleton": {"weights": skeleton.weights, "bias": skeleton.bias},
                "tools": {"weights": tools.weights, "bias": tools.bias},
            },
            "thresholds": {
                "skeleton": {"skeleton_at": report["skeleton_at"], "direct_at": report["direct_at"]}
            },
            "validation": {"skeleton": report, "tools": tools_figures},
        }
        target = Path(str(files("llmcompiler_graph").joinpath("data/router_weights.json")))
        target.write_text(json.dumps(shipped, indent=1, sort_keys=True) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
