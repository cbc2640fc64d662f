"""Shared test harness: scripted models, recording tools, and event collection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.tools import StructuredTool

from llmcompiler_graph import create_llmcompiler
from llmcompiler_graph.testing import ScriptedChatModel

FINISH = "Thought: I have what I need.\nAction: Finish({answer})"


@dataclass
class Call:
    tool: str
    args: dict[str, Any]
    started: float
    ended: float | None = None


@dataclass
class ToolLog:
    """Records every tool call with its arguments and start/end times."""

    calls: list[Call] = field(default_factory=list)
    running: int = 0
    max_running: int = 0

    def names(self) -> list[str]:
        return [c.tool for c in self.calls]

    def args_of(self, tool: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.tool == tool]

    def search_tool(
        self,
        name: str = "search",
        latency: float | Callable[[str], float] = 0.0,
        answer: Callable[[str], Any] = lambda q: f"result for {q}",
    ) -> StructuredTool:
        """An async tool with one `query: str` parameter."""

        async def run(query: str) -> Any:
            call = Call(name, {"query": query}, time.time())
            self.calls.append(call)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            try:
                await asyncio.sleep(latency(query) if callable(latency) else latency)
                return answer(query)
            finally:
                self.running -= 1
                call.ended = time.time()

        return StructuredTool.from_function(
            coroutine=run, name=name, description=f"{name} looks up a query and returns text."
        )

    def math_tool(self, name: str = "math", latency: float = 0.0) -> StructuredTool:
        """An async tool `math(problem: str, context: list[str] | None = None)`."""

        async def run(problem: str, context: list[Any] | None = None) -> str:
            call = Call(name, {"problem": problem, "context": context}, time.time())
            self.calls.append(call)
            await asyncio.sleep(latency)
            call.ended = time.time()
            return f"solved {problem!r} with {context!r}"

        return StructuredTool.from_function(
            coroutine=run, name=name, description="Solve a math problem; context holds earlier results."
        )


@pytest.fixture
def log() -> ToolLog:
    return ToolLog()


def scripted(*responses: Any, token_delay: float = 0.0) -> ScriptedChatModel:
    return ScriptedChatModel(responses=list(responses), token_delay=token_delay)


def build(model: ScriptedChatModel, tools: list[Any], **kwargs: Any) -> Any:
    return create_llmcompiler(model, tools, **kwargs).compile()


def question(text: str = "What is the answer?") -> dict[str, Any]:
    return {"messages": [("user", text)]}


def last_text(model: ScriptedChatModel, call: int) -> str:
    """Everything the model was sent on call number `call`, as one string."""
    return "\n".join(str(m.content) for m in model.prompts[call])


def hanging_tool(name: str = "hang") -> tuple[StructuredTool, asyncio.Event]:
    """A tool that never returns, and the event it sets when it is cancelled."""
    cancelled = asyncio.Event()

    async def hang(topic: str) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return topic

    return StructuredTool.from_function(coroutine=hang, name=name, description="Never returns."), cancelled
