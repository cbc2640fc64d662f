"""The `bench` and `report` subcommands of `llmcompiler-graph`.

The command line finds them through the `llmcompiler_graph.commands` entry points
(benchmarks/pyproject.toml): the package never imports the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from langchain_core.language_models import LanguageModelLike
from langchain_core.tools import BaseTool

from llmcompiler_graph.tools import build_tools

if TYPE_CHECKING:
    from llmcompiler_bench.datasets import BenchQuestion
    from llmcompiler_bench.runner import BenchSettings, SystemRun

__all__ = [
    "BENCH_COMMAND",
    "REPORT_COMMAND",
    "add_bench_commands",
    "dataset_tools",
    "run_bench_command",
    "run_report_command",
]

EXIT_USAGE, EXIT_NO_MODEL, EXIT_INTERRUPTED = 2, 3, 130
"""The command line's exit codes for bad setup, no model, and an interrupted run."""


@dataclass(frozen=True)
class _Subcommand:
    """A subcommand of `llmcompiler-graph` (a :class:`llmcompiler_graph.cli.Subcommand`)."""

    add_parser: Callable[[Any, str], None]
    """Adds the subcommand, under the given name, to the command line's subparsers."""
    run: Callable[[argparse.Namespace, TextIO, LanguageModelLike | None], int]
    """Runs it on the parsed arguments, the output stream and the injected model (if any)."""


def _add_bench_parser(commands: Any, name: str = "bench") -> None:
    from llmcompiler_bench.datasets import DATASETS
    from llmcompiler_bench.runner import SYSTEMS

    bench = commands.add_parser(
        name,
        help="run a benchmark dataset through a system (resumable JSONL output)",
        description="Run the paper's evaluation. Rows are appended to --out as questions finish; "
        "questions already in the file are skipped, so an interrupted run resumes.",
    )
    bench.add_argument("--dataset", required=True, choices=DATASETS)
    bench.add_argument("--system", required=True, choices=SYSTEMS)
    bench.add_argument(
        "--model",
        default=None,
        help="'provider:model', 'local' (embedded Gemma 3 270M) or 'replay' (offline replay of "
        "recorded plans with GPT-3.5-class timing); default as for `ask`",
    )
    bench.add_argument("--n", type=int, default=None, help="first N questions (default: all; replay: 5)")
    bench.add_argument("--out", type=Path, required=True, help="JSONL file the rows are appended to")
    bench.add_argument(
        "--concurrency", type=int, default=None, help="questions at once (default 4; 1 offline)"
    )
    bench.add_argument("--max-replans", type=int, default=2)
    bench.add_argument("--timeout", type=float, default=600.0, help="seconds per question before it fails")
    bench.add_argument("--search", choices=["wikipedia", "local"], default=None,
                       help="search tool (default: wikipedia; local for --dataset demo)")  # fmt: skip
    bench.add_argument("--corpus", type=Path, help="documents for --search local (default: demo corpus)")
    bench.add_argument("--prices", type=Path, help='JSON {"model": [input, output]} USD per million tokens')
    bench.add_argument("--retry-errors", action="store_true", help="run again questions that failed before")
    bench.add_argument("--time-scale", type=float, default=1.0, help="replay: multiply every latency")


def _add_report_parser(commands: Any, name: str = "report") -> None:
    report = commands.add_parser(name, help="print the paper's table and save plots from result files")
    report.add_argument("results", nargs="+", type=Path)
    report.add_argument("--plots", type=Path, default=Path("bench-plots"), help="folder for the PNG plots")
    report.add_argument("--no-plots", action="store_true")


def add_bench_commands(commands: Any) -> None:
    """Add `bench` and `report` to the command line's subparsers."""
    _add_bench_parser(commands)
    _add_report_parser(commands)


def dataset_tools(
    dataset: str, model: LanguageModelLike, search: str | None, corpus: Path | None
) -> list[BaseTool]:
    """The paper's tools per dataset: search everywhere, math for ParallelQA and the demo set."""
    chosen = search or ("local" if dataset == "demo" else "wikipedia")
    search_tool, math_tool = build_tools(chosen, corpus, model)
    return [search_tool] if dataset in ("hotpotqa", "movie") else [search_tool, math_tool]


def _progress_bar(out: TextIO, total: int) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
    )
    bar.add_task("questions", total=total)
    return bar


