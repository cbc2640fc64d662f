"""End-to-end example: `python -m llmcompiler_graph.demo`.

Without `--model` the planner and joiner are a :class:`ScriptedChatModel` (no LLM is
called; the run says so when it prints). The tools really run, in parallel, and the
scripted joiner reads their actual observations. With `--model provider:name` (for
example `openai:gpt-4o-mini` and `OPENAI_API_KEY` set) a real model plans and joins.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from typing import Any, cast

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import BaseMessage

from llmcompiler_graph.events import LLMCompilerEvent
from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

__all__ = ["main", "run_demo"]

QUESTION = "How much taller is Mount Everest than K2?"

_HEIGHTS_M = {"mount everest": 8849, "k2": 8611, "kangchenjunga": 8586, "lhotse": 8516}

SCRIPTED_PLAN = """\
Thought: I need both heights, then their difference.
1. height_of("Mount Everest")
2. height_of("K2")
3. subtract($1, $2)
4. join()<END_OF_PLAN>
"""


async def height_of(mountain: str) -> float:
    """Height of a mountain in metres, from a small built-in table (8000-ers only)."""
    await asyncio.sleep(0.3)  # stands in for a network lookup
    height = _HEIGHTS_M.get(mountain.strip().lower())
    if height is None:
        msg = f"no height known for {mountain!r}; known: {', '.join(_HEIGHTS_M)}"
        raise LookupError(msg)
    return float(height)


def subtract(a: float, b: float) -> float:
    """Return a - b."""
    return a - b


def _scripted_joiner(messages: Sequence[BaseMessage]) -> str:
    """Answer from the real observation of task 3 in the joiner's prompt."""
    prompt = str(messages[-1].content)
    match = re.search(r"3\. subtract\(.*\)\nObservation: (.+)", prompt)
    if match is None:
        return "Thought: the difference is missing.\nAction: Finish(I could not compute the difference.)"
    metres = float(match.group(1))
    return f"Thought: the difference is known.\nAction: Finish(Mount Everest is {metres:g} m taller than K2.)"


def scripted_model() -> ScriptedChatModel:
    """The demo's stand-in for an LLM: one plan, one joiner decision."""
    return ScriptedChatModel(responses=[SCRIPTED_PLAN, _scripted_joiner], token_delay=0.01)


async def run_demo(model: LanguageModelLike, question: str = QUESTION) -> str:
    """Run the demo graph, printing the live events; return the answer."""
    graph = create_llmcompiler(model, [height_of, subtract]).compile()
    start = time.perf_counter()
    answer = ""
    async for mode, payload in graph.astream(
        {"messages": [("user", question)]}, stream_mode=["custom", "values"]
    ):
        if mode == "values":
            messages = cast(dict[str, Any], payload)["messages"]
            if messages and messages[-1].type == "ai":
                answer = str(messages[-1].content)
            continue
        event = cast(LLMCompilerEvent, payload)
        clock = f"[{time.perf_counter() - start:6.3f}s]"
        if event["type"] == "task_parsed":
            problem = f"  ERROR: {event['error']}" if event["error"] else ""
            print(f"{clock} planned  ${event['idx']} {event['tool']}({event['args']}){problem}")
        elif event["type"] == "task_started":
            print(f"{clock} started  ${event['idx']} {event['tool']}({event['args']})")
        elif event["type"] == "task_finished":
            outcome = event["result"] if event["status"] == "done" else event["error"]
            print(f"{clock} finished ${event['idx']} {event['status']}: {outcome}")
        elif event["type"] == "joiner_decision":
            print(f"{clock} joiner   {event['action']}: {event['content']}")
    print(f"\nQuestion: {question}\nAnswer:   {answer}")
    return answer


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="a 'provider:model' string; default: the scripted model")
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)
    model: LanguageModelLike | str
    if args.model:
        model = args.model
        print(f"Model: {args.model}\n")
    else:
        model = scripted_model()
        print(
            "Model: SCRIPTED (llmcompiler_graph.testing.ScriptedChatModel). No LLM is called: the plan\n"
            "is canned and the joiner's sentence is a template filled from the real tool results.\n"
            "The tools really run, in parallel. Use --model provider:name for a real model.\n"
        )
        if args.question != QUESTION:
            print("The scripted model only knows the default question; ignoring --question.\n")
            args.question = QUESTION
    if isinstance(model, str):
        from langchain.chat_models import init_chat_model

        model = init_chat_model(model)
    answer = asyncio.run(run_demo(model, args.question))
    return 0 if answer else 1


if __name__ == "__main__":
    sys.exit(main())
