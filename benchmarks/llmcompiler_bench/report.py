"""`llmcompiler-graph report`: the paper's table and plots from benchmark result files."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_plan_statistics", "format_report", "load_rows", "save_plots", "summarize_rows"]

_ORDER = {"llmcompiler": 0, "parallel-fc": 1, "react": 2}


def load_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every row of the files; for a question run more than once, the last row counts.

    Example:
        >>> load_rows([])
        []
    """
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run
            latest[(row["dataset"], row["system"], row["model"], str(row["qid"]))] = row
    return list(latest.values())


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def summarize_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (dataset, model, system), with ratios against ReAct on the same dataset and model.

    Accuracy counts failed questions as wrong; latency, calls, tokens and cost average the
    questions that completed. Speed-up, token and cost reduction compare mean values with
    ReAct's over the questions both systems completed.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["model"], row["system"])].append(row)
    summary = []
    for (dataset, model, system), group in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1], _ORDER.get(item[0][2], 9))
    ):
        ok = [r for r in group if not r.get("error")]
        costs = [r["cost_usd"] for r in ok if r.get("cost_usd") is not None]
        entry: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "system": system,
            "questions": len(group),
            "failed": len(group) - len(ok),
            "accuracy": sum(bool(r["correct"]) for r in group) / len(group),
            "mean_latency_s": _mean([r["latency_s"] for r in ok]),
            "median_latency_s": statistics.median([r["latency_s"] for r in ok]) if ok else None,
            "mean_llm_calls": _mean([r["llm_calls"] for r in ok]),
            "mean_input_tokens": _mean([r["input_tokens"] for r in ok]),
            "mean_output_tokens": _mean([r["output_tokens"] for r in ok]),
            "mean_cost_usd": _mean(costs) if len(costs) == len(ok) else None,
            "tokens_estimated": any(r.get("tokens_estimated") for r in ok),
        }
        react = {str(r["qid"]): r for r in groups.get((dataset, model, "react"), []) if not r.get("error")}
        paired = [r for r in ok if str(r["qid"]) in react]
        if system != "react" and paired:
            baseline = [react[str(r["qid"])] for r in paired]

            def mean_of(rows_: list[dict[str, Any]], *keys: str) -> float | None:
                values = [sum(r[k] or 0 for k in keys) for r in rows_]
                return _mean(values)

            entry.update(
                speedup_vs_react=_ratio(mean_of(baseline, "latency_s"), mean_of(paired, "latency_s")),
                token_reduction_vs_react=_ratio(
                    mean_of(baseline, "input_tokens", "output_tokens"),
                    mean_of(paired, "input_tokens", "output_tokens"),
                ),
                cost_reduction_vs_react=_ratio(mean_of(baseline, "cost_usd"), mean_of(paired, "cost_usd"))
                if all(r.get("cost_usd") is not None for r in paired + baseline)
                else None,
            )
        summary.append(entry)
    return summary


def _cell(value: float | None, template: str) -> str:
    return template.format(value) if value is not None else "n/a"