def run_bench_command(args: argparse.Namespace, out: TextIO, model: LanguageModelLike | None = None) -> int:
    """Run `llmcompiler-graph bench`; returns the exit code.

    2 when the bench's dependencies are missing (before any model is loaded), or on bad options,
    model setup or files; 3 when no model is available; 1 when every question that ran
    failed; 130 when interrupted (the finished questions are already in the output file);
    else 0.
    """
    from llmcompiler_bench.runner import MissingBenchExtraError, check_bench_dependencies
    from llmcompiler_graph.chat_models import NoModelError

    try:
        check_bench_dependencies()
        settings, questions, run = _bench_setup(args, model)
        print(
            f"{args.system} on {args.dataset} ({len(questions)} questions) with {settings.model}; "
            f"rows go to {args.out}",
            file=out,
        )
        rows = _run_with_progress(settings, run, questions, out)
        return _report_rows(rows, len(questions), args.out, out)
    except MissingBenchExtraError as error:
        return _fail(error, EXIT_USAGE)
    except NoModelError as error:
        return _fail(error, EXIT_NO_MODEL)
    except (ValueError, OSError) as error:  # bad combination, model setup (ModelSetupError), bad file
        return _fail(error, EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _fail(error: Exception, code: int) -> int:
    print(f"llmcompiler-graph: {error}", file=sys.stderr)
    return code


def _bench_setup(
    args: argparse.Namespace, model: LanguageModelLike | None
) -> tuple[BenchSettings, Sequence[BenchQuestion], SystemRun]:
    """The run's settings, its questions and the system that answers them (the model loaded if needed)."""
    from llmcompiler_bench.datasets import load_dataset
    from llmcompiler_bench.prices import load_prices
    from llmcompiler_bench.runner import (
        BenchSettings,
        make_replay_system,
        make_system,
        replay_questions,
    )
    from llmcompiler_graph.chat_models import describe_model, resolve_model

    offline = args.model in ("replay", "local") or (args.model is None and model is None)
    settings = BenchSettings(
        dataset=args.dataset,
        system=args.system,
        model=args.model or "default",
        output=args.out,
        n=args.n,
        concurrency=args.concurrency or (1 if offline else 4),
        max_replans=args.max_replans,
        question_timeout=args.timeout,
        prices=load_prices(args.prices),
        retry_errors=args.retry_errors,
    )
    if args.model == "replay":
        questions = replay_questions(args.dataset, args.n)
        run = make_replay_system(args.system, args.dataset, args.n, time_scale=args.time_scale)
        return settings, questions, run
    chosen = model if model is not None else resolve_model(args.model)
    if args.model is None:
        settings.model = "local" if "local" in describe_model(chosen) else describe_model(chosen)
    questions = load_dataset(args.dataset, args.n)
    tools = dataset_tools(args.dataset, chosen, args.search, args.corpus)
    run = make_system(args.system, args.dataset, chosen, tools, max_replans=args.max_replans)
    return settings, questions, run


def _run_with_progress(
    settings: BenchSettings, run: SystemRun, questions: Sequence[BenchQuestion], out: TextIO
) -> list[dict[str, Any]]:
    """Run the questions, printing a line per finished question (under a progress bar in a terminal)."""
    from llmcompiler_bench.runner import run_benchmark

    bar = _progress_bar(out, len(questions)) if out.isatty() else None

    def progress(row: dict[str, Any], finished: int, total: int) -> None:
        verdict = (
            "FAILED " + str(row["error"])[:80] if row["error"] else ("correct" if row["correct"] else "wrong")
        )
        line = f"[{finished}/{total}] {row['qid']}: {row['latency_s']:.2f} s, {verdict}"
        if bar is not None:
            bar.console.print(line, markup=False, highlight=False)
            bar.update(bar.task_ids[0], completed=finished, total=total)
        else:
            print(line, file=out, flush=True)

    if bar is not None:
        bar.start()
    try:
        return asyncio.run(run_benchmark(settings, run, questions=questions, progress=progress))
    finally:
        if bar is not None:
            bar.stop()


def _report_rows(rows: list[dict[str, Any]], asked: int, output: Path, out: TextIO) -> int:
    """Print what ran; 1 when every question that ran failed, else 0."""
    failed = sum(1 for r in rows if r["error"])
    print(
        f"ran {len(rows)} questions ({failed} failed), skipped {asked - len(rows)} already in {output}",
        file=out,
    )
    if rows and failed == len(rows):
        print(
            f"llmcompiler-graph: every question failed; first error: {str(rows[0]['error'])[:200]}",
            file=sys.stderr,
        )
        return 1
    return 0


def run_report_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run `llmcompiler-graph report`; returns the exit code."""
    from llmcompiler_bench.report import (
        format_plan_statistics,
        format_report,
        load_rows,
        save_plots,
        summarize_rows,
    )

    missing = [str(p) for p in args.results if not p.exists()]
    if missing:
        print(f"llmcompiler-graph: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not args.no_plots:
        try:
            import matplotlib.figure  # noqa: F401
        except ImportError:
            print(
                "llmcompiler-graph: the plots need matplotlib (a dependency of the bench): "
                "pip install -e ./benchmarks, or pass --no-plots",
                file=sys.stderr,
            )
            return 2
    rows = load_rows(args.results)
    if not rows:
        print("llmcompiler-graph: the files hold no results", file=sys.stderr)
        return 1
    print(format_report(summarize_rows(rows)), file=out)
    if plan_statistics := format_plan_statistics(rows):
        print("\nLLMCompiler's plans:\n" + plan_statistics, file=out)
    if not args.no_plots:
        for path in save_plots(rows, args.plots):
            print(f"saved {path}", file=out)
    return 0


BENCH_COMMAND = _Subcommand(_add_bench_parser, run_bench_command)
"""`llmcompiler-graph bench` (the `bench` entry point)."""
REPORT_COMMAND = _Subcommand(_add_report_parser, lambda args, out, model: run_report_command(args, out))
"""`llmcompiler-graph report` (the `report` entry point)."""
