"""One model turn through `create_agent`'s model middleware (`wrap_model_call`, `dynamic_prompt`).

With native plans the planner's and the joiner's calls are model turns like `create_agent`'s,
so its `wrap_model_call` hooks wrap each of them: a hook gets a LangChain `ModelRequest`
(model, system message, messages, tools, state, runtime), may change it, call the handler
once, several times (retries) or not at all (a reply of its own), and returns the response.
The innermost handler binds the request's tools (each typed argument also accepting `"$N"`)
and streams the turn. What the chain returns is the turn: its tool calls are the plan.

Example:
    >>> wrappers: list[ModelWrapper] = []
    >>> len(wrappers)
    0
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from llmcompiler_graph.plan.native import (
    ModelHandler,
    ModelWrapper,
    add_chunk,
    as_message,
    reference_tool_schemas,
)

__all__ = ["ModelTurn", "ModelWrapper", "model_wrapper", "take_turn"]


def model_wrapper(middleware: Any) -> ModelWrapper:
    """The middleware's `awrap_model_call`, or its sync `wrap_model_call` run off the event loop."""
    from langchain.agents.middleware import AgentMiddleware

    if type(middleware).awrap_model_call is not AgentMiddleware.awrap_model_call:
        wrapped: ModelWrapper = middleware.awrap_model_call
        return wrapped
    wrap = middleware.wrap_model_call

    async def wrapper(request: Any, handler: ModelHandler) -> Any:
        loop = asyncio.get_running_loop()

        def call(req: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(handler(req), loop).result()

        return await asyncio.to_thread(wrap, request, call)

    return wrapper


@dataclass(frozen=True)
class ModelTurn:
    """What one model turn is asked with (the request `wrap_model_call` hooks see)."""

    model: Any
    system_prompt: str
    messages: Sequence[AnyMessage]
    tools: Sequence[BaseTool]
    state: Any
    config: RunnableConfig


async def _stream(request: Any, config: RunnableConfig, on_chunk: Callable[[Any], None]) -> Any:
    """The innermost handler: bind the request's tools, stream the turn, return the response."""
    from langchain.agents.middleware.types import ModelResponse

    tools = list(request.tools or [])
    schemas = [*reference_tool_schemas([t for t in tools if isinstance(t, BaseTool)])]
    schemas += [t for t in tools if isinstance(t, dict)]
    model = request.model.bind_tools(schemas) if schemas else request.model
    prompt = [request.system_message, *request.messages] if request.system_message else list(request.messages)
    turn: AIMessageChunk | None = None
    async for chunk in model.astream(prompt, config):
        turn = add_chunk(turn, chunk)
        on_chunk(chunk)
    message = as_message(turn) or AIMessage("")
    return ModelResponse(result=[message])


def _final_message(result: Any) -> AIMessage:
    """The turn a hook chain returned: the last AI message of its response."""
    response = getattr(result, "model_response", result)  # an ExtendedModelResponse
    if isinstance(response, AIMessage):
        return response
    messages = getattr(response, "result", None) or []
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), AIMessage(""))


async def take_turn(
    turn: ModelTurn, wrappers: Sequence[ModelWrapper], on_chunk: Callable[[Any], None]
) -> AIMessage:
    """Ask the model for one turn through the hooks, outermost first; the turn they return."""
    from langchain.agents.middleware.types import ModelRequest
    from langgraph.runtime import get_runtime

    try:
        runtime = get_runtime()
    except RuntimeError:
        runtime = None
    request = ModelRequest(
        model=turn.model,
        messages=list(turn.messages),
        system_message=SystemMessage(turn.system_prompt) if turn.system_prompt else None,
        tools=list(turn.tools),
        state=turn.state,
        runtime=runtime,
    )

    async def innermost(req: Any) -> Any:
        return await _stream(req, turn.config, on_chunk)

    handler: ModelHandler = innermost
    for wrapper in reversed(wrappers):
        handler = _bound(wrapper, handler)
    return _final_message(await handler(request))


def _bound(wrapper: ModelWrapper, inner: ModelHandler) -> ModelHandler:
    async def run(request: Any) -> Any:
        return await wrapper(request, inner)

    return run
