"""`llmcompiler-graph ask "question"`: run the agent from a terminal.

Shows the plan as it streams, each task as it starts and finishes (with timing), the
joiner's decision and the answer: coloured in a terminal, plain text when piped, one
JSON object with `--json`.

`llmcompiler-graph bench` runs the paper's evaluation (resumable JSONL rows) and
`llmcompiler-graph report` prints its table and saves plots. They are plug-ins: every
entry point of the `llmcompiler_graph.commands` group (the benchmark's own distribution,
benchmarks/pyproject.toml, declares them) adds a subcommand, so the command line never
imports the benchmark itself.

Exit codes: 0 answered (bench: at least one question ran or none was left to run); 1 the
run failed; 2 bad command line or setup (the model's API key unset, its integration package
or the bench's dependencies missing); 3 no model available; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, TextIO, cast

from langchain_core.language_models import LanguageModelLike

from llmcompiler_graph.chat_models import NoModelError, describe_model, resolve_model
from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.nodes import PLANNER_NODE
from llmcompiler_graph.plan.parser import to_text
from llmcompiler_graph.tools import build_tools

__all__ = [
    "COMMANDS_GROUP",
    "EXIT_FAILED",
    "EXIT_NO_MODEL",
    "EXIT_OK",
    "EXIT_USAGE",
    "Subcommand",
    "build_tools",
    "main",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_MODEL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

COMMANDS_GROUP = "llmcompiler_graph.commands"
"""Entry-point group of subcommand plug-ins; each entry point's name is its subcommand."""


class Subcommand(Protocol):
    """What a `llmcompiler_graph.commands` entry point names (e.g. `bench`, `report`)."""

    def add_parser(self, commands: Any, name: str, /) -> None:
        """Add the subcommand under `name` to the command line's subparsers."""

    def run(self, args: argparse.Namespace, out: TextIO, model: LanguageModelLike | None, /) -> int:
        """Run it on the parsed arguments; `model` is the one given to :func:`main`, if any."""


def _subcommands() -> dict[str, Subcommand]:
    """The installed subcommand plug-ins, by name (`ask` is built in and cannot be replaced)."""
    found = sorted(entry_points(group=COMMANDS_GROUP), key=lambda entry: entry.name)
    return {entry.name: cast(Subcommand, entry.load()) for entry in found if entry.name != "ask"}


