"""One task's tool call, run the way LangChain runs it: through LangGraph's `ToolNode`.

`ToolNode` injects `InjectedState`, `InjectedStore`, `ToolRuntime` and `InjectedToolCallId`
arguments, honours `Command` results, `return_direct`, `content_and_artifact` and a tool's
own `handle_tool_error`, and runs `wrap_tool_call` middleware. This module builds one for
the graph's tools and turns what it returns into a task outcome. Every failure becomes an
observation: `<tool> raised <Type>: <message>`, or `invalid arguments for <tool>: ...`.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langchain_core.messages.tool import ToolOutputMixin
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest, ToolInvocationError
from langgraph.types import Command

from llmcompiler_graph.plan.tool_schemas import visible_parameters

__all__ = [
    "ToolOutcome",
    "ToolWrapper",
    "call_tool",
    "injected_parameters",
    "make_tool_node",
]

ToolExecute = Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]
ToolWrapper = Callable[[ToolCallRequest, ToolExecute], Awaitable[ToolMessage | Command[Any]]]
"""An async `wrap_tool_call` hook: gets the request and the call to run it, returns its message."""


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call produced.

    Attributes:
        status: `"done"` when the tool's message says success, `"error"` otherwise.
        content: The `ToolMessage` content (what a model is shown), or the error text.
        value: What the tool returned, before LangChain turned it into message text (a number
            stays a number); the same as `content` when the tool returned text or message
            content, or when it cannot be known (see :func:`make_tool_node`).
        artifact: The tool's artifact (`response_format="content_and_artifact"`).
        update: State updates from a `Command` the tool returned, other than its messages.
        message: The `ToolMessage` itself.
        handoff: A `Command(graph=Command.PARENT, ...)` the tool returned (a handoff to
            another agent), as `{"goto": ..., "update": ...}` for the parent graph.
    """

    status: Literal["done", "error"]
    content: Any
    value: Any = None
    artifact: Any = None
    update: dict[str, Any] = field(default_factory=dict)
    message: ToolMessage | None = None
    handoff: dict[str, Any] | None = None


def injected_parameters(tool: BaseTool) -> set[str]:
    """Parameters `ToolNode` fills in (state, store, runtime, call id): hidden from the planner.

    Example:
        >>> from typing import Annotated
        >>> from langchain_core.tools import InjectedToolCallId, tool
        >>> @tool
        ... def save(text: str, call_id: Annotated[str, InjectedToolCallId]) -> str:
        ...     '''Save text.'''
        ...     return text
        >>> injected_parameters(save)
        {'call_id'}
    """
    fields = getattr(tool.get_input_schema(), "model_fields", None) or {}
    return set(fields) - set(visible_parameters(tool))


def describe_failure(tool_name: str, error: BaseException) -> str:
    """The observation for a tool call that raised.

    Example:
        >>> describe_failure("search", ValueError("no data"))
        'search raised ValueError: no data'
    """
    if isinstance(error, ToolInvocationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in error.source.errors()
        )
        return f"invalid arguments for {tool_name}: {problems}"
    return f"{tool_name} raised {type(error).__name__}: {error}"


def _observing_failures(wrappers: Sequence[ToolWrapper]) -> ToolWrapper:
    """The outermost wrapper: runs the user's wrappers, turns any failure into an error message."""

    async def wrapper(request: ToolCallRequest, execute: ToolExecute) -> ToolMessage | Command[Any]:
        call = request.tool_call
        run = execute
        for inner in reversed(wrappers):
            run = _bound(inner, run)
        try:
            return await run(request)
        except GraphBubbleUp:  # interrupt() inside a tool pauses the graph, as under create_agent
            raise
        except Exception as exc:
            return ToolMessage(
                describe_failure(call["name"], exc),
                name=call["name"],
                tool_call_id=call["id"],
                status="error",
            )

    return wrapper


def _bound(wrapper: ToolWrapper, execute: ToolExecute) -> ToolExecute:
    async def run(request: ToolCallRequest) -> ToolMessage | Command[Any]:
        return await wrapper(request, execute)

    return run


# Where a call's tool puts the value it returned (see `_returning_value`): set by `call_tool`
# for the duration of one call, and inherited by the tool's own context (or thread).
_RETURNED: ContextVar[list[Any] | None] = ContextVar("llmcompiler_graph_returned", default=None)


def _keep_returned(value: Any) -> Any:
    box = _RETURNED.get()
    if box is not None and not box:
        box.append(value)
    return value


