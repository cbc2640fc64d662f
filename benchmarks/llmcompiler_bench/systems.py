"""The three systems of the benchmark, run on the same replayed model and tools.

For one :class:`~llmcompiler_bench.workloads.Question` every system does the same
work (the same tool calls, with the same observations and latencies) and ends with the
same answer; only how the calls are organised differs:

- **LLMCompiler**: one streamed plan of all calls, then one joiner call.
- **ReAct**: `langchain.agents.create_agent`, one tool call per model turn, tool errors
  returned to the model as messages (`ToolErrorMiddleware`, the v1 equivalent of
  `handle_tool_errors=True`).
- **Parallel function calling (PFC)**: the same agent, emitting every call whose inputs
  are known in one turn (one turn per dependency level).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.checkpoint.base import BaseCheckpointSaver

from llmcompiler_bench.replay_model import LatencyProfile, ReplayChatModel, count_tokens
from llmcompiler_bench.workloads import Question, Step
from llmcompiler_graph.graph.factory import create_llmcompiler
from llmcompiler_graph.plan.parser import substitute_references

__all__ = [
    "PFC_SYSTEM_PROMPT",
    "REACT_SYSTEM_PROMPT",
    "RunResult",
    "critical_path_limit",
    "run_llmcompiler",
    "run_pfc",
    "run_react",
]

REACT_SYSTEM_PROMPT = """\
Answer the user's question with the help of the tools. Work step by step: call one tool, \
read its result, then decide the next step. Tools:
 - search(query): looks a topic up in an encyclopedia and returns a short summary.
 - math(problem, context): solves a math problem; context holds the results it needs.
When you have enough information, reply with the final answer only.

Here is an example, for the question "What is the combined population of France and Germany, in millions?":
Thought: I need the population of France first. -> search("population of France")
Thought: Now the population of Germany. -> search("population of Germany")
Thought: Both are known; add them. -> math("add the two populations, in millions", [<both results>])
Final answer: the sum.
"""

PFC_SYSTEM_PROMPT = """\
Answer the user's question with the help of the tools. In each turn, call at once every \
tool whose inputs you already know; read the results, then make the calls that needed them. Tools:
 - search(query): looks a topic up in an encyclopedia and returns a short summary.
 - math(problem, context): solves a math problem; context holds the results it needs.
When you have enough information, reply with the final answer only.

Here is an example, for the question "What is the combined population of France and Germany, in millions?":
Turn 1: search("population of France") and search("population of Germany"), together.
Turn 2: math("add the two populations, in millions", [<both results>])
Final answer: the sum.
"""


@dataclass
class RunResult:
    """What one system did for one question."""

    system: str
    latency_s: float
    llm_calls: int
    input_tokens: int
    output_tokens: int
    tool_calls: int
    answer: str
    limit_s: float | None = None
    first_dispatch_delays_s: list[float] = field(default_factory=list)


class _Tools:
    """`search` and `math` tools that replay a question's observations after its latencies."""

    def __init__(self, question: Question, time_scale: float) -> None:
        self.calls = 0
        by_key: dict[tuple[str, str], Step] = {}
        for step in question.steps:
            key = step.args["query"] if step.tool == "search" else step.args["problem"]
            by_key[(step.tool, key)] = step

        async def replay(tool: str, key: str) -> str:
            step = by_key.get((tool, key))
            if step is None:
                msg = f"no replayed observation for {tool}({key!r})"
                raise LookupError(msg)
            self.calls += 1
            await asyncio.sleep(step.latency_s * time_scale)
            return step.observation

        async def search(query: str) -> str:
            return await replay("search", query)

        async def math(problem: str, context: list[str] | None = None) -> str:
            return await replay("math", problem)

        self.tools: list[BaseTool] = [
            StructuredTool.from_function(
                coroutine=search,
                name="search",
                description="Look a topic up in an encyclopedia; returns a short summary.",
            ),
            StructuredTool.from_function(
                coroutine=math,
                name="math",
                description="Solve a math problem. context: results of earlier actions that it needs.",
            ),
        ]


def _call_text(step: Step) -> str:
    args = (
        [json.dumps(step.args["query"])]
        if step.tool == "search"
        else [
            json.dumps(step.args["problem"]),
            json.dumps(step.args["context"]),
        ]
    )
    return f"{step.idx}. {step.tool}({', '.join(args)})"


def plan_text(question: Question) -> str:
    """The LLMCompiler plan for a question, in the paper's syntax."""
    lines = [_call_text(step) for step in question.steps]
    lines.append(f"{len(question.steps) + 1}. join()<END_OF_PLAN>")
    return "\n".join(lines)


def joiner_text(question: Question) -> str:
    """The joiner's completion for a question."""
    return f"Thought: The observations contain what the question needs.\nAction: Finish({question.answer})"


def _resolved_calls(question: Question) -> dict[int, dict[str, Any]]:
    observations = {s.idx: s.observation for s in question.steps}
    return {s.idx: substitute_references(s.args, observations) for s in question.steps}


def react_completions(question: Question) -> list[AIMessage]:
    """One tool call per turn, each with a one-line thought, then the answer."""
    resolved = _resolved_calls(question)
    turns = []
    for step in question.steps:
        subject = step.args.get("query") or step.args.get("problem")
        turns.append(
            AIMessage(
                content=f"Thought: next I need {step.tool} for {subject}.",
                tool_calls=[{"name": step.tool, "args": resolved[step.idx], "id": f"call_{step.idx}"}],
            )
        )
    turns.append(AIMessage(content=question.answer))
    return turns