def format_report(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as the paper's table (Markdown), one row per dataset, model and system."""
    lines = [
        "| dataset | model | system | n | failed | accuracy | mean latency | median latency "
        "| speed-up vs ReAct | LLM calls | tokens in / out | cost per question | token reduction "
        "| cost reduction |",
        "|" + "---|" * 14,
    ]
    for s in summary:
        estimated = " (est.)" if s["tokens_estimated"] else ""
        lines.append(
            "| "
            + " | ".join(
                [
                    s["dataset"],
                    s["model"],
                    s["system"],
                    str(s["questions"]),
                    str(s["failed"]),
                    f"{100 * s['accuracy']:.1f}%",
                    _cell(s["mean_latency_s"], "{:.2f} s"),
                    _cell(s["median_latency_s"], "{:.2f} s"),
                    _cell(s.get("speedup_vs_react"), "{:.2f}x"),
                    _cell(s["mean_llm_calls"], "{:.1f}"),
                    f"{_cell(s['mean_input_tokens'], '{:.0f}')} / {_cell(s['mean_output_tokens'], '{:.0f}')}"
                    + estimated,
                    _cell(s["mean_cost_usd"], "${:.5f}"),
                    _cell(s.get("token_reduction_vs_react"), "{:.2f}x"),
                    _cell(s.get("cost_reduction_vs_react"), "{:.2f}x"),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def format_plan_statistics(rows: Sequence[dict[str, Any]]) -> str:
    """LLMCompiler's plans per dataset and model: parsed, tasks, failures, replans, plan issues."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["system"] == "llmcompiler" and not row.get("error") and "tasks" in row:
            groups[(row["dataset"], row["model"])].append(row)
    if not groups:
        return ""
    lines = [
        "| dataset | model | runs completed | first plan parsed into tasks | tasks (failed or skipped) "
        "| tool calls | replans | plan issues |",
        "|" + "---|" * 8,
    ]
    for (dataset, model), group in sorted(groups.items()):
        lines.append(
            f"| {dataset} | {model} | {len(group)} | {sum(r['first_plan_tasks'] > 0 for r in group)} "
            f"| {sum(r['tasks'] for r in group)} ({sum(r['tasks_failed'] for r in group)}) "
            f"| {sum(r['tool_calls'] for r in group)} | {sum(r['replans'] for r in group)} "
            f"| {sum(r['plan_issues'] for r in group)} |"
        )
    return "\n".join(lines)


def save_plots(rows: Sequence[dict[str, Any]], directory: Path) -> list[Path]:
    """Save latency distributions, speed-up against plan width, and tokens per question as PNG.

    One figure of each kind per (dataset, model). Needs matplotlib.
    """
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    by_run: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if not row.get("error"):
            by_run[(row["dataset"], row["model"])].append(row)
    written: list[Path] = []
    for (dataset, model), group in sorted(by_run.items()):
        systems = sorted({r["system"] for r in group}, key=lambda s: _ORDER.get(s, 9))
        stem = f"{dataset}-{model.replace(':', '_').replace('/', '_')}"

        figure = Figure(figsize=(6, 3.5), layout="constrained")
        axes = figure.subplots()
        axes.boxplot(
            [[r["latency_s"] for r in group if r["system"] == s] for s in systems], tick_labels=systems
        )
        axes.set_ylabel("latency (s)")
        axes.set_title(f"Latency per question: {dataset}, {model}")
        written.append(directory / f"{stem}-latency.png")
        figure.savefig(written[-1], dpi=110)

        react = {str(r["qid"]): r for r in group if r["system"] == "react"}
        points = [
            (r["width"], react[str(r["qid"])]["latency_s"] / r["latency_s"])
            for r in group
            if r["system"] == "llmcompiler" and str(r["qid"]) in react and r.get("width") and r["latency_s"]
        ]
        if points:
            figure = Figure(figsize=(6, 3.5), layout="constrained")
            axes = figure.subplots()
            axes.scatter([p[0] for p in points], [p[1] for p in points], alpha=0.6)
            axes.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
            axes.set_xlabel("plan width (most tasks that can run at once)")
            axes.set_ylabel("speed-up vs ReAct")
            axes.set_title(f"Speed-up against plan width: {dataset}, {model}")
            written.append(directory / f"{stem}-speedup-vs-width.png")
            figure.savefig(written[-1], dpi=110)

        figure = Figure(figsize=(6, 3.5), layout="constrained")
        axes = figure.subplots()
        means_in = [statistics.fmean(r["input_tokens"] for r in group if r["system"] == s) for s in systems]
        means_out = [statistics.fmean(r["output_tokens"] for r in group if r["system"] == s) for s in systems]
        axes.bar(systems, means_in, label="input")
        axes.bar(systems, means_out, bottom=means_in, label="output")
        axes.set_ylabel("tokens per question (mean)")
        axes.set_title(f"Tokens per question: {dataset}, {model}")
        axes.legend()
        written.append(directory / f"{stem}-tokens.png")
        figure.savefig(written[-1], dpi=110)
    return written