def _returning_value(tool: BaseTool) -> BaseTool:
    """A copy of a function tool that also reports what its function returned.

    `ToolNode` hands back a `ToolMessage`, whose content is text: a tool that returned the
    integer 3 is seen as `"3"`. The plan's `$1` promises the value itself, so the function
    (`StructuredTool.func` / `.coroutine`, the same signature) puts its return value where
    :func:`call_tool` finds it. Other tools (`BaseTool` subclasses) are used as they are.
    """
    if not isinstance(tool, StructuredTool):
        return tool
    update: dict[str, Any] = {}
    if tool.func is not None:
        func = tool.func

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            return _keep_returned(func(*args, **kwargs))

        update["func"] = call
    if tool.coroutine is not None:
        coroutine = tool.coroutine

        @functools.wraps(coroutine)
        async def acall(*args: Any, **kwargs: Any) -> Any:
            return _keep_returned(await coroutine(*args, **kwargs))

        update["coroutine"] = acall
    return tool.model_copy(update=update)


def _returned_value(tool_returned: list[Any], message: ToolMessage, content_and_artifact: bool) -> Any:
    """What the tool returned, when the message's content is exactly LangChain's text of it."""
    if not tool_returned or message.status == "error" or not isinstance(message.content, str):
        return message.content
    value = tool_returned[0]
    if content_and_artifact and isinstance(value, tuple) and len(value) == 2:
        value = value[0]
    if isinstance(value, str | ToolOutputMixin | Command) or inspect.isawaitable(value):
        return message.content
    try:
        text = json.dumps(value, ensure_ascii=False)
    except Exception:
        text = str(value)
    # A wrapper (wrap_tool_call middleware) that rewrote the content wins over the value.
    return value if text == message.content else message.content


def make_tool_node(tools: Sequence[BaseTool], wrappers: Sequence[ToolWrapper] = ()) -> ToolNode:
    """A `ToolNode` for the graph's tools whose failures become error messages, never exceptions.

    Function tools report the value they returned beside the message text (a number stays a
    number when a later task receives it through `$N`).
    """
    return ToolNode(
        [_returning_value(t) for t in tools],
        handle_tool_errors=False,
        awrap_tool_call=_observing_failures(wrappers),
    )


async def call_tool(
    node: ToolNode,
    tool_name: str,
    args: Mapping[str, Any],
    call_id: str,
    config: RunnableConfig,
    state: Any = None,
) -> ToolOutcome:
    """Run one call through `node`; `state` is what `InjectedState` / `ToolRuntime.state` see.

    As under create_agent, the state's last message is the `AIMessage` that makes the call.
    With `state=None`, `ToolNode` reads the graph's state itself.
    """
    call = ToolCall(name=tool_name, args=dict(args), id=call_id, type="tool_call")
    if state is not None and isinstance(state, Mapping):
        calling = AIMessage("", tool_calls=[call])
        state = {**state, "messages": [*(state.get("messages") or []), calling]}
    payload: Any = (
        [call] if state is None else {"__type": "tool_call_with_context", "tool_call": call, "state": state}
    )
    returned: list[Any] = []
    token = _RETURNED.set(returned)
    try:
        output = await node.ainvoke(payload, config)
    finally:
        _RETURNED.reset(token)
    tool = node.tools_by_name.get(tool_name)
    content_and_artifact = tool is not None and tool.response_format == "content_and_artifact"
    return read_tool_output(output, call_id, returned, content_and_artifact)


def read_tool_output(
    output: Any, call_id: str, tool_returned: Sequence[Any] = (), content_and_artifact: bool = False
) -> ToolOutcome:
    """Turn what `ToolNode` returned (messages, or `Command`s) into one outcome.

    `tool_returned` holds what the tool's function returned, when it was seen.
    """
    messages: list[Any] = []
    update: dict[str, Any] = {}
    handoff: dict[str, Any] | None = None
    for item in output if isinstance(output, list) else [output]:
        if isinstance(item, Command) and item.graph == Command.PARENT:
            handoff = {"goto": item.goto, "update": item.update}  # for the parent graph, whole
            parent_update = item.update if isinstance(item.update, Mapping) else {}
            messages.extend(m for m in parent_update.get("messages", []) or [] if isinstance(m, ToolMessage))
        elif isinstance(item, Command):
            changes = dict(item.update) if isinstance(item.update, Mapping | list) else {}
            messages.extend(changes.pop("messages", []) or [])
            update.update(changes)
        elif isinstance(item, Mapping):
            messages.extend(item.get("messages", []))
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    message = next((m for m in tool_messages if m.tool_call_id == call_id), None) or next(
        iter(tool_messages), None
    )
    if message is None:
        content = (
            "the tool returned a Command without a ToolMessage"
            if update or handoff is not None
            else "the tool returned nothing"
        )
        ok = bool(update) or handoff is not None
        return ToolOutcome("done" if ok else "error", content, content, update=update, handoff=handoff)
    status: Literal["done", "error"] = "error" if message.status == "error" else "done"
    value = _returned_value(list(tool_returned), message, content_and_artifact)
    return ToolOutcome(status, message.content, value, message.artifact, update, message, handoff)
