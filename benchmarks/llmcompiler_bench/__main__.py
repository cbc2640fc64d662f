"""`python -m llmcompiler_bench`: the offline replay benchmark and the overhead curve.

Examples:
    python -m llmcompiler_bench                 # both, default sizes
    python -m llmcompiler_bench replay --questions 10 --output results.json
    python -m llmcompiler_bench overhead
    python -m llmcompiler_bench load --runs 200
    python -m llmcompiler_bench sot             # Skeleton-of-Thought vs plain vs router
    python -m llmcompiler_bench durable         # what a SQLite checkpointer costs, eager or not
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from llmcompiler_bench.load import run_load
from llmcompiler_bench.overhead import format_overhead, run_overhead_benchmark
from llmcompiler_bench.replay import main_replay


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m llmcompiler_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument(
        "which", nargs="?", choices=["all", "replay", "overhead", "load", "sot", "durable"], default="all"
    )
    parser.add_argument("--runs", type=int, default=200, help="concurrent runs for the load benchmark")
    parser.add_argument("--questions", type=int, default=5, help="dataset questions per workload (default 5)")
    parser.add_argument(
        "--sot-questions",
        type=int,
        default=None,
        help="Vicuna-80 questions for the SoT benchmark (default all)",
    )
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiply every latency (default 1.0)")
    parser.add_argument("--workloads", nargs="*", help="HotpotQA Movie ParallelQA Synthetic (default: all)")
    parser.add_argument(
        "--output", type=Path, default=Path("benchmark-results.json"), help="JSON output file"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[10, 100, 1000, 5000], help="overhead plan sizes"
    )
    args = parser.parse_args(argv)
    report: dict[str, object] = {}
    if args.which in ("all", "replay"):
        print(
            "Replay benchmark: every system runs the same tool calls on a replayed GPT-3.5-class model "
            "(no network, no API key).\n"
        )
        report["replay"] = main_replay(args.questions, args.time_scale, None, args.workloads)
    if args.which in ("all", "overhead"):
        print("\nOverhead: plans of N independent no-op tasks, streamed, parsed and run through the graph.\n")
        rows = asyncio.run(run_overhead_benchmark(args.sizes))
        print(format_overhead(rows))
        report["overhead"] = rows
    if args.which in ("all", "load"):
        print(f"\nLoad: {args.runs} concurrent runs on one compiled graph, random latencies and failures.\n")
        load = asyncio.run(run_load(args.runs))
        print(
            f"{load['runs']} runs in {load['seconds']:.2f} s = {load['runs_per_second']:.1f} runs/s "
            f"({load['tool_calls']} tool calls, {load['failed_tool_calls_injected']} injected failures); "
            f"lost {load['lost']}, wrong or crossed {load['wrong_or_crossed']}; "
            f"peak RSS {load['peak_rss_mib']:.0f} MiB "
            f"(+{load['peak_rss_growth_mib']:.0f} MiB during the runs)"
        )
        report["load"] = load
    if args.which in ("all", "sot"):
        from llmcompiler_bench.sot_replay import main_sot

        print("\nSkeleton-of-Thought: Vicuna-80 through plain decoding, SoT, eager SoT and the router.\n")
        report["sot"] = main_sot(args.sot_questions, args.time_scale)
    if args.which in ("all", "durable"):
        from llmcompiler_bench.durable import format_durable_table, run_durable_benchmark
        from llmcompiler_bench.replay_model import GPT35_CLASS

        print(
            "\nDurability: eager dispatch without a checkpointer, and with SQLite (eager='auto' and True).\n"
        )
        durable_rows = asyncio.run(
            run_durable_benchmark(
                args.questions, GPT35_CLASS.scaled(args.time_scale), args.time_scale, args.workloads
            )
        )
        print()
        print(format_durable_table(durable_rows))
        report["durable"] = durable_rows
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