def _parser(subcommands: dict[str, Subcommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcompiler-graph", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument(
        "--model",
        help="'provider:model', or 'local' for the embedded Gemma 3 270M "
        "(default: openai:gpt-4o-mini when OPENAI_API_KEY is set, else the local model)",
    )
    ask.add_argument(
        "--search",
        choices=["local", "wikipedia"],
        default="local",
        help="search tool: offline index (default) or Wikipedia (needs the network)",
    )
    ask.add_argument(
        "--corpus",
        type=Path,
        help="folder of .txt/.md files or a .jsonl file for --search local (default: demo corpus)",
    )
    ask.add_argument("--max-replans", type=int, default=2)
    ask.add_argument(
        "--eager",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start tasks while the plan streams (default: on)",
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of live output")
    ask.add_argument("--plain", action="store_true", help="no colours even in a terminal")
    for name, subcommand in subcommands.items():
        subcommand.add_parser(commands, name)
    return parser


_ERASE_LINE = "\r\x1b[K"
"""Back to the start of the line and clear it (ANSI), to redraw an unfinished plan line."""


class _Printer:
    """Live output: rich when writing to a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO, fancy: bool) -> None:
        self.out = out
        self.console: Any = None
        if fancy:
            try:
                from rich.console import Console

                self.console = Console(file=out, highlight=False)
            except ImportError:  # rich is a dependency, but stay usable without it
                self.console = None
        self.start = time.perf_counter()
        self.plan_open = False
        self.partial_plan_line = ""
        """Streamed plan text after the last newline: shown live in a terminal, held back
        when piped, so task lines printed meanwhile never split a plan line."""

    def _line(self, text: str, style: str = "") -> None:
        if self.console is not None and self.partial_plan_line:
            self.out.write(_ERASE_LINE)  # take the unfinished plan line off the screen
        if self.console is not None:
            self.console.print(text, style=style or None, markup=False)
        else:
            self.out.write(text + "\n")
        if self.console is not None and self.partial_plan_line:
            self.out.write(self.partial_plan_line)  # and put it back below
        self.out.flush()

    def header(self, model_name: str, question: str) -> None:
        self._line(f"Model: {model_name}", "dim")
        self._line(f"Question: {question}", "bold")

    def clock(self) -> str:
        return f"[{time.perf_counter() - self.start:6.2f}s]"

    def plan_token(self, text: str) -> None:
        if not self.plan_open:
            self._line("Plan (streaming):", "bold")
            self.plan_open = True
        *complete, self.partial_plan_line = (self.partial_plan_line + text).split("\n")
        if self.console is not None:
            shown = _ERASE_LINE + "".join(line + "\n" for line in complete) + self.partial_plan_line
            self.out.write(shown)
        else:
            self.out.write("".join(line + "\n" for line in complete))
        self.out.flush()

    def end_plan(self) -> None:
        if self.partial_plan_line:
            line, self.partial_plan_line = self.partial_plan_line, ""
            self.out.write((_ERASE_LINE if self.console is not None else "") + line + "\n")
            self.out.flush()
        self.plan_open = False

    def event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "plan_finished":
            self.end_plan()
            for issue in event["issues"]:
                self._line(f"{self.clock()} plan issue: {issue}", "yellow")
        elif kind == "task_started":
            self._line(
                f"{self.clock()} start  ${event['idx']} {event['tool']}({json.dumps(event['args'])})", "cyan"
            )
        elif kind == "task_finished":
            outcome = to_text(event["result"]) if event["status"] == "done" else event["error"]
            took = f" in {event['duration']:.2f}s" if event["duration"] is not None else ""
            style = "green" if event["status"] == "done" else "red"
            self._line(
                f"{self.clock()} {event['status']:<6} ${event['idx']}{took}: {str(outcome)[:200]}", style
            )
        elif kind == "joiner_decision":
            self._line(f"{self.clock()} joiner: {event['action']} ({event['content'][:200]})", "magenta")

    def answer(self, text: str) -> None:
        self.end_plan()
        self._line(f"\nAnswer: {text}", "bold green")


async def _ask(args: argparse.Namespace, model: LanguageModelLike, out: TextIO) -> int:
    graph = create_llmcompiler(
        model,
        build_tools(args.search, args.corpus, model),
        max_replans=args.max_replans,
        eager=args.eager,
        stream_protocol=True,  # the plan is shown live as it streams
    ).compile()
    printer = None if args.json else _Printer(out, fancy=out.isatty() and not args.plain)
    events: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    started = time.perf_counter()
    stream = graph.astream(
        {"messages": [("user", args.question)]}, stream_mode=["custom", "messages", "values"]
    )
    if printer is not None:
        printer.header(describe_model(model), args.question)
    async for mode, item in stream:
        payload: Any = item
        if mode == "custom":
            events.append(payload)
            if printer is not None:
                printer.event(payload)
        elif mode == "messages":
            chunk, metadata = payload
            if (
                printer is not None
                and metadata.get("langgraph_node") == PLANNER_NODE
                and chunk.type == "AIMessageChunk"
            ):
                printer.plan_token(chunk.text)
        else:
            final = payload
    answer = str(final["messages"][-1].content)
    if args.json:
        tasks = list(final.get("tasks", {}).values())
        json.dump(
            {
                "question": args.question,
                "answer": answer,
                "seconds": time.perf_counter() - started,
                "tasks": tasks,
                "plan_issues": final.get("plan_issues", []),
                "replans": final.get("replans", 0),
                "events": events,
            },
            out,
            default=str,
        )
        out.write("\n")
    elif printer is not None:
        printer.answer(answer)
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None, *, model: LanguageModelLike | None = None, out: TextIO | None = None
) -> int:
    """Entry point of `llmcompiler-graph`; `model` and `out` let tests and embedders inject their own."""
    stream = out or sys.stdout
    subcommands = _subcommands()
    try:
        args = _parser(subcommands).parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    if args.command in subcommands:
        return subcommands[args.command].run(args, stream, model)
    try:
        chosen = model if model is not None else resolve_model(args.model)
    except NoModelError as error:
        print(f"llmcompiler-graph: {error}", file=sys.stderr)
        return EXIT_NO_MODEL
    except (ValueError, OSError) as error:  # bad combination, model setup (ModelSetupError), bad file
        print(f"llmcompiler-graph: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    try:
        return asyncio.run(_ask(args, chosen, stream))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # reported, with a meaningful exit code
        print(f"llmcompiler-graph: the run failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