def pfc_completions(question: Question) -> list[AIMessage]:
    """Every call of a dependency level in one turn, then the answer."""
    resolved = _resolved_calls(question)
    turns = [
        AIMessage(
            content="",
            tool_calls=[{"name": s.tool, "args": resolved[s.idx], "id": f"call_{s.idx}"} for s in level],
        )
        for level in question.levels()
    ]
    turns.append(AIMessage(content=question.answer))
    return turns


def critical_path_limit(
    question: Question,
    plan: str,
    planner_prompt_tokens: int,
    joiner_prompt_tokens: int,
    joiner_output_tokens: int,
    latency: LatencyProfile,
    time_scale: float,
) -> float:
    """Fastest possible end-to-end time for this plan with zero scheduling overhead.

    Each task starts when its plan line has been streamed and its dependencies are done;
    the joiner starts when the plan is complete and every task is done.
    """
    lines = plan.split("\n")
    line_end_token: dict[int, int] = {}
    for position, step in enumerate(question.steps):
        prefix = "\n".join(lines[: position + 1]) + "\n"
        line_end_token[step.idx] = count_tokens(prefix) - 1
    finish: dict[int, float] = {}
    for step in question.steps:
        emitted = latency.token_after(planner_prompt_tokens, line_end_token[step.idx])
        start = max([emitted, *(finish[d] for d in step.dependencies)])
        finish[step.idx] = start + step.latency_s * time_scale
    plan_end = latency.token_after(planner_prompt_tokens, count_tokens(plan) - 1)
    joiner = latency.token_after(joiner_prompt_tokens, max(joiner_output_tokens - 1, 0))
    return max(plan_end, *finish.values()) + joiner


async def run_llmcompiler(
    question: Question,
    latency: LatencyProfile,
    time_scale: float,
    *,
    eager: bool,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> RunResult:
    """Run LLMCompiler on one question; also compute its critical-path limit.

    With a `checkpointer`, the run saves checkpoints on a fresh thread (and `eager=True`
    then takes the durable eager path).
    """
    plan = plan_text(question)
    model = ReplayChatModel(completions=[plan, joiner_text(question)], latency=latency)
    tools = _Tools(question, time_scale)
    graph = create_llmcompiler(model, tools.tools, eager=eager, plan_format="text").compile(
        checkpointer=checkpointer
    )
    thread: RunnableConfig = {"configurable": {"thread_id": uuid.uuid4().hex}}
    parsed_at: dict[int, float] = {}
    delays: list[float] = []
    answer = ""
    started = time.perf_counter()
    stream = graph.astream({"messages": [("user", question.text)]}, thread, stream_mode=["custom", "values"])
    async for mode, item in stream:
        payload: Any = item
        if mode == "custom":
            if payload["type"] == "task_parsed":
                parsed_at[payload["idx"]] = payload["time"]
            elif payload["type"] == "task_started" and not _step(question, payload["idx"]).dependencies:
                delays.append(payload["time"] - parsed_at[payload["idx"]])
        elif payload["messages"] and payload["messages"][-1].type == "ai":
            answer = str(payload["messages"][-1].content)
    elapsed = time.perf_counter() - started
    planner, joiner = model.records
    return RunResult(
        system=("LLMCompiler" if eager else "LLMCompiler (no eager)")
        + (" + checkpointer" if checkpointer else ""),
        latency_s=elapsed,
        llm_calls=len(model.records),
        input_tokens=sum(r.prompt_tokens for r in model.records),
        output_tokens=sum(r.output_tokens for r in model.records),
        tool_calls=tools.calls,
        answer=answer,
        limit_s=critical_path_limit(
            question,
            plan,
            planner.prompt_tokens,
            joiner.prompt_tokens,
            joiner.output_tokens,
            latency,
            time_scale,
        ),
        first_dispatch_delays_s=delays,
    )


def _step(question: Question, idx: int) -> Step:
    return next(s for s in question.steps if s.idx == idx)


async def _run_agent(
    system: str, question: Question, completions: list[AIMessage], prompt: str, latency: LatencyProfile,
    time_scale: float,
) -> RunResult:  # fmt: skip
    from langchain.agents import create_agent
    from langchain.agents.middleware import ToolErrorMiddleware

    def tool_error(error: Exception, request: Any) -> str:
        return f"Error: {type(error).__name__}: {error}"

    model = ReplayChatModel(completions=list(completions), latency=latency)
    tools = _Tools(question, time_scale)
    agent = create_agent(
        model, tools.tools, system_prompt=prompt, middleware=[ToolErrorMiddleware(tool_error)]
    )
    started = time.perf_counter()
    agent_input: Any = {"messages": [HumanMessage(question.text)]}
    state: Mapping[str, Any] = await agent.ainvoke(agent_input)
    elapsed = time.perf_counter() - started
    return RunResult(
        system=system,
        latency_s=elapsed,
        llm_calls=len(model.records),
        input_tokens=sum(r.prompt_tokens for r in model.records),
        output_tokens=sum(r.output_tokens for r in model.records),
        tool_calls=tools.calls,
        answer=str(state["messages"][-1].content),
    )


async def run_react(question: Question, latency: LatencyProfile, time_scale: float) -> RunResult:
    """Run the ReAct baseline on one question."""
    return await _run_agent(
        "ReAct", question, react_completions(question), REACT_SYSTEM_PROMPT, latency, time_scale
    )


async def run_pfc(question: Question, latency: LatencyProfile, time_scale: float) -> RunResult:
    """Run the parallel-function-calling baseline on one question."""
    return await _run_agent(
        "PFC", question, pfc_completions(question), PFC_SYSTEM_PROMPT, latency, time_scale
    )
